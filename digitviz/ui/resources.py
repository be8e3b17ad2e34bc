"""Everything one server shares between its browser sessions, each built once (st.cache_resource) and read-only."""
import gc
import threading
import time

import streamlit as st

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
