"""Everything one server shares between its browser sessions, each built once (st.cache_resource) and read-only.

Nothing here loads torch: the lesson's digits and baseline are NumPy's, the Inside SGD panel's mechanics too, and
runs (the default model's too) train in the worker processes, which load no torch for them either. A page opens
sooner, and the page server's memory holds no torch; only a server without workers, which trains in its own
threads, imports it when it first trains."""
import atexit
import base64
import gc
import logging
import os
import sys
import threading
import time
from html import escape

import streamlit as st
from streamlit.runtime import Runtime

from digitviz.baselines import pixel_similarity
from digitviz.board import Board
from digitviz.data import digit_arrays
from digitviz.figures import mean_images, png
from digitviz.rounds import Rounds
from digitviz.server_config import ServerConfig
from digitviz.settings import DEFAULTS, config_of, digits_of
from digitviz.training import Trainer
from digitviz.trajectories import TrajectoryCache, data_key
from digitviz.workers import Waiting, shared_pool

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
# moment it next takes the GIL. One that is inside torch then (a server without workers trains in its script
# threads; the Inside SGD panel computes there) unwinds through a C++ destructor that must not throw: std::terminate,
# "terminate called without an active exception", exit code -6. Streamlit has asked every script to stop by then,
# and each stops at its next Streamlit call; this is how long they get before the interpreter tears down.
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


# Streamlit reads its config option `global.minCachedMessageSize` for every message a page sends, and
# `config.get_option` takes a process-wide lock for each read. With a class's script runs side by side that lock is
# contended all the time: py-spy (`--gil`) found 20% of the server's busy samples in get_option while 100 students
# trained. The lock only guards a reparse of the config files (a changed config.toml), which swaps in a new dict;
# reading the current dict without it is what Streamlit's own get_config_options does. Measured side by side, six
# rounds of `bench_load --realistic --students 100` (README, Speed): page load p95 3.9-5.8 -> 2.8-4.5 s; server CPU
# per page load 0.041-0.054 -> 0.028-0.041 s; a student's first player update, median, 6.8-9.4 -> 3.3-6.3 s.
# (p95 click to fully drawn stayed where the workers' CPU puts it.)
def read_config_without_lock():
    """Once per server process: Streamlit's config.get_option reads the parsed options without its lock; before
    the first parse, and for a key it does not know (its error), Streamlit's own get_option answers."""
    from streamlit import config

    with _collector_lock:
        if getattr(config.get_option, "without_lock", False):
            return
        locked = config.get_option

        def get_option(key):
            options = config._config_options
            if not options or key not in options:
                return locked(key)
            return options[key].value

        get_option.without_lock = True
        config.get_option = get_option


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


def get_ready(server):
    """At server start (streamlit_app.py), before any student: start the training workers, then make what the
    first page shares (the lesson's digits, the baseline's pictures) and the default model (trained by the workers
    once they are up), so that neither the first page nor the first Train waits for them. Logs how long it took; a
    failure is logged and left to the first page that needs the same thing, which says what went wrong in its own
    words."""
    began, me = time.perf_counter(), threading.current_thread().name
    log_to_server_log()
    read_config_without_lock()
    log = logging.getLogger("digitviz.server")
    # The caches' spinners look for a page to spin on and warn that this thread has none: true, and expected.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: record.threadName != me)
    try:
        shared_pool(server.processes)
        digits = digits_of(DEFAULTS)
        baseline_html(digits)
        lesson_data_key(digits)
        default_model(digits)
    except Exception:  # noqa: BLE001 (the server serves on; each page meets the problem itself)
        log.exception("getting ready for a class")
        return
    log.info("ready for a class in %.1f s: %d training workers up, the lesson's data, pictures and default model made",
             time.perf_counter() - began, server.processes)


def server_config():
    """The server's settings from `.streamlit/secrets.toml` (none at all is fine) and the environment."""
    try:
        secrets = st.secrets.to_dict()
    except FileNotFoundError:
        secrets = {}
    return ServerConfig.read(secrets)


@st.cache_resource(show_spinner="Loading the digits…")
def lesson_data(digits):
    """Data (NumPy arrays: digitviz.data.digit_arrays) and baseline for some digits, loaded once per server and
    shared read-only by every session."""
    data = digit_arrays(digits)
    return data, pixel_similarity(data)


@st.cache_resource
def baseline_html(digits):
    """The lesson's mean images, made once per server, as a row of 28x28 PNGs (about 1 kB each) with captions; the
    page's CSS (assets/page.css, .dv-baseline) scales them to the column with square pixels, on any screen."""
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png(rgb)).decode()}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
        for caption, rgb in mean_images(lesson_data(digits)[1].means, digits))
    return f'<div class="dv-baseline">{figures}</div>'


def trainer(server):
    """This server's one way in to training (digitviz.training): its workers (or its in-thread slots) and its run
    cache. Cheap to build at each call; the worker pool is not a Streamlit cache's to hold (see training_slots)."""
    return Trainer(shared_pool(server.processes), training_slots(server.slots), trajectories(server.cache_bytes),
                   lesson=lambda digits: (lesson_data(digits)[0], lesson_data_key(digits)))


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
    """The lesson's settings (ten digits: shuffled, 5 epochs), so that classifying works before anyone trains. It
    trains as any run does, in the workers and through the run cache: for the lesson's pair it is the run a first
    Train on the page's defaults asks for, which then finds it made. Raises TrainingError if the server cannot."""
    values = {**DEFAULTS, **({"digits": "all", "shuffle": True, "epochs": 5} if len(digits) > 2 else {})}
    *_, last = (item for item in trainer(server_config()).fresh(config_of(values), digits)
                if not isinstance(item, Waiting))
    return last
