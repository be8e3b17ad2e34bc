"""Pure figure builders: records and arrays in, Plotly figures (or plain pictures) out. Nothing here trains or
touches Streamlit.

Each figure is written as one plain dict and validated once by `go.Figure(spec)`: ten times cheaper than
building it up with `update_layout` and `add_hline`, which matters when a server redraws charts for a class.
"""
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import get_colorscale, qualitative

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


def mean_images(means, digits=(3, 7)):
    """The lesson's baseline as pictures, [(caption, (28, 28, 3) uint8 RGB)]: for a pair, the two mean images in grey
    and their difference in the weight map's colours; for ten, each digit's mean image.

    Pictures, not a Plotly chart: this is the only chart a first page would show, and a browser then loads and
    starts Plotly's script (1.3 s in Chromium here before the sidebar's Train appeared; more on a phone) and the
    server serialises the figure at every script run."""
    means = np.asarray(means)
    if len(digits) != 2:
        return [(str(d), grey_rgb(m)) for d, m in zip(digits, means)]
    first, second = digits
    diff = means[0] - means[1]
    return [(f"mean {first}", grey_rgb(means[0])), (f"mean {second}", grey_rgb(means[1])),
            (f"mean {first} − mean {second}", diverging_rgb(diff, _symmetric_range(diff)))]


def grey_rgb(image):
    """Values in 0..1 as grey pixels, white ink on black as MNIST's digits are."""
    grey = np.rint(np.clip(np.asarray(image, dtype=np.float64), 0, 1) * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def diverging_rgb(values, limit):
    """Values in -limit..limit in the weight map's colours (DIVERGING, as Plotly interpolates it): white at zero."""
    stops = get_colorscale(DIVERGING)
    at = np.array([p for p, _ in stops])
    rgb = np.array([[int(v) for v in c[4:-1].split(",")] for _, c in stops], dtype=np.float64)
    t = np.clip((np.asarray(values, dtype=np.float64) / limit + 1) / 2, 0, 1)
    return np.rint(np.stack([np.interp(t, at, rgb[:, i]) for i in range(3)], axis=-1)).astype(np.uint8)


def png(rgb, scale=1):
    """An RGB picture as PNG bytes, each pixel a `scale` x `scale` square."""
    big = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    out = io.BytesIO()
    Image.fromarray(big, "RGB").save(out, format="PNG")
    return out.getvalue()


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
