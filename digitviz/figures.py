"""Pure figure builders: records and arrays in, Plotly figures out. Nothing here trains or touches Streamlit.

Each figure is written as one plain dict and validated once by `go.Figure(spec)`: ten times cheaper than
building it up with `update_layout` and `add_hline`, which matters when a server redraws charts for a class.
"""
import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

# ColorBrewer's RdBu is safe for the common forms of colour blindness; blue (positive) means "pushes towards
# the first digit" and red "towards the second", centred on white at zero.
DIVERGING = "RdBu"
FONT = dict(size=16)  # readable from the back of a classroom
TICKS = dict(size=15)  # Streamlit's chart theme shrinks ticks to 12.75 px unless each axis says otherwise
BASELINE_DASH = "dash"
VALID, TRAINING = "#1f77b4", "#ff7f0e"
GAP = 1  # blank pixels between tiled maps


def _axis(title, **kw):
    return dict(title=dict(text=title, font=FONT), tickfont=TICKS, **kw)


def accuracy_range(records, baseline):
    """The accuracy chart's y range (the player draws it): zoom in on where the action is, but always show the
    baseline and 100%."""
    values = [r.valid_acc for r in records] + [r.train_acc for r in records]
    if baseline is not None:  # a baseline of 0 counts too: its dashed line is drawn
        values.append(baseline)
    low = min((v for v in values if np.isfinite(v)), default=0.5)  # a diverged run's NaN says nothing of the range
    return [max(0.0, min(low, 0.9) - 0.02), 1.005]


def _symmetric_range(a):
    """Colour limits symmetric about zero so that white always means 'no effect'."""
    finite = np.abs(a[np.isfinite(a)])
    limit = float(finite.max()) if finite.size else 1.0
    return limit if limit > 0 else 1.0


def _image(traces, title, **layout):
    """Square pixels, row 0 at the top, no ticks: an image, not a chart."""
    bare = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    return go.Figure(dict(data=traces, layout=dict(
        title=dict(text=title), font=FONT, margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(constrain="domain", **bare), yaxis=dict(autorange="reversed", scaleanchor="x", **bare), **layout)))


def _labels(names, columns):
    """A small label in the top-left corner of each tiled map."""
    return [dict(x=c * (28 + GAP) + 1, y=r * (28 + GAP) + 1, text=f"<b>{name}</b>", showarrow=False,
                 xanchor="left", yanchor="top", font=dict(size=14, color="black"), bgcolor="rgba(255,255,255,0.7)")
            for (r, c), name in zip((divmod(i, columns) for i in range(len(names))), names)]


def weight_map_figure(weights, digits=(3, 7), title="Weights", scale_title="weight", ends=None):
    """A (28, 28) weight map, or (k, 28, 28) maps tiled in a grid (hidden units, or one per digit for ten).
    `ends` names the colour bar's two ends; by default, towards which digit a positive or negative weight pushes."""
    weights = np.asarray(weights)
    columns = 5 if len(digits) == 10 else None
    image = tile(weights, columns) if weights.ndim == 3 else weights
    limit = _symmetric_range(image)
    ends = ends or (("against", "for") if len(digits) == 10 else (f"→ {digits[1]}", f"→ {digits[0]}"))
    heat = dict(type="heatmap", z=image, colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit,
                colorbar=dict(title=dict(text=scale_title), tickvals=[-limit, 0, limit],
                              ticktext=[ends[0], "0", ends[1]]),
                hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>")
    layout = {}
    if weights.ndim == 3 and len(digits) == len(weights):  # one map per digit: name each
        layout["annotations"] = _labels([str(d) for d in digits], columns)
    if image.shape[0] < image.shape[1] * 0.6:  # a wide grid of maps: no tall blank margins around it
        layout["height"] = int(160 + 560 * image.shape[0] / image.shape[1])
    return _image([heat], title, **layout)


def tile(maps, columns=None):
    """(h, 28, 28) maps -> one image, in a grid with NaN gaps (drawn blank) between them."""
    h = len(maps)
    columns = columns or int(np.ceil(np.sqrt(h * 1.5)))
    rows = int(np.ceil(h / columns))
    step = 28 + GAP
    out = np.full((rows * step - GAP, columns * step - GAP), np.nan, dtype=np.float32)
    for i, m in enumerate(maps):
        r, c = divmod(i, columns)
        out[r * step:r * step + 28, c * step:c * step + 28] = m
    return out


def _grey(z, hovertemplate="%{z:.2f}<extra></extra>", **kw):
    return dict(type="heatmap", z=z, colorscale="gray", zmin=0, zmax=1, showscale=False, hovertemplate=hovertemplate,
                **kw)


def mean_images_figure(means, digits=(3, 7)):
    """For a pair, the two mean images in grey and their difference in the weight map's colours; for ten, all ten."""
    means = np.asarray(means)
    if len(digits) != 2:
        return _image([_grey(tile(means, 5))], "", annotations=_labels([str(d) for d in digits], 5), height=320)
    first, second = digits
    diff = means[0] - means[1]
    limit = _symmetric_range(diff)
    bare = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    titles = (f"mean {first}", f"mean {second}", f"mean {first} − mean {second}")
    layout = dict(font=FONT, margin=dict(l=10, r=10, t=40, b=10), height=260, annotations=[
        dict(text=t, x=(i + 0.5) / 3, y=1, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
             showarrow=False, font=FONT) for i, t in enumerate(titles)])
    for i in range(3):  # three square panels side by side
        n = "" if i == 0 else str(i + 1)
        layout[f"xaxis{n}"] = dict(domain=[i / 3 + 0.01, (i + 1) / 3 - 0.01], constrain="domain", **bare)
        layout[f"yaxis{n}"] = dict(autorange="reversed", scaleanchor=f"x{n}", **bare)
    traces = [_grey(means[0]), _grey(means[1], xaxis="x2", yaxis="y2"),
              dict(type="heatmap", z=diff, colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit, showscale=False,
                   hovertemplate="%{z:.2f}<extra></extra>", xaxis="x3", yaxis="y3")]
    return go.Figure(dict(data=traces, layout=layout))


def digit_figure(image, title="What the model sees"):
    """A (28, 28) image in 0..1, white ink on black as MNIST's digits are."""
    return _image([_grey(np.asarray(image), hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>")], title)


def compare_figure(runs):
    """Overlay runs' validation accuracy (top) and loss (bottom); `runs` maps a label to its records."""
    traces = []
    for i, (label, records) in enumerate(runs.items()):
        color = qualitative.Safe[i % len(qualitative.Safe)]  # a colour-blind-safe qualitative palette
        for axis, field in (("", "valid_acc"), ("2", "valid_loss")):
            traces.append(dict(type="scatter", x=[r.epoch for r in records], y=[getattr(r, field) for r in records],
                               name=label, legendgroup=label, showlegend=not axis, mode="lines",
                               line=dict(color=color), hovertemplate="%{y:.4f}", xaxis=f"x{axis}", yaxis=f"y{axis}"))
    return go.Figure(dict(data=traces, layout=dict(
        font=FONT, height=560, hovermode="x unified", margin=dict(l=60, r=20, t=40, b=50),
        legend=dict(orientation="h", y=-0.15, font=TICKS),
        xaxis=dict(anchor="y", matches="x2", showticklabels=False, tickfont=TICKS),
        xaxis2=_axis("epoch", anchor="y2"),
        yaxis=_axis("validation accuracy", domain=[0.54, 1], tickformat=".0%"),
        yaxis2=_axis("validation loss", domain=[0, 0.46]))))


def confusion_figure(matrix, digits):
    """Counts of validation images by true digit (rows) and the model's answer (columns)."""
    labels, counts = [str(d) for d in digits], np.asarray(matrix).tolist()
    heat = dict(type="heatmap", z=counts, x=labels, y=labels, colorscale="Blues", showscale=False, text=counts,
                texttemplate="%{text}", textfont=TICKS, hovertemplate="true %{y}, said %{x}: %{z}<extra></extra>")
    return go.Figure(dict(data=[heat], layout=dict(  # cells tall enough for their counts to read on a projector
        font=FONT, margin=dict(l=60, r=20, t=60, b=20), height=220 + 45 * len(digits),
        xaxis=_axis("the model said", side="top", type="category"),
        yaxis=_axis("true digit", autorange="reversed", type="category"))))


def probabilities_figure(probabilities):
    """The model's probability for each digit, as bars."""
    bars = dict(type="bar", x=[str(d) for d in probabilities], y=list(probabilities.values()), marker_color="#1f5fbf",
                hovertemplate="%{x}: %{y:.1%}<extra></extra>")
    return go.Figure(dict(data=[bars], layout=dict(
        title=dict(text="The model's probabilities"), font=FONT, margin=dict(l=60, r=20, t=50, b=50),
        xaxis=_axis("digit", type="category"), yaxis=_axis("probability", tickformat=".0%", range=[0, 1]))))
