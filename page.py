"""digitviz: watch a linear model learn to tell 3s from 7s, live. The script Streamlit runs for every page view;
`streamlit run streamlit_app.py` serves it, and `digitviz/ui/page.py` is the page itself, as a table of contents.

Nothing is imported unless Streamlit runs it: while a page runs, this file is the server's __main__, and
multiprocessing's training workers import the parent's __main__ again when they start. With the page's imports
here, each worker loaded Streamlit, pandas and the page (about a second, and 100 MB) for nothing.
"""
if __name__ == "__main__":
    from digitviz.ui.page import main

    main()
