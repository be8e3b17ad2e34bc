"""digitviz's server: `streamlit run streamlit_app.py` serves the page (page.py) to a class.

What a class needs is made when the server starts, not at a student's first click: the training workers start
(their fork server imports torch and loads the carpool kernel once: seconds of work) and the page's imports, data
and pictures are made, in a thread, while the server already answers. Before, the first student to press Train
waited 3.8-4.4 s for workers still importing torch (benchmarks/bench_browser.py, "its first Train, at once").

Keep this file's imports light: the page loads in that thread, so the server answers within a second. The page
itself does not load torch (the workers train); where it does (a server without workers, the Inside SGD panel),
torch computes on the thread that asks, one thread each: every script run is a thread of its own, and idle OpenMP
workers spin (measured: an epoch took 5.5 ms on one thread here, 15 ms on two).
"""
import contextlib
import os
import threading

import streamlit as st

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before anything imports torch: the fork server and workers too


@contextlib.asynccontextmanager
async def ready_for_a_class(app):
    """Streamlit's runtime is up (secrets read) when this runs; the server serves while the thread works. When the
    server stops (SIGTERM from docker stop or systemd, Ctrl-C), the workers end here: uvicorn then raises the
    signal again with its default action, which ends the process at once, so that no exit hook would run."""
    threading.Thread(target=_get_ready, name="digitviz-get-ready", daemon=True).start()
    yield
    from digitviz.workers import close_all
    close_all()


def _get_ready():
    from digitviz.forking import start_fork_server
    start_fork_server()  # first: it imports torch in its own process while this one imports the page, on two cores
    import digitviz.ui.page  # noqa: F401 (Streamlit's widgets, pandas, plotly, SQLAlchemy: the first page waits)
    from digitviz.ui import resources
    resources.get_ready(resources.server_config())


app = st.App("page.py", lifespan=ready_for_a_class)
