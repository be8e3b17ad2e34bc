"""Pure figure builders: records and arrays in, Plotly figures out. Nothing here trains or touches Streamlit."""
import numpy as np
import plotly.graph_objects as go

# ColorBrewer's RdBu is safe for the common forms of colour blindness; reversed so that blue (positive)
# means "pushes towards the first digit" and red "towards the second", centred on white at zero.
DIVERGING = "RdBu"
FONT = dict(size=16)  # readable from the back of a classroom
TICKS = dict(size=15)  # Streamlit's chart theme shrinks ticks to 12.75 px unless each axis says otherwise
BASELINE_DASH = "dash"


def _layout(fig, title, xaxis, yaxis, **kw):
    fig.update_layout(title=dict(text=title), font=FONT, margin=dict(l=60, r=20, t=50, b=50),
                      hovermode="x unified", legend=dict(orientation="h", y=-0.2, font=TICKS), **kw)
    fig.update_xaxes(title_text=xaxis, tickfont=TICKS, title_font=FONT)
    fig.update_yaxes(title_text=yaxis, tickfont=TICKS, title_font=FONT)
    return fig


def _epoch_axis(fig, records, epochs):
    """From epoch 1 to the run's target; whole epochs only, even when there are just a few."""
    last = max(epochs or 1, records[-1].epoch if records else 1)
    fig.update_xaxes(range=[0.5, last + 0.5], tick0=1, dtick=1 if last <= 10 else None)


def _curve(records, field, name, color, dash=None):
    return go.Scatter(x=[r.epoch for r in records], y=[getattr(r, field) for r in records], name=name,
                      mode="lines+markers" if len(records) < 40 else "lines",
                      line=dict(color=color, dash=dash), hovertemplate="%{y:.4f}")


def accuracy_figure(records, baseline=None, epochs=None):
    """Validation and training accuracy per epoch, with the mean-image baseline as a dashed line."""
    fig = go.Figure([_curve(records, "valid_acc", "validation accuracy", "#1f77b4"),
                     _curve(records, "train_acc", "training accuracy", "#ff7f0e", dash="dot")])
    if baseline is not None:
        fig.add_hline(y=baseline, line=dict(dash=BASELINE_DASH, color="#7f7f7f", width=2),
                      annotation_text=f"mean-image baseline {baseline:.1%}", annotation_position="bottom right")
    fig.update_yaxes(tickformat=".0%", range=_accuracy_range(records, baseline))
    _epoch_axis(fig, records, epochs)
    return _layout(fig, "Accuracy", "epoch", "accuracy")


def _accuracy_range(records, baseline):
    """Zoom in on where the action is, but always show the baseline and 100%."""
    values = [r.valid_acc for r in records] + [r.train_acc for r in records] + ([baseline] if baseline else [])
    low = min(values, default=0.5)
    return [max(0.0, min(low, 0.9) - 0.02), 1.005]


def loss_figure(records, epochs=None):
    """Training and validation loss per epoch."""
    fig = go.Figure([_curve(records, "valid_loss", "validation loss", "#1f77b4"),
                     _curve(records, "train_loss", "training loss", "#ff7f0e", dash="dot")])
    _epoch_axis(fig, records, epochs)
    return _layout(fig, "Loss", "epoch", "loss")


def _symmetric_range(a):
    """Colour limits symmetric about zero so that white always means 'no effect'."""
    finite = np.abs(a[np.isfinite(a)])
    limit = float(finite.max()) if finite.size else 1.0
    return limit if limit > 0 else 1.0


def weight_map_figure(weights, digits=(3, 7), title="Weights", scale_title="weight"):
    """A (28, 28) weight map, or (k, 28, 28) maps tiled in a grid (hidden units, or one per digit for ten)."""
    weights = np.asarray(weights)
    columns = 5 if len(digits) == 10 else None
    image = tile(weights, columns) if weights.ndim == 3 else weights
    limit = _symmetric_range(image)
    ends = ("against", "for") if len(digits) == 10 else (f"→ {digits[1]}", f"→ {digits[0]}")
    fig = go.Figure(go.Heatmap(
        z=image, colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit,
        colorbar=dict(title=dict(text=scale_title), tickvals=[-limit, 0, limit], ticktext=[ends[0], "0", ends[1]]),
        hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"))
    if weights.ndim == 3 and len(digits) == len(weights):  # one map per digit: name each
        _label_tiles(fig, [str(d) for d in digits], columns)
    _image_layout(fig, title)
    if image.shape[0] < image.shape[1] * 0.6:  # a wide grid of maps: no tall blank margins around it
        fig.update_layout(height=int(160 + 560 * image.shape[0] / image.shape[1]))
    return fig


def _label_tiles(fig, labels, columns, gap=1):
    for i, label in enumerate(labels):
        r, c = divmod(i, columns)
        fig.add_annotation(x=c * (28 + gap) + 1, y=r * (28 + gap) + 1, text=f"<b>{label}</b>", showarrow=False,
                           xanchor="left", yanchor="top", font=dict(size=14, color="black"),
                           bgcolor="rgba(255,255,255,0.7)")


def _image_layout(fig, title):
    """Square pixels, row 0 at the top, no ticks: an image, not a chart."""
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False,
                     ticks="")
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain", ticks="")
    fig.update_layout(title=dict(text=title), font=FONT, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def tile(maps, columns=None, gap=1):
    """(h, 28, 28) maps -> one image, in a grid with NaN gaps (drawn blank) between them."""
    h = len(maps)
    columns = columns or int(np.ceil(np.sqrt(h * 1.5)))
    rows = int(np.ceil(h / columns))
    out = np.full((rows * (28 + gap) - gap, columns * (28 + gap) - gap), np.nan, dtype=np.float32)
    for i, m in enumerate(maps):
        r, c = divmod(i, columns)
        out[r * (28 + gap):r * (28 + gap) + 28, c * (28 + gap):c * (28 + gap) + 28] = m
    return out


def mean_images_figure(means, digits=(3, 7)):
    """For a pair, the two mean images in grey and their difference in the weight map's colours; for ten, all ten."""
    from plotly.subplots import make_subplots
    if len(digits) != 2:
        fig = go.Figure(go.Heatmap(z=tile(np.asarray(means), 5), colorscale="gray", zmin=0, zmax=1, showscale=False,
                                   hovertemplate="%{z:.2f}<extra></extra>"))
        _label_tiles(fig, [str(d) for d in digits], 5)
        return _image_layout(fig, "").update_layout(height=320)
    mean3, mean7 = means
    first, second = digits
    mean3, mean7 = np.asarray(mean3), np.asarray(mean7)
    diff = mean3 - mean7
    limit = _symmetric_range(diff)
    fig = make_subplots(1, 3, subplot_titles=(f"mean {first}", f"mean {second}", f"mean {first} − mean {second}"),
                        horizontal_spacing=0.04)
    for col, img in ((1, mean3), (2, mean7)):
        fig.add_trace(go.Heatmap(z=img, colorscale="gray", zmin=0, zmax=1, showscale=False,
                                 hovertemplate="%{z:.2f}<extra></extra>"), 1, col)
    fig.add_trace(go.Heatmap(z=diff, colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit, showscale=False,
                             hovertemplate="%{z:.2f}<extra></extra>"), 1, 3)
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    for i in (1, 2, 3):
        fig.update_yaxes(scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    fig.update_layout(font=FONT, margin=dict(l=10, r=10, t=40, b=10), height=260)
    return fig


def digit_figure(image, title="What the model sees"):
    """A (28, 28) image in 0..1, white ink on black as MNIST's digits are."""
    fig = go.Figure(go.Heatmap(z=np.asarray(image), colorscale="gray", zmin=0, zmax=1, showscale=False,
                               hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"))
    return _image_layout(fig, title)


def compare_figure(runs):
    """Overlay runs' validation accuracy (top) and loss (bottom); `runs` maps a label to its records."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots
    fig = make_subplots(2, 1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("validation accuracy", "validation loss"))
    for i, (label, records) in enumerate(runs.items()):
        color = qualitative.Safe[i % len(qualitative.Safe)]  # a colour-blind-safe qualitative palette
        for row, field in ((1, "valid_acc"), (2, "valid_loss")):
            fig.add_trace(go.Scatter(x=[r.epoch for r in records], y=[getattr(r, field) for r in records],
                                     name=label, legendgroup=label, showlegend=row == 1, mode="lines",
                                     line=dict(color=color), hovertemplate="%{y:.4f}"), row, 1)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    fig.update_layout(font=FONT, height=560, hovermode="x unified", margin=dict(l=60, r=20, t=40, b=50),
                      legend=dict(orientation="h", y=-0.15))
    return fig


def confusion_figure(matrix, digits):
    """Counts of validation images by true digit (rows) and the model's answer (columns)."""
    labels, counts = [str(d) for d in digits], np.asarray(matrix).tolist()
    fig = go.Figure(go.Heatmap(z=counts, x=labels, y=labels, colorscale="Blues", showscale=False,
                               text=counts, texttemplate="%{text}",
                               hovertemplate="true %{y}, said %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title_text="true digit", type="category")
    fig.update_xaxes(title_text="the model said", side="top", type="category")
    fig.update_layout(font=FONT, margin=dict(l=60, r=20, t=60, b=20), height=220 + 30 * len(digits))
    return fig


def probabilities_figure(probabilities):
    """The model's probability for each digit, as bars."""
    digits = [str(d) for d in probabilities]
    fig = go.Figure(go.Bar(x=digits, y=list(probabilities.values()), marker_color="#1f5fbf",
                           hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    fig.update_xaxes(type="category", title_text="digit")
    fig.update_yaxes(tickformat=".0%", range=[0, 1], title_text="probability")
    fig.update_layout(font=FONT, title=dict(text="The model's probabilities"), margin=dict(l=60, r=20, t=50, b=50))
    return fig
