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


def predictions_figure(guesses, records, epochs, own=None):
    """The class's sketched validation-accuracy curves, faint, behind the run's true curve; `own` in red.
    guesses: sketch_lines() of the class's sketches, or None. A sketch is points (fraction of the epochs, accuracy),
    each from 0 to 1."""
    traces = []
    if guesses is not None:
        traces.append(dict(type="scatter", x=guesses[0], y=guesses[1], mode="lines", line=dict(color=SKETCH, width=3),
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


def sketch_lines(sketches, epochs):
    """All sketches as one line broken by gaps (NaN), in epochs: a class of 100 is one trace, not 100 (100 traces
    took 138 ms a page to build under cProfile). None if nobody sketched. Single precision: a sketch is a few
    pixels' worth of a small canvas, and at the reveal every page sends it (with 100 sketches the figure is 79 KB,
    not 140)."""
    if not sketches:
        return None
    points = [p for s in sketches for p in (*s, (np.nan, np.nan))][:-1]
    x, y = np.array(points, dtype=np.float32).T
    return x * np.float32(epochs), y
