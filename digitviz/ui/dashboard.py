"""The live dashboard: status, the player (metrics, progress, both curves, the weight maps) and the baseline."""
import contextlib
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from digitviz import runs, text
from digitviz.player import run_payload, start_payload
from digitviz.training import CHUNK_SECONDS
from digitviz.ui import fragment, resources
from digitviz.ui.player import player_ui
from digitviz.workers import RunBudgetError, TrainingError, Waiting

REDRAW_SECONDS = CHUNK_SECONDS  # the player gets more records as often as they come; it animates between them


def current_run(action):
    """This session's run after the click `action`: Reset forgets it; an interrupted one is paused."""
    if action == "reset":
        st.session_state.pop("run", None)
    run = st.session_state.get("run")
    if run is not None:  # a click on a button is the student's own doing; a nudged setting needs saying
        run.interrupt("" if action else "a setting changed while it trained, which stops the run; "
                      "**Resume** goes on with the new learning rate")
    return run


def dashboard_ui(digits, baseline, config):
    """Lay out the page and return the placeholders that training redraws."""
    view = {"status": st.empty(), "problem": st.empty(), "note": st.empty(), "player": st.empty()}
    if config.ten_digits and not config.shuffle:
        st.warning(text.UNSHUFFLED_TEN, icon=":material/shuffle:")
    left, right = st.columns(2)
    view["learned"] = left.toggle("Show what training changed beside the weights", value=True, key="learned",
                                  help="The weights start random (init std), and that noise hides what SGD learns: "
                                       "the second map subtracts the starting weights.")
    with right:
        st.subheader("The lesson's baseline")
        st.html(resources.baseline_html(digits))
        st.markdown(text.baseline_text(digits, baseline))
    return view


def act(action, run, config, digits, view, server):
    """Carry out Train, Step or Resume, training live into `view`; returns the session's run."""
    if action == "train":
        run = runs.start_run(st.session_state.setdefault("runs", []), config, digits)
        st.session_state.run = run
        train_live(run, config, view, server)
    elif action in ("step", "resume"):
        if run is None:
            st.info("Press **Train** first: there is no run to continue yet.")
            return run
        if run.restoring and not restore_live(run, view, server):  # where it was first, then one more epoch
            return run
        try:
            train_live(run, run.more(action, config.lr, config.epochs), view, server)
        except runs.RunError as e:
            st.info(str(e))
    return run


def restore_live(run, view, server, show=None):
    """Train a run remembered by the browser again, up to where it was, as Train, Step and Resume trained it: its
    first stretch through the run cache, each later one at the rate it had. True once it is back where it was."""
    while (config := run.replay()) is not None:
        done = run.last.epoch if run.last else 0
        if not train_live(run, config if done else run.config, view, server, until=done + config.epochs, show=show):
            return False
    return True


def train_live(run, config, view, server, until=None, show=None):
    """Train, appending every record to the run and sending the player more at most every REDRAW_SECONDS; True
    if the loop ran to its end (or to epoch `until`). The page only draws: how the records are computed (the
    server's run cache, a carpool in the workers, this thread) is digitviz.training's. A run the server could not
    finish (its worker died or hung, its time ran out) keeps its epochs and says why. show(run): how the run is
    drawn, the player by default."""
    show = show or Redraws(view, resources.lesson_data(run.digits)[1])
    records = resources.trainer(server).records(run, config, session_id())
    next_draw, token, told = 0.0, run.claim(), None
    try:
        with contextlib.closing(records):
            for item in records:
                fragment.let_clicks_interrupt()  # Stop, while Train trains in the run's fragment
                if isinstance(item, Waiting):
                    waiting = text.waiting(item)
                    # A class in line: each message only when it says something new. A wait for an in-thread slot
                    # says nothing new, but each redraw is where a student who left stops waiting.
                    if waiting != told or item.slot:
                        view["status"].info(told := waiting, icon=":material/hourglass:")
                    continue
                if not run.add(item, token):  # a newer script run has taken this run over (Stop, Step, ...)
                    return False
                if until is not None and item.epoch >= until:
                    break
                if time.perf_counter() >= next_draw:
                    began = time.perf_counter()
                    show(run)
                    told = None  # the status line now shows the run, so the next wait is news again
                    # On a busy server drawing slows down too: then draw less often, so that drawing never takes
                    # more than a quarter of the time, and training (everyone's) goes on.
                    next_draw = time.perf_counter() + max(REDRAW_SECONDS, 3 * (time.perf_counter() - began))
    except TrainingError as e:
        run.stopped(str(e))
        (view["problem"].info if isinstance(e, RunBudgetError) else view["problem"].error)(str(e))
        return False
    run.finish()
    return True


class Redraws:
    """How one training loop draws its run: the first time the whole run, then only what the player lacks (the
    curves whole, the maps of the epochs since the last redraw: digitviz.player.run_payload's parts)."""

    def __init__(self, view, baseline):
        self.view, self.baseline, self.sent = view, baseline, None

    def __call__(self, run):
        last = run.last.epoch  # before drawing: a record another script thread adds meanwhile is not yet sent
        draw(run, self.view, self.baseline, after=self.sent)
        self.sent = last


def session_id():
    """This browser tab's Streamlit session: whose share of the training workers a run draws on."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else None


def show_run(run, view, hidden, config, digits, server=None):
    """The run as it stands; the player in the browser replays it. Given the server, a run the browser remembered
    is trained again first, in line like any run. With no run yet, the frame the first Train fills: `config`'s
    starting weights and empty axes with the baseline, in the player that will play the run."""
    if server is not None and run is not None and run.restoring:
        restore_live(run, view, server)
    if run is None or not run.records:
        view["status"].info(text.first_step(hidden))
        with view["player"]:
            player_ui(start_payload(config, digits, resources.lesson_data(digits)[1].l1.overall,
                                    learned=view["learned"]))
        return
    draw(run, view, resources.lesson_data(run.digits)[1])


def draw(run, view, baseline, after=None):
    """Send the run so far: the status line, the player's records and, for a diverged run, why it stopped. `after`:
    the player already has the maps up to that epoch (see Redraws)."""
    (view["status"].warning if run.paused_because else view["status"].markdown)(text.status_text(run))
    with view["player"]:
        player_ui(run_payload(run, baseline.l1.overall, learned=view["learned"], after=after))
    if run.last.diverged:
        view["note"].error(text.divergence_advice(run.current_config, run.last))
