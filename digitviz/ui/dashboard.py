"""The live dashboard: status, progress, metrics, the two curves, the weight map and the lesson's baseline."""
import math
import time

import streamlit as st

from digitviz import runs, text
from digitviz.figures import accuracy_figure, loss_figure, weight_map_figure
from digitviz.models import initial_params
from digitviz.records import weight_map
from digitviz.ui import CHART, resources
from digitviz.workers import RunBudgetError, TrainingError, Waiting, shared_pool

REDRAW_SECONDS = 0.25  # at least 3 redraws a second while training, without drawing dominating the time
SLOT_POLL_SECONDS = 1.0  # how soon a waiting run that was stopped, or whose student left, lets go


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
    view = {"status": st.empty(), "problem": st.empty(), "progress": st.empty(), "metrics": st.empty()}
    if config.ten_digits and not config.shuffle:
        st.warning(text.UNSHUFFLED_TEN, icon=":material/shuffle:")
    left, right = st.columns(2)
    view["accuracy"], view["loss"] = left.empty(), right.empty()
    left, right = st.columns(2)
    maps = left.container()
    view["replay"] = left.container()
    view["learned"] = left.toggle("Show what training changed beside the weights", value=True, key="learned",
                                  help="The weights start random (init std), and that noise hides what SGD learns: "
                                       "the second map subtracts the starting weights.")
    tiled = config.ten_digits or config.model == "two_layer"  # grids of maps: one above the other, not squeezed
    raw, change = (maps.container(), maps.container()) if tiled or not view["learned"] else maps.columns(2)
    view["weights"], view["change"] = raw.empty(), change.empty()
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
    """Take an in-thread training slot, saying so while others hold them all. Each wait redraws the note: a
    Streamlit call is where a session that closed its tab (or pressed Stop) gets stopped, so nobody waits for a
    gone student."""
    slots = resources.training_slots(server.slots)
    while not slots.acquire(timeout=SLOT_POLL_SECONDS):
        view["status"].info("Waiting for a free training slot: other students' runs are training on this server "
                            "right now. Yours starts as soon as it is its turn.", icon=":material/hourglass:")
    return slots


def train_live(run, config, view, server):
    """Train, appending every record to the run and redrawing at most every REDRAW_SECONDS. A run the server
    could not finish (its worker died or hung, its time ran out) keeps its epochs and says why."""
    data, baseline = resources.lesson_data(run.digits)
    pool = shared_pool(server.processes)
    slots = None if pool else wait_for_slot(view, server)  # the pool takes its own turns
    token, next_draw = run.claim(), 0.0
    try:
        for item in runs.records(run, config, data, pool, chunk_seconds=REDRAW_SECONDS):
            if isinstance(item, Waiting):
                view["status"].info(text.waiting(item.position, item.eta_seconds), icon=":material/hourglass:")
                continue
            if not run.add(item, token):  # a newer script run has taken this run over (Stop, Step, ...)
                return
            if time.perf_counter() >= next_draw:
                began = time.perf_counter()
                draw(run, view, baseline, tag=f"live-{item.epoch}")
                # On a busy server drawing slows down too: then draw less often, so that drawing never takes
                # more than a quarter of the time, and training (everyone's) goes on.
                next_draw = time.perf_counter() + max(REDRAW_SECONDS, 3 * (time.perf_counter() - began))
    except TrainingError as e:
        run.stopped(str(e))
        (view["problem"].info if isinstance(e, RunBudgetError) else view["problem"].error)(str(e))
        return
    finally:
        if slots is not None:
            slots.release()
    run.finish()


def show_run(run, view, hidden):
    """The run as it stands, with an epoch slider to replay it once it is not training."""
    if run is None or not run.records:
        view["status"].info(text.first_step(hidden))
        return
    upto = len(run.records)
    if len(run.records) > 1:
        # keyed by the run and its length so that the slider jumps to the newest epoch whenever the run grows
        upto = view["replay"].slider("Replay: show epoch", 1, len(run.records), len(run.records),
                                     key=f"replay-{run.number}-{len(run.records)}",
                                     help="Drag to see the weights and the curves as they were at that epoch.")
    draw(run, view, resources.lesson_data(run.digits)[1], upto=upto)


def draw(run, view, baseline, upto=None, tag="final"):
    """Redraw every placeholder; `tag` keeps each redraw's charts distinct within one script run."""
    records = run.records[:upto]
    last = records[-1]
    target = max(run.target, run.last.epoch)
    status = view["status"].warning if run.paused_because else view["status"].markdown
    status(text.status_text(run))
    view["progress"].progress(last.epoch / target, text=f"epoch {last.epoch} of {target}")
    with view["metrics"].container():
        summary_ui(run, records, baseline)
    view["accuracy"].plotly_chart(accuracy_figure(records, baseline.l1.overall, target), key=f"acc-{tag}", **CHART)
    view["loss"].plotly_chart(loss_figure(records, target), key=f"loss-{tag}", **CHART)
    units = run.config.model == "two_layer"
    ends = ("inhibits", "excites") if units else None  # a hidden unit's weights push no digit, only the unit
    suffix = " (hidden units)" if units else ""
    title = f"Weights after epoch {last.epoch}{suffix}"
    view["weights"].plotly_chart(weight_map_figure(last.weights, run.digits, title, ends=ends), key=f"weights-{tag}",
                                 **CHART)
    if view["learned"]:
        change = last.weights - weight_map(initial_params(run.config))
        title = f"Change, epoch 0 → {last.epoch}{suffix}"
        view["change"].plotly_chart(weight_map_figure(change, run.digits, title, ends=ends), key=f"change-{tag}",
                                    **CHART)


def summary_ui(run, records, baseline):
    """Accuracy against the baseline, loss, time; and why a diverged run stopped."""
    last = records[-1]
    a, b, c = st.columns(3)
    gain = (last.valid_acc - baseline.l1.overall) * 100
    a.metric("Validation accuracy", f"{last.valid_acc:.2%}", f"{gain:+.2f} pts vs mean-image baseline")
    b.metric("Validation loss", f"{last.valid_loss:.4f}" if math.isfinite(last.valid_loss) else "not a number")
    c.metric("Training time", f"{last.seconds:.2f} s", text.ms_per_epoch(last, len(records)),
             delta_color="off", delta_arrow="off")
    if last.diverged:
        st.error(text.divergence_advice(run.current_config, last))
