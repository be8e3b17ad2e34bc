"""How the training workers start: forked by multiprocessing's fork server, a process that imports what every worker
needs once (digitviz.forkserver_preload: the carpool kernel loaded, the lesson's digits read) and forks each worker
from itself, so that a worker starts in a fraction of a second and shares those pages with it. A spawned worker
imported the server's Streamlit and the kernel again: seconds each, beside a first page load.

Standard library only: a server starts the fork server first (streamlit_app.py), so its preload runs beside the
page's own imports, at the lowest priority (digitviz.forkserver_preload). Never a plain fork of the server: forking
a threaded process can deadlock the child.
"""
import multiprocessing
import multiprocessing.forkserver

PRELOAD = ["digitviz.forkserver_preload"]


def worker_context():
    """The multiprocessing context the training pool starts its workers with."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def start_fork_server():
    """Start the fork server now (it loads the kernel and the digits in its own process), not at the first worker."""
    worker_context()
    multiprocessing.forkserver.ensure_running()
