"""The live dashboard: status, progress, metrics, the two curves, the weight map and the lesson's baseline."""
import contextlib
import time

import streamlit as st

from digitviz import runs, text
from digitviz.player import run_payload
from digitviz.ui import CHART, resources
from digitviz.ui.player import player_ui

REDRAW_SECONDS = 0.25  # the player gets more records at least 4 times a second while training; it animates between
SLOT_POLL_SECONDS = 1.0  # how soon a waiting run that was stopped, or whose student left, lets go


def current_run(action):
    """This session's run after the click `action`: Reset forgets it; an interrupted one is paused."""
    if action == "reset":
        st.session_state.pop("run", None)
    run = st.session_state.get("run")
    if run is not None:
        run.interrupt()
    return run


def dashboard_ui(digits, baseline):
    """Lay out the page and return the placeholders that training redraws."""
    view = {"status": st.empty(), "note": st.empty(), "player": st.empty()}  # why a run diverged, above its curves
    left, right = st.columns(2)
    view["learned"] = left.toggle("Show only what training changed", key="learned",
                                  help="Weights minus the starting weights. With a large init std the starting "
                                       "noise hides the pattern; this subtracts it and shows what SGD learned.")
    with right:
        st.subheader("The lesson's baseline")
        st.plotly_chart(resources.baseline_figure(digits), key="means", **CHART)
        st.markdown(text.baseline_text(digits, baseline))
    return view


def act(action, run, config, digits, view, server):
    """Carry out Train, Step or Resume, training live into `view`; returns the session's run."""
    if action == "train":
        run = runs.start_run(st.session_state.setdefault("runs", []), config, digits)
        st.session_state.run = run
        st.session_state.pop("preset", None)
        train_live(run, config, view, server)
    elif action in ("step", "resume"):
        if run is None:
            st.info("Press **Train** first: there is no run to continue yet.")
            return run
        try:
            train_live(run, run.more(action, config.lr, config.epochs), view, server)
        except runs.RunError as e:
            st.info(str(e))
    return run


def wait_for_slot(view, server):
    """Take a training slot, saying so while others hold them all. Each wait redraws the note: a Streamlit call
    is where a session that closed its tab (or pressed Stop) gets stopped, so nobody waits for a gone student."""
    slots = resources.training_slots(server.slots)
    while not slots.acquire(timeout=SLOT_POLL_SECONDS):
        view["status"].info("Waiting for a free training slot: other students' runs are training on this server "
                            "right now. Yours starts as soon as it is its turn.", icon=":material/hourglass:")
    return slots


def train_live(run, config, view, server):
    """Train, appending every record to the run and sending the player more at most every REDRAW_SECONDS.
    A fresh run comes through the server's trajectory cache: whoever asked for the same settings first computes
    it, and everyone else reads the same records (Step and Resume continue one student's own run)."""
    data, baseline = resources.lesson_data(run.digits)
    pool = resources.training_pool(server.processes)

    def with_slot(records):
        slots = wait_for_slot(view, server)
        try:
            yield from records()
        finally:
            slots.release()

    if run.last is None:
        key = (config, run.digits, resources.lesson_data_key(run.digits))
        records = resources.trajectories(server.cache_bytes).follow(key, lambda start: with_slot(
            lambda: runs.rest_of(config, run.digits, data, start, pool, chunk_seconds=REDRAW_SECONDS)))
    else:
        records = with_slot(lambda: runs.records(run, config, data, pool, chunk_seconds=REDRAW_SECONDS))
    next_draw, token = 0.0, run.claim()
    with contextlib.closing(records):
        for record in records:
            if not run.add(record, token):  # a newer script run has taken this run over (Stop, Step, ...)
                return
            if time.perf_counter() >= next_draw:
                began = time.perf_counter()
                draw(run, view, baseline)
                # On a busy server drawing slows down too: then draw less often, so that drawing never takes
                # more than a quarter of the time, and training (everyone's) goes on.
                next_draw = time.perf_counter() + max(REDRAW_SECONDS, 3 * (time.perf_counter() - began))
    run.finish()


def show_run(run, view):
    """The run as it stands; the player in the browser replays it."""
    if run is None or not run.records:
        view["status"].info("Set the learning rate and epochs in the sidebar, then press **Train**.")
        return
    draw(run, view, resources.lesson_data(run.digits)[1])


def draw(run, view, baseline):
    """Send the run so far: the status line, the player's records and, for a diverged run, why it stopped."""
    view["status"].markdown(text.status_text(run))
    with view["player"]:
        player_ui(run_payload(run, baseline.l1.overall, learned=view["learned"]))
    if run.last.diverged:
        view["note"].error(text.divergence_advice(run))
