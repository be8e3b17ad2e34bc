"""digitviz: watch a linear model learn to tell 3s from 7s, live. Run with `streamlit run streamlit_app.py`.

The page only wires widgets to the engine (`digitviz.engine.train`) and to the pure figure builders
(`digitviz.figures`); each browser session keeps its own runs in `st.session_state`.
"""
import dataclasses
import hashlib
import math
import time

import streamlit as st
import torch
from streamlit_drawable_canvas import st_canvas

from digitviz import TrainConfig, load_digits, pixel_similarity, train
from digitviz.engine import LOSSES, MODELS, initial_params, weight_map
from digitviz.classify import classify
from digitviz.figures import accuracy_figure, digit_figure, loss_figure, mean_images_figure, weight_map_figure
from digitviz.preprocess import CANVAS_EMPTY, ImageError, prepare_drawing, prepare_upload

REDRAW_SECONDS = 0.25  # at least 3 redraws a second while training, without drawing dominating the time
LEARNING_RATES = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0]
PAGE_MAX_EPOCHS = 1000
CHART = dict(width="stretch", theme="streamlit", config={"displaylogo": False})


@dataclasses.dataclass
class Run:
    """One training run in this browser session: its settings, its records so far and where it stands."""
    config: TrainConfig
    pair: tuple
    records: list = dataclasses.field(default_factory=list)
    status: str = "running"  # running | paused | done | diverged

    @property
    def last(self):
        return self.records[-1] if self.records else None


def main():
    st.set_page_config(page_title="digitviz: watch a model learn", page_icon="🔢", layout="wide")
    # Each script run is a new thread, and each thread gets its own OpenMP team whose idle workers spin:
    # measured, an epoch takes 5.5 ms on one thread here against 15 ms on two. It also shares the cores fairly.
    torch.set_num_threads(1)
    action = controls_ui()
    config, pair = settings_ui()
    baseline = lesson_data(pair)[1]
    run = current_run()
    if action == "reset":
        st.session_state.pop("run", None)
        run = None
    st.title(f"Watch a model learn to tell {pair[0]}s from {pair[1]}s")
    st.caption("The fastai book's chapter 4: a linear model trained from scratch by SGD, against the lesson's "
               f"first idea, comparing each digit with the average {pair[0]} and the average {pair[1]}.")
    view = dashboard_ui(pair, baseline)
    if action == "train":
        run = st.session_state.run = Run(config, pair)
        train_live(run, config, view)
    elif action in ("step", "resume"):
        continue_run(run, action, config, view)
    show_run(run, view)
    classify_ui(run, pair, baseline)


def continue_run(run, action, config, view):
    """Step (one epoch) or Resume (up to the epochs setting) from the last record, at the current learning rate."""
    if run is None:
        st.info("Press **Train** first: there is no run to continue yet.")
    elif run.status == "diverged":
        st.info("This run diverged, so there is nothing to continue: lower the learning rate and press **Train**.")
    else:
        more = 1 if action == "step" else remaining_epochs(run, config)
        run.status = "running"
        train_live(run, dataclasses.replace(run.config, lr=config.lr, epochs=more), view)


def settings_ui():
    """The sidebar's settings, as a TrainConfig and the pair of digits."""
    sb = st.sidebar
    sb.header("Settings")
    lr = sb.select_slider("Learning rate", LEARNING_RATES, value=1.0, key="lr",
                          help="How far each SGD step moves the weights. The lesson uses 1; try 10 and 100.")
    epochs = sb.slider("Epochs", 1, PAGE_MAX_EPOCHS, 30, key="epochs",
                       help="Passes over the 12,396 training images. The lesson runs 300.")
    batch_size = sb.select_slider("Batch size", [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 12396],
                                  value=256, key="batch_size",
                                  help="Images per SGD step. 12,396 is the whole training set: one step an epoch.")
    init_std = sb.slider("Init std", 0.0, 3.0, 1.0, step=0.1, key="init_std",
                         help="Spread of the random starting weights. 0 starts every weight at zero.")
    seed = sb.number_input("Seed", 0, 2**31 - 1, 0, key="seed", help="Same seed and settings, same run.")
    shuffle = sb.toggle("Shuffle each epoch", False, key="shuffle",
                        help="The lesson does not shuffle: every epoch sees all the 3s, then all the 7s.")
    loss = sb.selectbox("Loss", list(LOSSES), key="loss", help="; ".join(f"{k}: {v}" for k, v in LOSSES.items()))
    model = sb.selectbox("Model", list(MODELS), key="model", help="; ".join(f"{k}: {v}" for k, v in MODELS.items()))
    a, b = sb.columns(2)
    first = a.selectbox("Digit A", range(10), index=3, key="digit_a", help="Scored as 1 (the lesson's 3).")
    second = b.selectbox("Digit B", range(10), index=7, key="digit_b", help="Scored as 0 (the lesson's 7).")
    if first == second:
        sb.warning("Pick two different digits; using 3 and 7 for now.")
        first, second = 3, 7
    config = TrainConfig(lr=lr, epochs=epochs, batch_size=batch_size, init_std=init_std, seed=int(seed),
                         shuffle=shuffle, loss=loss, model=model)
    return config, (first, second)


def controls_ui():
    """Train, Stop, Step, Resume, Reset: returns which was pressed, or None."""
    sb = st.sidebar
    pressed = None
    if sb.button("Train", type="primary", key="train", width="stretch",
                 help="Start a fresh run with these settings."):
        pressed = "train"
    buttons = [("stop", "Stop", "pause", "Pause the run; everything trained so far stays on the page."),
               ("step", "Step", "skip_next", "Train one more epoch."),
               ("resume", "Resume", "play_arrow", "Continue the run with the current learning rate."),
               ("reset", "Reset", "restart_alt", "Clear the run and start fresh.")]
    cols = sb.columns(2) + sb.columns(2)
    for col, (name, label, icon, tip) in zip(cols, buttons):
        if col.button(label, key=name, icon=f":material/{icon}:", help=tip, width="stretch"):
            pressed = name
    sb.divider()
    return pressed


def current_run():
    """This session's run; one that was still 'running' when the page reran was interrupted, so it is paused."""
    run = st.session_state.get("run")
    if run is not None and run.status == "running":
        run.status = "paused"
    return run


def remaining_epochs(run, config):
    """Resume trains up to the epochs setting, or that many more if the run already got there."""
    done = run.last.epoch if run.last else 0
    return config.epochs - done if config.epochs > done else config.epochs


@st.cache_resource(show_spinner="Loading the digits…")
def lesson_data(pair):
    """Data and baseline for a pair, loaded once per server and shared read-only by every session."""
    data = load_digits(pair)
    return data, pixel_similarity(data)


def dashboard_ui(pair, baseline):
    """Lay out the page and return the placeholders that training redraws."""
    view = {"status": st.empty(), "progress": st.empty(), "metrics": st.empty()}
    left, right = st.columns(2)
    view["accuracy"], view["loss"] = left.empty(), right.empty()
    left, right = st.columns(2)
    view["weights"] = left.empty()
    view["replay"] = left.container()
    view["learned"] = left.toggle("Show only what training changed (weights − starting weights)", key="learned",
                                  help="With a large init std the starting noise hides the pattern; "
                                       "this subtracts it and shows what SGD learned.")
    with right:
        st.subheader("The lesson's baseline")
        st.plotly_chart(mean_images_figure(baseline.mean3, baseline.mean7, pair), key="means", **CHART)
        st.markdown(f"A digit is called a **{pair[0]}** when it is closer to the mean {pair[0]} than to the "
                    f"mean {pair[1]}. Validation accuracy: **{baseline.l1.overall:.2%}** with the lesson's L1 "
                    f"distance ({pair[0]}s {baseline.l1.first:.2%}, {pair[1]}s {baseline.l1.second:.2%}), "
                    f"**{baseline.l2.overall:.2%}** with L2.")
    return view


def train_live(run, config, view):
    """Run the engine, appending every record to the session's run and redrawing at most every REDRAW_SECONDS."""
    data, baseline = lesson_data(run.pair)
    target = (run.last.epoch if run.last else 0) + config.epochs
    last_draw = 0.0
    for record in train(config, data, start=run.last):
        run.records.append(record)
        if time.perf_counter() - last_draw > REDRAW_SECONDS:
            draw(run, view, baseline, target, tag=f"live-{record.epoch}")
            last_draw = time.perf_counter()
    run.status = "diverged" if run.last.diverged else "done"


def show_run(run, view):
    """The run as it stands, with an epoch slider to replay it once it is not training."""
    if run is None or not run.records:
        view["status"].info("Set the learning rate and epochs in the sidebar, then press **Train**.")
        return
    baseline = lesson_data(run.pair)[1]
    upto = len(run.records)
    if len(run.records) > 1:
        # keyed by the run and its length so that the slider jumps to the newest epoch whenever the run grows
        upto = view["replay"].slider("Replay: show epoch", 1, len(run.records), len(run.records),
                                     key=f"replay-{id(run)}-{len(run.records)}",
                                     help="Drag to see the weights and the curves as they were at that epoch.")
    draw(run, view, baseline, run.config.epochs if run.status == "done" else None, upto=upto)


def draw(run, view, baseline, target=None, upto=None, tag="final"):
    """Redraw every placeholder; `tag` keeps each redraw's charts distinct within one script run."""
    records = run.records[:upto]
    last = records[-1]
    target = target or last.epoch
    view["status"].markdown(status_text(run, last, target))
    view["progress"].progress(min(1.0, last.epoch / target), text=f"epoch {last.epoch} of {target}")
    with view["metrics"].container():
        summary_ui(run, last, baseline)
    view["accuracy"].plotly_chart(accuracy_figure(records, baseline.l1.overall, target), key=f"acc-{tag}", **CHART)
    view["loss"].plotly_chart(loss_figure(records, target), key=f"loss-{tag}", **CHART)
    weights, title = last.weights, f"Weights after epoch {last.epoch}"
    if view["learned"]:
        weights, title = weights - starting_weights(run.config), f"Change in the weights after epoch {last.epoch}"
    title += " (hidden units)" if weights.ndim == 3 else ""
    view["weights"].plotly_chart(weight_map_figure(weights, run.pair, title), key=f"weights-{tag}", **CHART)


def starting_weights(config):
    """The weight map a run started from: the seed fixes it, so it is recomputed rather than stored."""
    return weight_map(initial_params(config))


def status_text(run, last, target):
    words = {"running": "training…", "paused": "paused: **Resume** continues, **Step** adds one epoch",
             "done": "done", "diverged": "stopped: the run diverged"}[run.status]
    c = run.config
    return (f"**{c.model}** model, **{c.loss}**, lr **{c.lr:g}**, batch {c.batch_size}, "
            f"init std {c.init_std:g}, seed {c.seed}{', shuffled' if c.shuffle else ''}: {words}")


def summary_ui(run, last, baseline):
    a, b, c = st.columns(3)
    gain = (last.valid_acc - baseline.l1.overall) * 100
    a.metric("Validation accuracy", f"{last.valid_acc:.2%}", f"{gain:+.2f} pts vs mean-image baseline")
    b.metric("Validation loss", f"{last.valid_loss:.4f}" if math.isfinite(last.valid_loss) else "not a number")
    c.metric("Training time", f"{last.seconds:.2f} s", f"{1000 * last.seconds / len(run.records):.1f} ms an epoch",
             delta_color="off", delta_arrow="off")
    if last.diverged:
        st.error(f"**The run diverged at epoch {last.epoch}**: {last.diverged}. The learning rate "
                 f"({run.config.lr:g}) is too high for this model: try {suggested_lr(run.config.lr):g} "
                 "(a tenth of it) or the lesson's 1, then press **Train**.")


def classify_ui(run, pair, baseline):
    """Draw or upload a digit; show what the model sees, its verdict, and which strokes drove it."""
    st.divider()
    st.header("Classify your own digit")
    params, whose = classifier(run, pair)
    draw_tab, upload_tab = st.tabs(["Draw", "Upload"])
    with draw_tab:
        canvas = st_canvas(stroke_width=22, stroke_color="#FFFFFF", background_color="#000000", height=280,
                           width=280, drawing_mode="freedraw", return_image_data=True, key="canvas")
        st.caption(f"Draw a {pair[0]} or a {pair[1]} with the mouse or a finger; the bin icon above clears it.")
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
        verdict_ui(classify(params, image, pair, baseline.means), original, image, pair, whose)


def classifier(run, pair):
    """The session's trained model when there is one for this pair, else a default one trained once per server."""
    if run is not None and run.records and run.pair == pair and not run.last.diverged:
        return run.last.params, f"the model you trained ({run.last.epoch} epochs)"
    return default_model(pair).params, "a default model (30 epochs at the lesson's settings); press **Train** for yours"


@st.cache_resource(show_spinner="Training a default model…")
def default_model(pair):
    """The lesson's model after 30 epochs, so that classifying works before anyone presses Train."""
    *_, last = train(TrainConfig(), lesson_data(pair)[0])
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


def verdict_ui(verdict, original, image, pair, whose):
    first, second = pair
    st.markdown(f"### The model says **{verdict.digit}** ({verdict.confidence:.1%} sure)")
    st.markdown(f"The mean-image baseline says **{verdict.baseline_digit}**. Using {whose}.")
    cols = st.columns(3 if original is not None else 2)
    if original is not None:
        cols[0].image(original, caption="your image", width="stretch")
    cols[-2].plotly_chart(digit_figure(image), key="seen", **CHART)
    cols[-1].plotly_chart(weight_map_figure(verdict.contributions, pair, "Which pixels pushed where",
                                            scale_title="weight × pixel"), key="contributions", **CHART)
    st.markdown(f"Score = pixels' contributions (**{verdict.contributions.sum():+.2f}**) + bias "
                f"(**{verdict.bias:+.2f}**) = **{verdict.score:+.2f}**. A score above 0 means {first}: "
                f"sigmoid(score) = {verdict.probabilities[first]:.3f} is the model's probability of a {first}. "
                f"Blue strokes pushed towards {first}, red towards {second}.")


def suggested_lr(lr):
    """A tenth of the rate that blew up, snapped to the slider's choices."""
    return max([r for r in LEARNING_RATES if r <= lr / 10] or [LEARNING_RATES[0]])


if __name__ == "__main__":
    main()
