"""A class round's reveal, as pure figures: the votes against the right answer, and the class's sketched curves
behind the run's true one. Plain values in (counts, points, records), Plotly figures out, like figures.py."""
import html
import textwrap

import numpy as np
import plotly.graph_objects as go

from digitviz.figures import FONT, TICKS, VALID, _axis

RIGHT, WRONG, FIRST = "#2ca02c", "#9aa5b1", "#c7d0d9"  # green marks the right answer, greys the rest
SKETCH, OWN = "rgba(128, 150, 180, 0.5)", "#d62728"  # the class's guesses faint (on light and dark alike), yours red


def _wrapped(option, width=28):
    """An option as a bar's label: wrapped, and escaped, since Plotly reads tags (<b>, <a>) in its text."""
    return "<br>".join(html.escape(line) for line in textwrap.wrap(option, width)) or html.escape(option)


def votes_figure(options, answer, first, second=None):
    """The votes for each option (first vote, and the second beside it if there was one), the right one green."""
    labels = [_wrapped(o) + (" ✔" if i == answer else "") for i, o in enumerate(options)]
    final = second if second is not None else first
    colors = [RIGHT if i == answer else WRONG for i in range(len(options))]
    bars = [dict(type="bar", orientation="h", y=labels, x=final, marker=dict(color=colors), text=final,
                 textposition="outside", name="second vote" if second is not None else "votes",
                 hovertemplate="%{x} votes<extra></extra>")]
    if second is not None:
        bars.insert(0, dict(type="bar", orientation="h", y=labels, x=first, marker=dict(color=FIRST), text=first,
                            textposition="outside", name="first vote", hovertemplate="%{x} first votes<extra></extra>"))
    return go.Figure(dict(data=bars, layout=dict(
        font=FONT, barmode="group", height=120 + 70 * len(options), margin=dict(l=10, r=30, t=30, b=40),
        showlegend=second is not None, legend=dict(orientation="h", y=1.02, yanchor="bottom", font=TICKS),
        xaxis=_axis("students", rangemode="tozero", dtick=max(1, max([*first, *(second or []), 1]) // 5)),
        yaxis=dict(autorange="reversed", tickfont=TICKS))))


def predictions_figure(sketches, records, epochs, own=None):
    """The class's sketched validation-accuracy curves, faint, behind the run's true curve; `own` in red.
    A sketch is points (fraction of the epochs, accuracy), each from 0 to 1."""
    traces = []
    if sketches:
        x, y = _curves(sketches, epochs)
        traces.append(dict(type="scatter", x=x, y=y, mode="lines", line=dict(color=SKETCH, width=3),
                           hoverinfo="skip", name="the class's guesses"))
    if own:
        traces.append(dict(type="scatter", x=[x * epochs for x, _ in own], y=[y for _, y in own], mode="lines",
                           line=dict(color=OWN, width=3, dash="dot"), name="your guess", hoverinfo="skip"))
    traces.append(dict(type="scatter", x=[r.epoch for r in records], y=[r.valid_acc for r in records],
                       mode="lines+markers" if len(records) < 3 else "lines", line=dict(color=VALID, width=4),
                       name="what it did", hovertemplate="epoch %{x}: %{y:.1%}<extra></extra>"))
    return go.Figure(dict(data=traces, layout=dict(
        font=FONT, height=380, margin=dict(l=60, r=20, t=30, b=50), hovermode="closest",
        legend=dict(orientation="h", y=-0.25, font=TICKS),
        xaxis=_axis("epoch", range=[0, max(epochs, 1)]), yaxis=_axis("validation accuracy", range=[0, 1.02],
                                                                         tickformat=".0%"))))


def _curves(sketches, epochs):
    """All sketches as one line broken by gaps (NaN): a class of 100 is one trace, not 100. At the reveal every
    page builds this figure at once, and with 100 sketches it took 9 ms a page instead of 138 (under cProfile)."""
    points = [p for s in sketches for p in (*s, (np.nan, np.nan))][:-1]
    x, y = np.array(points, dtype=float).T
    return x * epochs, y
