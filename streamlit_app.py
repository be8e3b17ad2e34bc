"""digitviz: watch a linear model learn to tell 3s from 7s, live. Run with `streamlit run streamlit_app.py`.

The page only wires widgets to the engine (`digitviz.engine.train`) and to the pure figure builders
(`digitviz.figures`); each browser session keeps its own runs in `st.session_state`.

The training worker processes (digitviz.workers) import this file again, as multiprocessing does with a
program's main module: keep its top level free of side effects (the canvas component is imported where used).
"""
import dataclasses
import hashlib
import math
import os
import threading
import time
import uuid
from functools import partial

import streamlit as st
import torch
from streamlit.runtime.scriptrunner import get_script_run_ctx

from digitviz import load_digits, pixel_similarity, train
from digitviz.board import BoardError, board_from_settings
from digitviz.classify import classify, confusion_matrix, mistakes
from digitviz.data import ALL_DIGITS as TEN
from digitviz.engine import LOSSES, MODELS, initial_params, weight_map
from digitviz.export import (ModelFileError, load_model, model_npz, records_csv, settings_json, weight_map_png,
                             weights_npy)
from digitviz.failover import MOVED_MESSAGE, replaced_session
from digitviz.figures import (accuracy_figure, compare_figure, confusion_figure, digit_figure, loss_figure,
                              mean_images_figure, probabilities_figure, weight_map_figure)
from digitviz.preprocess import CANVAS_EMPTY, ImageError, prepare_drawing, prepare_upload
from digitviz.settings import (BATCH_SIZES, DEFAULTS, LEARNING_RATES, MAX_EPOCHS, MAX_INIT_STD, MAX_SEED,
                               PAIR_LOSSES, PAIR_MODELS, PRESETS, config_of, differences, digits_of, from_query,
                               preset_values,
                               to_query)
from digitviz.workers import TrainingPool

REDRAW_SECONDS = 0.25  # at least 3 redraws a second while training, without drawing dominating the time
# Training runs in worker processes, one per core: a server's own Python runs on one core at a time (the GIL)
# and has a class's charts to draw. 0 trains in the page's own thread instead (the tests' AppTest runs do).
TRAINING_PROCESSES = int(os.environ.get("DIGITVIZ_TRAINING_PROCESSES", os.cpu_count() or 1))
# Runs training at once; more wait their turn rather than all slowing to a crawl. In-thread runs share the GIL,
# so then one: measured with benchmarks/bench_load.py, 30 students on 2 cores, p95 Train to fully drawn was
# 9.5-10.5 s with 1 slot, 11.7 s with 2, 14.0 s with 4.
TRAINING_SLOTS = int(os.environ.get("DIGITVIZ_TRAINING_SLOTS", max(1, TRAINING_PROCESSES)))
SLOT_POLL_SECONDS = 1.0  # how soon a waiting run that was stopped, or whose student left, lets go
MAX_SAMPLE_EPOCHS = 12_396 * 1000  # a run may cost at most the lesson's pair for 1,000 epochs: ~5 s of one core
CHART = dict(width="stretch", theme="streamlit", config={"displaylogo": False})


@dataclasses.dataclass
class Run:
    """One training run in this browser session: its settings, its records so far and where it stands."""
    number: int
    config: object  # TrainConfig
    digits: tuple
    target: int = 0  # the epoch the run is heading for: its epochs setting, or further after Resume or Step
    records: list = dataclasses.field(default_factory=list)
    status: str = "running"  # running | paused | done | diverged
    # The script run now training this run. A click starts a new script run at once (fastReruns) while the old
    # one trains on until its next Streamlit call; the new one takes ownership, and the old one stops appending.
    owner: object = None

    @property
    def last(self):
        return self.records[-1] if self.records else None


def main():
    st.set_page_config(page_title="digitviz: watch a model learn", page_icon="🔢", layout="wide")
    # Each script run is a new thread, and each thread gets its own OpenMP team whose idle workers spin:
    # measured, an epoch takes 5.5 ms on one thread here against 15 ms on two. It also shares the cores fairly.
    torch.set_num_threads(1)
    hidden, link_notes = read_link_once()
    action = controls_ui()
    values = settings_ui(hidden)
    digits = digits_of(values)
    data, baseline = lesson_data(digits)
    config = fitted_config(config_of(values), data)
    run = current_run()
    if action == "reset":
        st.session_state.pop("run", None)
        run = None
    st.title("Watch a model learn all ten digits" if digits == TEN else
             f"Watch a model learn to tell {digits[0]}s from {digits[1]}s")
    st.caption("The fastai book's chapter 4: a linear model trained from scratch by SGD, against the lesson's "
               "first idea, comparing each digit with the average image of each digit.")
    moved_server_ui()
    notes_ui(link_notes)
    view = dashboard_ui(digits, baseline)
    if action == "train":
        run = start_run(config, digits)
        train_live(run, config, view)
    elif action in ("step", "resume"):
        continue_run(run, action, config, view)
    show_run(run, view)
    classify_ui(run, digits, baseline)
    st.divider()
    panel = st.segmented_control("For the classroom", list(PANELS), key="panel", format_func=PANEL_TITLES.get,
                                 help="Each opens below. Closed panels cost the shared server nothing.")
    if panel:
        PANELS[panel](run)
    link = to_query(values, hidden) | ({"panel": panel} if panel else {})
    st.query_params.from_dict(link)  # the address bar always holds a shareable link


def read_link_once():
    """At a session's first run, put the link's settings into the widgets; keep its hidden controls and notes."""
    if "link" not in st.session_state:
        query = st.query_params.to_dict()
        values, hidden, notes = from_query(query)
        for name, value in {**DEFAULTS, **values}.items():
            st.session_state[name] = value
        if query.get("panel") in PANELS:  # a teacher's link can open the class board, ready to project
            st.session_state.panel = query["panel"]
        st.session_state.link = (hidden, notes)
    for name, value in DEFAULTS.items():  # a control hidden by the link has no widget to keep its value
        st.session_state.setdefault(name, value)
    return st.session_state.link


def controls_ui():
    """Train, Stop, Step, Resume, Reset: returns which was pressed, or None."""
    sb = st.sidebar
    pressed = None
    if sb.button("Train", type="primary", key="train", width="stretch", help="Start a fresh run with these settings."):
        pressed = "train"
    buttons = [("stop", "Stop", "pause", "Pause the run; everything trained so far stays on the page."),
               ("step", "Step", "skip_next", "Train one more epoch."),
               ("resume", "Resume", "play_arrow", "Continue the run with the current learning rate."),
               ("reset", "Reset", "restart_alt", "Clear the run and start fresh.")]
    cols = sb.columns(2) + sb.columns(2)
    for col, (name, label, icon, tip) in zip(cols, buttons):
        if col.button(label, key=name, icon=f":material/{icon}:", help=tip, width="stretch"):
            pressed = name
    return pressed


def settings_ui(hidden):
    """The sidebar's settings (all but those a link hides) as the page's plain values."""
    sb = st.sidebar
    with sb.expander("Lesson presets", expanded=False):
        for name, preset in PRESETS.items():
            st.button(preset.title, key=f"preset-{name}", on_click=apply_preset, args=(name,), width="stretch")
    sb.header("Settings")
    ten = st.session_state.digits == "all"
    shown = lambda name: name not in hidden  # noqa: E731
    if shown("digits"):
        sb.segmented_control("Digits", ["pair", "all"], key="digits", on_change=digits_changed, required=True,
                             format_func={"pair": "a pair", "all": "all ten"}.get,
                             help="Tell two digits apart (the lesson), or all ten with a softmax model.")
    if shown("lr"):
        sb.select_slider("Learning rate", LEARNING_RATES, key="lr",
                         help="How far each SGD step moves the weights. The lesson uses 1; try 10 and 100.")
    if shown("epochs"):
        sb.slider("Epochs", 1, MAX_EPOCHS, key="epochs", help="Passes over the training images. The lesson runs 300.")
    if shown("batch_size"):
        sb.select_slider("Batch size", BATCH_SIZES, key="batch_size",
                         help="Images per SGD step. 12,396 is the lesson's whole training set: one step an epoch.")
    if shown("init_std"):
        sb.slider("Init std", 0.0, MAX_INIT_STD, step=0.1, key="init_std",
                  help="Spread of the random starting weights. 0 starts every weight at zero.")
    if shown("seed"):
        sb.number_input("Seed", 0, MAX_SEED, key="seed", help="Same seed and settings, same run.")
    if shown("shuffle"):
        sb.toggle("Shuffle each epoch", key="shuffle",
                  help="The lesson does not shuffle: every epoch sees all the 3s, then all the 7s.")
    if ten:
        sb.caption("All ten digits: a **softmax** model (ten linear models side by side) with **cross-entropy**.")
    else:
        if shown("loss"):
            sb.selectbox("Loss", PAIR_LOSSES, key="loss", help=choices_help(LOSSES))
        if shown("model"):
            sb.selectbox("Model", PAIR_MODELS, key="model", help=choices_help(MODELS))
        a, b = sb.columns(2)
        if shown("a"):
            a.selectbox("Digit A", range(10), key="a", help="Scored as 1 (the lesson's 3).")
        if shown("b"):
            b.selectbox("Digit B", range(10), key="b", help="Scored as 0 (the lesson's 7).")
    values = {name: st.session_state[name] for name in DEFAULTS}
    if values["a"] == values["b"]:
        sb.warning("Pick two different digits; using 3 and 7 for now.")
        values.update(a=3, b=7)
    return values


def choices_help(choices):
    return "; ".join(f"{k}: {v}" for k, v in choices.items() if k not in ("softmax", "cross_entropy"))


def apply_preset(name):
    """A preset button's callback: set every control, then say what to notice."""
    for key, value in preset_values(name).items():
        st.session_state[key] = value
    st.session_state.preset = name


def digits_changed():
    """Ten digits sorted by label make every batch a single digit: shuffle, as the ten-digit preset does."""
    if st.session_state.digits == "all":
        st.session_state.shuffle = True


def moved_server_ui():
    """Say why the page started afresh when its server went away and the tab reconnected to another one."""
    if "moved_from" not in st.session_state:
        ctx = get_script_run_ctx()
        protocols = st.context.headers.get("Sec-WebSocket-Protocol") if ctx else None
        st.session_state.moved_from = replaced_session(protocols, ctx.session_id if ctx else None)
    if st.session_state.moved_from:
        st.warning(MOVED_MESSAGE, icon="🔁")


def notes_ui(link_notes):
    for note in link_notes:
        st.warning(note, icon=":material/link:")
    preset = PRESETS.get(st.session_state.get("preset"))
    if preset:
        st.info(f"**{preset.title}.** {preset.notice} Press **Train** to see it.", icon=":material/school:")


def fitted_config(config, data):
    """Cap what the sidebar allows to what this training set and this shared server can afford."""
    n = len(data.train_x)
    if config.batch_size > n:
        st.sidebar.caption(f"Batch size capped at the training set's {n:,} images.")
        config = dataclasses.replace(config, batch_size=n)
    if config.epochs * n > MAX_SAMPLE_EPOCHS:  # one student's run must not hog a server the class shares
        epochs = MAX_SAMPLE_EPOCHS // n
        st.sidebar.caption(f"Epochs capped at {epochs:,} for {n:,} training images, so that every student's "
                           "run gets its turn.")
        config = dataclasses.replace(config, epochs=epochs)
    return config


def start_run(config, digits):
    """A fresh run, kept in the session's history for comparing."""
    runs = st.session_state.setdefault("runs", [])
    run = Run(max((r.number for r in runs), default=0) + 1, config, digits, target=config.epochs)
    runs.append(run)
    st.session_state.run = run
    st.session_state.pop("preset", None)
    return run


def current_run():
    """This session's run; one that was still 'running' when the page reran was interrupted, so it is paused."""
    run = st.session_state.get("run")
    if run is not None and run.status == "running":
        run.status, run.owner = "paused", None
    return run


def continue_run(run, action, config, view):
    """Step (one epoch) or Resume (up to the epochs setting) from the last record, at the current learning rate."""
    if run is None:
        st.info("Press **Train** first: there is no run to continue yet.")
    elif run.status == "diverged":
        st.info("This run diverged, so there is nothing to continue: lower the learning rate and press **Train**.")
    else:
        done = run.last.epoch if run.last else 0
        more = 1 if action == "step" else (run.target - done if run.target > done else config.epochs)
        run.status, run.target = "running", max(run.target, done + more)
        train_live(run, dataclasses.replace(run.config, lr=config.lr, epochs=more), view)


@st.cache_resource(show_spinner="Loading the digits…")
def lesson_data(digits):
    """Data and baseline for some digits, loaded once per server and shared read-only by every session."""
    data = load_digits(digits)
    return data, pixel_similarity(data)


def dashboard_ui(digits, baseline):
    """Lay out the page and return the placeholders that training redraws."""
    view = {"status": st.empty(), "progress": st.empty(), "metrics": st.empty()}
    left, right = st.columns(2)
    view["accuracy"], view["loss"] = left.empty(), right.empty()
    left, right = st.columns(2)
    view["weights"] = left.empty()
    view["replay"] = left.container()
    view["learned"] = left.toggle("Show only what training changed", key="learned",
                                  help="Weights minus the starting weights. With a large init std the starting "
                                       "noise hides the pattern; this subtracts it and shows what SGD learned.")
    with right:
        st.subheader("The lesson's baseline")
        st.plotly_chart(baseline_figure(digits), key="means", **CHART)
        st.markdown(baseline_text(digits, baseline))
    return view


@st.cache_resource
def baseline_figure(digits):
    """Built once per server: the same for everyone, and Streamlit only reads it (it serialises a copy)."""
    return mean_images_figure(lesson_data(digits)[1].means, digits)


def baseline_text(digits, baseline):
    if digits == TEN:
        return (f"A digit is called whichever digit's mean image it is closest to. Validation accuracy: "
                f"**{baseline.l1.overall:.2%}** with the lesson's L1 distance, **{baseline.l2.overall:.2%}** with L2.")
    a, b = digits
    return (f"A digit is called a **{a}** when it is closer to the mean {a} than to the mean {b}. Validation "
            f"accuracy: **{baseline.l1.overall:.2%}** with the lesson's L1 distance ({a}s {baseline.l1.first:.2%}, "
            f"{b}s {baseline.l1.second:.2%}), **{baseline.l2.overall:.2%}** with L2.")


@st.cache_resource(on_release=lambda pool: pool and pool.close())
def training_pool(processes):
    """Worker processes shared by every session on this server, started at the first Train."""
    return TrainingPool(processes) if processes > 0 else None


def epochs(run, config, data):
    """The run's next records: from the worker processes, or from this thread when there are none."""
    pool = training_pool(TRAINING_PROCESSES)
    if pool is None:
        return train(config, data, start=run.last)
    return pool.train(config, run.digits, start=run.last, chunk_seconds=REDRAW_SECONDS)


@st.cache_resource
def training_slots(count):
    """Shared by every session on this server."""
    return threading.BoundedSemaphore(count)


def wait_for_slot(view):
    """Take a training slot, saying so while others hold them all. Each wait redraws the note: a Streamlit call
    is where a session that closed its tab (or pressed Stop) gets stopped, so nobody waits for a gone student."""
    slots = training_slots(TRAINING_SLOTS)
    while not slots.acquire(timeout=SLOT_POLL_SECONDS):
        view["status"].info("Waiting for a free training slot: other students' runs are training on this server "
                            "right now. Yours starts as soon as it is its turn.", icon=":material/hourglass:")
    return slots


def train_live(run, config, view):
    """Run the engine, appending every record to the session's run and redrawing at most every REDRAW_SECONDS."""
    data, baseline = lesson_data(run.digits)
    next_draw, slots = 0.0, wait_for_slot(view)
    run.owner = owner = object()
    try:
        for record in epochs(run, config, data):
            if run.owner is not owner:  # a newer script run has taken this run over (Stop, Step, ...)
                return
            run.records.append(record)
            if time.perf_counter() >= next_draw:
                began = time.perf_counter()
                draw(run, view, baseline, tag=f"live-{record.epoch}")
                # On a busy server drawing slows down too: then draw less often, so that drawing never takes
                # more than a quarter of the time, and training (everyone's) goes on.
                next_draw = time.perf_counter() + max(REDRAW_SECONDS, 3 * (time.perf_counter() - began))
    finally:
        slots.release()
    run.status = "diverged" if run.last.diverged else "done" if run.last.epoch >= run.target else "paused"


def show_run(run, view):
    """The run as it stands, with an epoch slider to replay it once it is not training."""
    if run is None or not run.records:
        view["status"].info("Set the learning rate and epochs in the sidebar, then press **Train**.")
        return
    upto = len(run.records)
    if len(run.records) > 1:
        # keyed by the run and its length so that the slider jumps to the newest epoch whenever the run grows
        upto = view["replay"].slider("Replay: show epoch", 1, len(run.records), len(run.records),
                                     key=f"replay-{run.number}-{len(run.records)}",
                                     help="Drag to see the weights and the curves as they were at that epoch.")
    draw(run, view, lesson_data(run.digits)[1], upto=upto)


def draw(run, view, baseline, upto=None, tag="final"):
    """Redraw every placeholder; `tag` keeps each redraw's charts distinct within one script run."""
    records = run.records[:upto]
    last = records[-1]
    target = max(run.target, run.last.epoch)
    view["status"].markdown(status_text(run))
    view["progress"].progress(last.epoch / target, text=f"epoch {last.epoch} of {target}")
    with view["metrics"].container():
        summary_ui(run, last, baseline)
    view["accuracy"].plotly_chart(accuracy_figure(records, baseline.l1.overall, target), key=f"acc-{tag}", **CHART)
    view["loss"].plotly_chart(loss_figure(records, target), key=f"loss-{tag}", **CHART)
    weights, title = last.weights, f"Weights after epoch {last.epoch}"
    if view["learned"]:
        weights, title = weights - weight_map(initial_params(run.config)), f"Change in the weights after epoch {last.epoch}"
    title += " (hidden units)" if run.config.model == "two_layer" else ""
    view["weights"].plotly_chart(weight_map_figure(weights, run.digits, title), key=f"weights-{tag}", **CHART)


def status_text(run):
    words = {"running": "training…", "paused": "paused: **Resume** continues, **Step** adds one epoch",
             "done": "done", "diverged": "stopped: the run diverged"}[run.status]
    return f"Run {run.number}, {describe(run)}: {words}"


def describe(run):
    c = run.config
    digits = digits_label(run.digits)
    return (f"**{c.model}** model, **{c.loss}**, {digits}, lr **{c.lr:g}**, batch {c.batch_size}, "
            f"init std {c.init_std:g}, seed {c.seed}{', shuffled' if c.shuffle else ''}")


def digits_label(digits):
    """'3s vs 7s', or 'all ten digits'."""
    return "all ten digits" if digits == TEN else f"{digits[0]}s vs {digits[1]}s"


def summary_ui(run, last, baseline):
    a, b, c = st.columns(3)
    gain = (last.valid_acc - baseline.l1.overall) * 100
    a.metric("Validation accuracy", f"{last.valid_acc:.2%}", f"{gain:+.2f} pts vs mean-image baseline")
    b.metric("Validation loss", f"{last.valid_loss:.4f}" if math.isfinite(last.valid_loss) else "not a number")
    c.metric("Training time", f"{last.seconds:.2f} s", f"{1000 * last.seconds / len(run.records):.1f} ms an epoch",
             delta_color="off", delta_arrow="off")
    if last.diverged:
        st.error(f"**The run diverged at epoch {last.epoch}**: {last.diverged}. The learning rate "
                 f"({run.config.lr:g}) is too high for this model: try ten times smaller "
                 f"({suggested_lr(run.config.lr):g}), or the lesson's 1, then press **Train**.")


def suggested_lr(lr):
    """A tenth of the rate that blew up, snapped to the slider's choices."""
    return max([r for r in LEARNING_RATES if r <= lr / 10] or [LEARNING_RATES[0]])


def classify_ui(run, digits, baseline):
    """Draw or upload a digit; show what the model sees, its verdict, and which strokes drove it."""
    from streamlit_drawable_canvas import st_canvas  # registers a component: only inside a running page
    st.divider()
    st.header("Classify your own digit")
    what = "any digit" if digits == TEN else f"a {digits[0]} or a {digits[1]}"
    draw_tab, upload_tab = st.tabs(["Draw", "Upload"])
    with draw_tab:
        canvas = st_canvas(stroke_width=22, stroke_color="#FFFFFF", background_color="#000000", height=280,
                           width=280, drawing_mode="freedraw", return_image_data=True, key="canvas")
        st.caption(f"Draw {what} with the mouse or a finger, away from the toolbar in the top corner; "
                   "its bin icon clears the canvas.")
    with upload_tab:
        upload = st.file_uploader("An image of one digit: a photo of ink on paper works too",
                                  type=["png", "jpg", "jpeg", "gif", "bmp", "webp"], key="upload")
    source = latest_input(canvas, upload)
    with st.container(key="verdict"):
        try:
            original, image = prepared_input(source, canvas, upload)
        except ImageError as e:
            (st.info if str(e) == CANVAS_EMPTY else st.error)(str(e))
            return
        params, whose = classifier(run, digits)  # only now: a default model is trained the first time it's needed
        verdict_ui(classify(params, image, digits, baseline.means), original, image, digits, whose)


def classifier(run, digits):
    """A model loaded from a file, else the session's trained model, else a default one trained once per server."""
    loaded = st.session_state.get("loaded_model")
    if loaded is not None and loaded[1] == digits:
        return loaded[0], f"the model loaded from {loaded[2]}"
    if run is not None and run.records and run.digits == digits and not run.last.diverged:
        return run.last.params, f"the model you trained (run {run.number}, {run.last.epoch} epochs)"
    return default_model(digits).params, "a default model trained by the page; press **Train** to use yours"


@st.cache_resource(show_spinner="Training a default model…")
def default_model(digits):
    """The lesson's settings (ten digits: shuffled, 5 epochs), so that classifying works before anyone trains."""
    values = {**DEFAULTS, **({"digits": "all", "shuffle": True, "epochs": 5} if digits == TEN else {})}
    *_, last = train(config_of(values), lesson_data(digits)[0])
    return last


def latest_input(canvas, upload):
    """'draw' or 'upload': whichever changed most recently, so the verdict follows what the student just did."""
    now = {"draw": hashlib.sha1(canvas.image_bytes or b"").hexdigest(), "upload": upload.file_id if upload else None}
    seen = st.session_state.setdefault("seen_inputs", dict(now))
    changed = [k for k in now if now[k] != seen.get(k)]
    if changed:
        st.session_state.latest_input = "upload" if "upload" in changed and upload else "draw"
    st.session_state.seen_inputs = now
    return st.session_state.get("latest_input", "upload" if upload else "draw")


def prepared_input(source, canvas, upload):
    """(what to show as the original, the 28x28 image the model sees); ImageError for anything unusable."""
    if source == "upload":
        return prepare_upload(upload.getvalue())
    if canvas.image_data is None:
        raise ImageError(CANVAS_EMPTY)
    return None, prepare_drawing(canvas.image_data)


def verdict_ui(verdict, original, image, digits, whose):
    st.markdown(f"### The model says **{verdict.digit}** ({verdict.confidence:.1%} sure)")
    st.markdown(f"The mean-image baseline says **{verdict.baseline_digit}**. Using {whose}.")
    cols = st.columns(3 if original is not None else 2)
    if original is not None:
        cols[0].image(original, caption="your image", width="stretch")
    cols[-2].plotly_chart(digit_figure(image), key="seen", **CHART)
    towards = digits if digits != TEN else (verdict.digit, "others")  # ten: for the chosen digit, or against it
    cols[-1].plotly_chart(weight_map_figure(verdict.contributions, towards, "Which pixels pushed where",
                                            scale_title="weight × pixel"), key="contributions", **CHART)
    score = (f"Score = pixels' contributions (**{verdict.contributions.sum():+.2f}**) + bias "
             f"(**{verdict.bias:+.2f}**) = **{verdict.score:+.2f}**.")
    if digits == TEN:
        st.markdown(f"{score} That is the score for **{verdict.digit}**; softmax turns the ten digits' scores into "
                    f"the probabilities below. Blue strokes pushed towards {verdict.digit}, red against it.")
        st.plotly_chart(probabilities_figure(verdict.probabilities), key="probabilities", **CHART)
    else:
        first, second = digits
        st.markdown(f"{score} A score above 0 means {first}: sigmoid(score) = {verdict.probabilities[first]:.3f} "
                    f"is the model's probability of a {first}. Blue strokes pushed towards {first}, red towards "
                    f"{second}.")


def mistakes_ui(run):
    """The validation digits the run's model gets wrong, most confident first, and its confusion matrix."""
    if run is None or not run.records:
        st.caption("Train a model to see which validation digits it gets wrong.")
        return
    data = lesson_data(run.digits)[0]
    params = run.last.params
    wrong = mistakes(params, data, limit=24)
    left, right = st.columns([1, 2])
    left.plotly_chart(confusion_figure(confusion_matrix(params, data), run.digits), key="confusion", **CHART)
    if not wrong:
        right.success("No mistakes on the validation set.")
        return
    right.markdown(f"**The {len(wrong)} most confident mistakes** of run {run.number} at epoch {run.last.epoch}:")
    images = [data.valid_x[m.index].view(28, 28).numpy() for m in wrong]
    captions = [f"a {m.true_digit}, said {m.said} ({m.confidence:.1%})" for m in wrong]
    right.image(images, caption=captions, width=84)


def compare_ui(run=None):
    """Every run of this session in a table; overlay any of them; delete some or all."""
    runs = [r for r in st.session_state.get("runs", []) if r.records]
    if not runs:
        st.caption("Each run you train is kept here, so you can overlay their curves.")
        return
    st.dataframe([run_row(r) for r in runs], hide_index=True, width="stretch")
    names = {r.number: r for r in runs}
    version = "-".join(str(n) for n in names)  # a new widget when the runs change, so no stale choice survives
    chosen = st.multiselect("Overlay runs", list(names), default=list(names)[-2:], format_func=lambda n: f"Run {n}",
                            key=f"compare-{version}")
    if chosen:
        labels = differences([{**dataclasses.asdict(names[n].config), "digits": names[n].digits} for n in chosen])
        curves = {f"Run {n}" + (f": {label}" if label else ""): names[n].records for n, label in zip(chosen, labels)}
        st.plotly_chart(compare_figure(curves), key="compare-chart", **CHART)
    left, right = st.columns(2)
    doomed = left.multiselect("Delete runs", list(names), format_func=lambda n: f"Run {n}", key=f"delete-{version}")
    if left.button("Delete", key="delete-runs", disabled=not doomed):
        forget_runs(set(doomed))
        st.rerun()
    if right.button("Clear all runs", key="clear-runs"):
        forget_runs(set(names))
        st.rerun()


def run_row(run):
    c, last = run.config, run.last
    return {"run": run.number, "digits": "all" if run.digits == TEN else f"{run.digits[0]} vs {run.digits[1]}",
            "model": c.model, "loss": c.loss, "lr": c.lr, "batch": c.batch_size, "init std": c.init_std,
            "shuffle": c.shuffle, "seed": c.seed, "epochs": last.epoch, "accuracy": round(last.valid_acc, 4),
            "loss value": round(last.valid_loss, 4) if math.isfinite(last.valid_loss) else None,
            "status": run.status}


def forget_runs(numbers):
    st.session_state.runs = [r for r in st.session_state.runs if r.number not in numbers]
    if st.session_state.get("run") is not None and st.session_state.run.number in numbers:
        st.session_state.pop("run")


@st.cache_resource
def class_board():
    """One board per server process: it holds the posting rate limit, and its database is shared."""
    return board_from_settings(server_secrets())


def server_secrets():
    """The server's `.streamlit/secrets.toml` as a dict; none at all is fine (the board then uses SQLite)."""
    try:
        return st.secrets.to_dict()
    except FileNotFoundError:
        return {}


def board_ui(run):
    """Post a finished run to the board everyone on this server sees; newest and best first."""
    board = class_board()
    session = st.session_state.setdefault("session_id", uuid.uuid4().hex)
    name = st.text_input("Your name on the board", max_chars=40, key="board_name", placeholder="e.g. Ada")
    finished = run is not None and run.records and run.status in ("done", "paused", "diverged")
    if st.button("Post my run", key="post", disabled=not finished,
                 help="Posts your current run's settings and final accuracy."):
        try:
            board.post(name, {**dataclasses.asdict(run.config), "digits": list(run.digits)}, run.last.valid_acc,
                       run.last.valid_loss, run.last.epoch, session)
            st.success("Posted: your run is on the board.")
        except BoardError as e:
            st.error(str(e))
    try:
        newest, best = board.newest(), board.best()
    except BoardError as e:
        st.warning(str(e))
        return
    left, right = st.columns(2)
    left.markdown("**Newest**")
    left.dataframe([post_row(p) for p in newest], hide_index=True, width="stretch")
    right.markdown("**Best**")
    right.dataframe([post_row(p) for p in best], hide_index=True, width="stretch")
    with st.expander("Teacher: clear the board"):
        phrase = st.text_input("Passphrase", type="password", key="board_passphrase")
        if st.button("Clear the board", key="clear-board"):
            expected = server_secrets().get("board", {}).get("passphrase") or os.environ.get("DIGITVIZ_BOARD_PASSPHRASE")
            try:
                st.success(f"Cleared {board.clear(phrase, expected)} posts.")
            except BoardError as e:
                st.error(str(e))


def post_row(post):
    s = post.settings
    return {"name": post.name, "accuracy": f"{post.accuracy:.2%}", "epochs": post.epochs,
            "settings": f"{s.get('model')}, lr {s.get('lr')}, batch {s.get('batch_size')}",
            "posted": post.created_at.strftime("%H:%M:%S")}


def files_ui(run):
    """The run as files to download, and a saved model loaded back to classify with."""
    if run is not None and run.records:
        st.markdown(f"**Run {run.number}** at epoch {run.last.epoch}:")
        stem = f"digitviz-run{run.number}"
        last = run.last
        files = [  # each file is made only when its button is pressed
            ("Records (CSV)", partial(records_csv, list(run.records)), f"{stem}.csv", "text/csv"),
            ("Settings (JSON)", partial(settings_json, run.config, run.digits), f"{stem}.json", "application/json"),
            ("Weights (.npy)", partial(weights_npy, last.params), f"{stem}-weights.npy", "application/octet-stream"),
            ("Model (.npz)", partial(model_npz, last.params, run.config, run.digits), f"{stem}.npz",
             "application/octet-stream"),
            ("Weight map (PNG)", partial(weight_map_png, last.weights), f"{stem}-weights.png", "image/png")]
        for col, (label, make, name, mime) in zip(st.columns(len(files)), files):
            col.download_button(label, make, name, mime, key=f"dl-{name.rsplit('.', 1)[1]}")
    st.file_uploader("Load a saved model to classify with (.npz, or a .npy of weights)", type=["npz", "npy"],
                     key="model_file", on_change=load_model_file)
    loaded = st.session_state.get("loaded_model")
    if st.session_state.get("model_file_error"):
        st.error(st.session_state.model_file_error)
    elif loaded is not None:
        st.success(f"Loaded {loaded[2]} ({digits_label(loaded[1])}):"
                   " the classifier above uses it while those digits are selected.")


def load_model_file():
    """The model uploader's callback: runs before the page, so the classifier above already uses the model."""
    st.session_state.pop("loaded_model", None)
    st.session_state.pop("model_file_error", None)
    upload = st.session_state.get("model_file")
    if upload is None:
        return
    try:
        params, digits = load_model(upload.getvalue())
        st.session_state.loaded_model = (params, digits, upload.name)
    except ModelFileError as e:
        st.session_state.model_file_error = str(e)


PANELS = {"mistakes": mistakes_ui, "compare": compare_ui, "board": board_ui, "files": files_ui}
PANEL_TITLES = {"mistakes": "Mistakes", "compare": "Compare runs", "board": "Class board", "files": "Save and load"}

if __name__ == "__main__":
    main()
