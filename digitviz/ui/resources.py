"""Everything one server shares between its browser sessions, each built once (st.cache_resource) and read-only."""
import atexit
import gc
import logging
import os
import sys
import threading
import time

import streamlit as st
from streamlit.runtime import Runtime

from digitviz import load_digits, pixel_similarity, train
from digitviz.board import Board
from digitviz.figures import mean_images_figure
from digitviz.rounds import Rounds
from digitviz.server_config import ServerConfig
from digitviz.settings import DEFAULTS, config_of
from digitviz.trajectories import TrajectoryCache, data_key

# `runner.postScriptGC` is off: a full collection after every script run walked millions of objects (torch, plotly)
# and cost 0.15-0.2 s of the server's CPU per page load and per Train. Closed sessions leave reference cycles all
# the same, so collect them here: start-up's objects frozen out of every collection, the rest every few seconds.
COLLECT_SECONDS = 10
_collector_lock = threading.Lock()
_collector = None


def collect_garbage_regularly(seconds=COLLECT_SECONDS):
    """Once per server process: freeze what start-up made (modules, the digits: never garbage), then run a full
    collection, of what sessions made since only, every `seconds` in a daemon thread."""
    global _collector
    with _collector_lock:
        if _collector is None:
            gc.freeze()
            _collector = threading.Thread(target=_collect_every, args=(seconds,), daemon=True, name="digitviz-gc")
            _collector.start()


def _collect_every(seconds):
    while True:
        time.sleep(seconds)
        gc.collect()


# Streamlit's script threads are daemons, and at exit the interpreter ends a daemon thread with pthread_exit the
# moment it next takes the GIL. One that is inside torch then (the page trains its default model in the server:
# 6 s for all ten digits) unwinds through a C++ destructor that must not throw: std::terminate, "terminate called
# without an active exception", exit code -6. Streamlit has asked every script to stop by then, and each stops at
# its next Streamlit call; this is how long they get before the interpreter tears down.
EXIT_WAIT_SECONDS = 3.0
_exit_hook = []


def let_scripts_end_at_exit(seconds=EXIT_WAIT_SECONDS):
    """Once per server process: at exit, wait up to `seconds` for the script threads to end (see above)."""
    with _collector_lock:
        if not _exit_hook:
            _exit_hook.append(atexit.register(_let_scripts_end, seconds))


def _script_threads():
    return [t for t in threading.enumerate() if t.daemon and t.name.startswith("ScriptRunner")]


def _let_scripts_end(seconds):
    """Join the script threads; if one is still computing after `seconds`, leave without the interpreter's
    teardown (everything else has closed by now: the workers, the sockets), which would abort."""
    deadline = time.monotonic() + seconds
    for thread in _script_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    busy = _script_threads()
    if busy and Runtime.exists() and type(Runtime.instance()) is Runtime:  # a real server, not AppTest's mock
        logging.getLogger(__name__).warning("%d script threads still computing after %g s: exiting without "
                                            "the interpreter's teardown", len(busy), seconds)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def log_to_server_log():
    """Once per server process: digitviz's own INFO lines (the training pool's carpools, at its close) go to the
    server's output beside Streamlit's; without a handler Python drops everything below a warning."""
    logger = logging.getLogger("digitviz")
    with _collector_lock:
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)


def server_config():
    """The server's settings from `.streamlit/secrets.toml` (none at all is fine) and the environment."""
    try:
        secrets = st.secrets.to_dict()
    except FileNotFoundError:
        secrets = {}
    return ServerConfig.read(secrets)


@st.cache_resource(show_spinner="Loading the digits…")
def lesson_data(digits):
    """Data and baseline for some digits, loaded once per server and shared read-only by every session."""
    data = load_digits(digits)
    return data, pixel_similarity(data)


@st.cache_resource
def baseline_figure(digits):
    """Built once per server: the same for everyone, and Streamlit only reads it (it serialises a copy)."""
    return mean_images_figure(lesson_data(digits)[1].means, digits)


@st.cache_resource
def trajectories(max_bytes):
    """Runs already computed (or being computed), by config and data, shared by every session on this server."""
    return TrajectoryCache(max_bytes)


@st.cache_resource
def lesson_data_key(digits):
    """The fingerprint of lesson_data(digits)'s tensors, computed once."""
    return data_key(lesson_data(digits)[0])


@st.cache_resource
def training_slots(count):
    """How many in-thread runs may train at once (a server without worker processes), shared by every session.
    The worker pool (digitviz.workers.shared_pool) takes its own turns, and no Streamlit cache holds it: any
    browser can ask Streamlit to clear the caches."""
    return threading.BoundedSemaphore(count)


@st.cache_resource
def class_board(url):
    """One board per server process: it holds the posting rate limit, and its database is shared."""
    return Board(url)


@st.cache_resource
def class_rounds(url):
    """One per server process, on the board's database: it holds the voting rate limits."""
    return Rounds(class_board(url))


@st.cache_resource(show_spinner="Training a default model…")
def default_model(digits):
    """The lesson's settings (ten digits: shuffled, 5 epochs), so that classifying works before anyone trains."""
    values = {**DEFAULTS, **({"digits": "all", "shuffle": True, "epochs": 5} if len(digits) > 2 else {})}
    *_, last = train(config_of(values), lesson_data(digits)[0])
    return last
