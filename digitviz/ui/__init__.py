"""The page's Streamlit layer: the only part of digitviz that imports Streamlit.

Each module draws one part of the page and returns plain values; what it shows comes from the pure layers below
(settings, runs, text, figures). `resources` holds everything shared by a server's sessions.
"""
CHART = dict(width="stretch", theme="streamlit", config={"displaylogo": False})  # every Plotly chart's options
