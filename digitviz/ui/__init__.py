"""The page's Streamlit layer: the only part of digitviz that imports Streamlit.

Each module draws one part of the page and returns plain values; what it shows comes from the pure layers below
(settings, runs, text, figures). `resources` holds everything shared by a server's sessions.
"""
# Every Plotly chart's options. No mode bar: on a phone it stays up for good and covers the chart's title; zooming
# by dragging and resetting by double-clicking still work.
CHART = dict(width="stretch", theme="streamlit", config={"displaylogo": False, "displayModeBar": False})
