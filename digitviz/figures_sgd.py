"""Figures for the Inside SGD views: the lesson's mechanics as pure Plotly figures, built like figures.py's."""
import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from digitviz.figures import DIVERGING, FONT, TICKS, _axis, _symmetric_range
from digitviz.mechanics import sigmoid

FIRST, SECOND = "#1f5fbf", "#c0392b"  # the weight map's blue (first digit) and red (second digit)
MARK = "#7f7f7f"
SUGGESTION_COLOURS = dict(zip(("valley", "minimum", "steep", "slide"), qualitative.Safe))


def _figure(traces, title="", height=None, **layout):
    """A chart with the page's fonts and a horizontal legend below."""
    return go.Figure(dict(data=traces, layout=dict(
        title=dict(text=title), font=FONT, margin=dict(l=60, r=20, t=50, b=50), height=height,
        legend=dict(orientation="h", y=-0.25, font=TICKS), **layout)))


def _vline(x, text="", dash="dash", color=MARK, yref="paper"):
    return dict(type="line", xref="x", yref=yref, x0=x, x1=x, y0=0, y1=1, line=dict(dash=dash, color=color, width=2))


def threshold_figure(view, digits, after_sigmoid=False):
    """Histograms of the validation outputs of each digit, the threshold as a line; on sigmoid's 0..1 if asked."""
    first, second = digits
    if after_sigmoid:  # the same outputs through the sigmoid: 0 lands on 0.5, and most pile up at 0 and 1
        edges, f, s, t = np.linspace(0, 1, 41), sigmoid(view.first), sigmoid(view.second), sigmoid(view.threshold)
        f_counts, s_counts = np.histogram(f, edges)[0], np.histogram(s, edges)[0]
        x_title = "sigmoid(output): the probability of a " + str(first)
    else:
        edges, f_counts, s_counts, t = view.edges, view.first_counts, view.second_counts, view.threshold
        x_title = "raw output: xb@weights + bias"
    centres, widths = (edges[1:] + edges[:-1]) / 2, np.diff(edges)
    bars = [dict(type="bar", x=centres, y=counts, width=widths, name=f"validation {d}s", marker_color=c, opacity=0.6,
                 hovertemplate=f"{d}s: %{{y}} around %{{x:.2f}}<extra></extra>")
            for d, counts, c in ((first, f_counts, FIRST), (second, s_counts, SECOND))]
    label = f"threshold {t:.2f}" + (f" (raw {view.threshold:+.2f})" if after_sigmoid else "")
    return _figure(bars, f"Accuracy at this threshold: {view.accuracy:.2%}", barmode="overlay", bargap=0,
                   shapes=[_vline(t)], annotations=[dict(x=t, y=1, xref="x", yref="paper", text=label,
                                                         showarrow=False, yanchor="bottom", font=TICKS)],
                   xaxis=_axis(x_title), yaxis=_axis("validation images"))


def sigmoid_figure(threshold, lo=-10.0, hi=10.0):
    """The sigmoid curve, 0 mapping to 0.5, and where the threshold lands on it."""
    z = np.linspace(min(lo, threshold - 1), max(hi, threshold + 1), 201)
    curve = dict(type="scatter", x=z, y=sigmoid(z), mode="lines", name="sigmoid(x) = 1/(1+exp(-x))",
                 line=dict(color=MARK, width=3), hovertemplate="sigmoid(%{x:.2f}) = %{y:.3f}<extra></extra>")
    zero = dict(type="scatter", x=[0], y=[0.5], mode="markers+text", name="0 → 0.5", text=["0 → 0.5"],
                textposition="middle right", marker=dict(size=12, color=MARK), hoverinfo="skip")
    here = dict(type="scatter", x=[threshold], y=[float(sigmoid(threshold))], mode="markers", name="the threshold",
                marker=dict(size=14, color="#e67e22", symbol="diamond"),
                hovertemplate="threshold %{x:.2f} → %{y:.3f}<extra></extra>")
    return _figure([curve, zero, here], "The sigmoid squashes any output into 0..1", showlegend=False,
                   xaxis=_axis("raw output"), yaxis=_axis("sigmoid", range=[-0.05, 1.05]))


def maps_figure(maps, height=300, grey=()):
    """(28, 28) maps side by side, each in the weight map's colours centred on white at 0, titled by its key;
    those named in `grey` are images, drawn as MNIST draws them."""
    bare = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    traces, k = [], len(maps)
    layout = dict(font=FONT, margin=dict(l=10, r=10, t=60, b=10), height=height, annotations=[])
    for i, (title, image) in enumerate(maps.items()):
        n = "" if i == 0 else str(i + 1)
        limit = _symmetric_range(np.asarray(image))
        colours = dict(colorscale="gray", zmin=0, zmax=1) if title in grey else dict(
            colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit)
        traces.append(dict(type="heatmap", z=np.asarray(image), showscale=False, xaxis=f"x{n}", yaxis=f"y{n}",
                           hovertemplate="row %{y}, col %{x}: %{z:.4g}<extra></extra>", **colours))
        layout[f"xaxis{n}"] = dict(domain=[i / k + 0.01, (i + 1) / k - 0.01], constrain="domain", **bare)
        layout[f"yaxis{n}"] = dict(autorange="reversed", scaleanchor=f"x{n}", **bare)
        label = title if title in grey else f"{title}<br>±{limit:.3g}"
        layout["annotations"].append(dict(text=label, x=(i + 0.5) / k, y=1, xref="paper",
                                          yref="paper", xanchor="center", yanchor="bottom", showarrow=False,
                                          font=TICKS))
    return go.Figure(dict(data=traces, layout=layout))


def pixel_picker_figure(weights, pixel, digits, title="Click a weight to sweep it"):
    """The weight map with every pixel clickable (an invisible marker on each) and the chosen one ringed."""
    weights = np.asarray(weights)
    limit = _symmetric_range(weights)
    rows, cols = np.divmod(np.arange(784), 28)
    heat = dict(type="heatmap", z=weights, colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit, hoverinfo="skip",
                colorbar=dict(tickvals=[-limit, 0, limit], ticktext=[f"→ {digits[1]}", "0", f"→ {digits[0]}"]))
    dots = dict(type="scatter", x=cols, y=rows, mode="markers", marker=dict(size=9, opacity=0), name="pixels",
                customdata=np.arange(784), hovertemplate="row %{y}, col %{x}: click to sweep<extra></extra>")
    ring = dict(type="scatter", x=[pixel % 28], y=[pixel // 28], mode="markers", hoverinfo="skip",
                marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color="#f1c40f", width=3)), name="chosen")
    bare = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    return go.Figure(dict(data=[heat, dots, ring], layout=dict(
        title=dict(text=title), font=FONT, margin=dict(l=10, r=10, t=50, b=10), showlegend=False,
        clickmode="event+select", dragmode=False, xaxis=dict(constrain="domain", range=[-0.5, 27.5], **bare),
        yaxis=dict(autorange="reversed", scaleanchor="x", constrain="domain", **bare))))


def weight_sweep_figure(sweep):
    """Accuracy against the weight (flat, in steps) beside mnist_loss against it (smooth), the slope marked."""
    w, row, col = sweep.current, *divmod(sweep.pixel, 28)
    half = (sweep.values[-1] - sweep.values[0]) / 6
    tangent = [sweep.loss_now + sweep.slope * (v - w) for v in (w - half, w + half)]
    traces = [
        dict(type="scatter", x=sweep.values, y=sweep.accuracy, mode="lines", line=dict(shape="hv", color=FIRST),
             name="accuracy", hovertemplate="w = %{x:.3f}: accuracy %{y:.4%}<extra></extra>"),
        dict(type="scatter", x=sweep.values, y=sweep.loss, mode="lines", line=dict(color=SECOND), name="mnist_loss",
             xaxis="x2", yaxis="y2", hovertemplate="w = %{x:.3f}: loss %{y:.5f}<extra></extra>"),
        dict(type="scatter", x=[w - half, w + half], y=tangent, mode="lines", line=dict(color="#e67e22", dash="dot",
             width=3), name=f"slope {sweep.slope:+.3g}", xaxis="x2", yaxis="y2", hoverinfo="skip"),
        dict(type="scatter", x=[w], y=[sweep.accuracy_now], mode="markers", xaxis="x", yaxis="y",
             marker=dict(size=12, color="#e67e22"), name="now", hoverinfo="skip", showlegend=False),
        dict(type="scatter", x=[w], y=[sweep.loss_now], mode="markers", xaxis="x2", yaxis="y2",
             marker=dict(size=12, color="#e67e22"), hoverinfo="skip", showlegend=False)]
    axis = f"weight of row {row}, col {col}"
    titles = (("accuracy: flat between its steps", 1.0), (f"mnist_loss: slope {sweep.slope:+.3g} here", 0.45))
    return go.Figure(dict(data=traces, layout=dict(  # stacked, sharing the weight's axis, so the two line up
        font=FONT, margin=dict(l=80, r=20, t=40, b=60), height=520, legend=dict(orientation="h", y=-0.15, font=TICKS),
        xaxis=dict(anchor="y", matches="x2", showticklabels=False, tickfont=TICKS), xaxis2=_axis(axis, anchor="y2"),
        yaxis=_axis("training accuracy", tickformat=".2%", domain=[0.55, 1]),
        yaxis2=_axis("mnist_loss", domain=[0, 0.45]),
        shapes=[_vline(w), dict(_vline(w), xref="x2")],
        annotations=[dict(text=t, x=0.5, y=y, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                          showarrow=False, font=TICKS) for t, y in titles])))


def forgotten_zero_figure(curves):
    """Validation accuracy, and the size of the gradient used, batch by batch, with zero_() and without it."""
    steps = list(range(1, len(curves["zeroed"]) + 1))
    styles = {"zeroed": ("with p.grad.zero_()", FIRST, None), "forgotten": ("zero_() forgotten", SECOND, "dot")}
    traces = []
    for key, (name, colour, dash) in styles.items():
        traces.append(dict(type="scatter", x=steps, y=curves[key], name=name, mode="lines", legendgroup=key,
                           line=dict(color=colour, dash=dash), hovertemplate="%{y:.2%}"))
        traces.append(dict(type="scatter", x=steps, y=curves[f"grad_norm_{key}"], name=name, mode="lines",
                           legendgroup=key, showlegend=False, line=dict(color=colour, dash=dash), xaxis="x2",
                           yaxis="y2", hovertemplate="%{y:.3g}"))
    return go.Figure(dict(data=traces, layout=dict(
        font=FONT, margin=dict(l=70, r=20, t=30, b=60), height=480, hovermode="x unified",
        legend=dict(orientation="h", y=-0.15, font=TICKS),
        xaxis=dict(anchor="y", matches="x2", showticklabels=False, tickfont=TICKS), xaxis2=_axis("batch", anchor="y2"),
        yaxis=_axis("validation accuracy", domain=[0.55, 1], tickformat=".0%"),
        yaxis2=_axis("size of p.grad", domain=[0, 0.45], type="log"))))


def _shared_labels(points):
    """name -> (its marker's label, where it goes): suggestions marked at the same point share one label ("minimum,
    slide"), which the first of them carries, instead of printing over each other; from left to right, the labels
    go above and below the curve in turn, since neighbours are often close."""
    at = {}
    for name, (lr, loss) in points.items():
        at.setdefault((round(math.log10(lr), 2), round(loss, 4)), []).append(name)
    left_to_right = sorted(at.values(), key=lambda names: points[names[0]][0])
    where = {names[0]: "top center" if i % 2 == 0 else "bottom center" for i, names in enumerate(left_to_right)}
    return {name: (", ".join(names), where[name]) if name == names[0] else ("", "top center")
            for names in at.values() for name in names}


def lr_find_figure(found):
    """fastai's plot_lr_find: the smoothed loss on a log axis of learning rates, each suggestion marked."""
    skip = 5 if len(found.lrs) > 5 else 0  # plot_lr_find's skip_end=5: the last steps are where it blew up
    lrs, losses = found.lrs[:len(found.lrs) - skip], found.losses[:len(found.losses) - skip]
    traces = [dict(type="scatter", x=lrs, y=losses, mode="lines", name="smoothed loss", line=dict(color=MARK),
                   hovertemplate="lr %{x:.2g}: loss %{y:.4f}<extra></extra>")]
    labels = _shared_labels(found.points)
    for name, (lr, loss) in found.points.items():
        label, where = labels[name]
        traces.append(dict(type="scatter", x=[lr], y=[loss], mode="markers+text", text=[label],
                           name=f"{name} {found.suggestions[name]:.2g}", textposition=where,
                           marker=dict(size=13, color=SUGGESTION_COLOURS[name]),
                           hovertemplate=f"{name}: suggests %{{customdata:.2g}}<extra></extra>",
                           customdata=[found.suggestions[name]]))
    title = f"Learning-rate finder: {len(found.lrs)} steps" + (", stopped early" if found.stopped_early else "")
    return _figure(traces, title, xaxis=_axis("learning rate (log scale)", type="log", exponentformat="power"),
                   yaxis=_axis("smoothed loss"))


def lr_sweep_figure(points):
    """Final validation accuracy against learning rate; `points` are (lr, accuracy or None, run number, diverged)."""
    ok = [p for p in points if p[1] is not None and not p[3]]
    bad = [p for p in points if p[1] is None or p[3]]
    traces = [dict(type="scatter", x=[p[0] for p in ok], y=[p[1] for p in ok], mode="lines+markers+text",
                   text=[f"run {p[2]}" for p in ok], textposition=_alternating(0, len(ok)),
                   name="final validation accuracy",
                   marker=dict(size=12, color=FIRST), customdata=[p[2] for p in ok],
                   hovertemplate="lr %{x}: %{y:.2%} (run %{customdata})<extra></extra>")]
    if bad:
        traces.append(dict(type="scatter", x=[p[0] for p in bad], y=[p[1] if p[1] is not None else 0.5 for p in bad],
                           mode="markers+text", text=[f"run {p[2]}" for p in bad],
                           textposition=_alternating(len(ok), len(points)),
                           name="diverged", marker=dict(size=14, color=SECOND, symbol="x"),
                           customdata=[p[2] for p in bad],
                           hovertemplate="lr %{x}: diverged (run %{customdata})<extra></extra>"))
    low = min([p[1] for p in points if p[1] is not None] + [0.45])
    return _figure(traces, "Final validation accuracy at each learning rate",
                   xaxis=_axis("learning rate (log scale)", type="log", exponentformat="power"),
                   yaxis=_axis("validation accuracy", tickformat=".0%", range=[max(0, low - 0.05), 1.02]))


def _alternating(first, end):
    """Points first..end-1 (in order of rate) labelled above and below by turns: on a phone's narrow chart,
    neighbours' labels then keep apart."""
    return [("top center", "bottom center")[i % 2] for i in range(first, end)]


def suggestion_text(name, lr):
    """One sentence on what fastai's suggestion function looks for."""
    shown = f"{lr:.2g}" if lr is not None and math.isfinite(lr) else "none"
    return {"valley": f"**valley** ({shown}): the middle of the longest stretch where the loss keeps falling; "
                      "fastai's default.",
            "minimum": f"**minimum** ({shown}): a tenth of the rate where the smoothed loss was lowest.",
            "steep": f"**steep** ({shown}): where the loss falls fastest per step of the log scale.",
            "slide": f"**slide** ({shown}): the rate where the slope of the loss stops changing, "
                     "sliding a 15-step window back from the end."}[name]
