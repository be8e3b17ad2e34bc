"""Inside SGD: the lesson's mechanics on the run's own linear model, one view at a time.

Each view is built only when a student opens it (a closed one costs the server nothing) and shows the lesson's
code beside the numbers: the threshold and the sigmoid, one SGD step, why accuracy can't be the loss, fastai's
learning-rate finder, and a sweep of learning rates.
"""
import hashlib
import logging
import math
from dataclasses import dataclass

import numpy as np
import streamlit as st

from digitviz import mechanics, text
from digitviz.figures_sgd import (
    forgotten_zero_figure,
    lr_find_figure,
    lr_sweep_figure,
    maps_figure,
    pixel_picker_figure,
    sigmoid_figure,
    suggestion_text,
    threshold_figure,
    weight_sweep_figure,
)
from digitviz.lr_finder import SUGGESTIONS, lr_find
from digitviz.lr_sweep import final_accuracy, lr_sweep, snapped, sweep_configs
from digitviz.runs import fitted_config
from digitviz.settings import CONTROLS, DEFAULTS, config_of, digits_of
from digitviz.text import article
from digitviz.ui import CHART, fragment, resources
from digitviz.ui.dashboard import session_id
from digitviz.ui.panels.compare import overlay_key
from digitviz.workers import TrainingError

log = logging.getLogger(__name__)
LESSON_MODELS = ("linear", "fastai")  # the lesson's xb@weights + bias, from scratch or through fastai's Learner
SHOWN_IMAGES = 24  # of a batch's images, drawn above its ledger
ZERO_BATCHES = 100  # the most batches the forgotten-zero_() curves follow
STEP_CODE = """def calc_grad(xb, yb, model):
    preds = model(xb)
    loss = mnist_loss(preds, yb)
    loss.backward()

def train_epoch(model, lr, params):
    for xb,yb in dl:
        calc_grad(xb, yb, model)
        for p in params:
            p.data -= p.grad*lr
            p.grad.zero_()"""
LOSS_CODE = """def mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets==1, 1-predictions, predictions).mean()"""
ACCURACY_CODE = """def batch_accuracy(xb, yb):
    preds = xb.sigmoid()
    correct = (preds>0.5) == yb
    return correct.float().mean()"""
VIEWS = {"threshold": "Threshold and sigmoid", "step": "One SGD step", "accuracy": "Why not accuracy?",
         "finder": "LR finder", "sweep": "LR sweep"}


@dataclass(frozen=True)
class Subject:
    """The model the views take apart: its parameters, the settings it trains with, and whose it is, in words."""
    params: object  # name -> np.ndarray, as an EpochRecord holds them
    config: object  # TrainConfig
    digits: tuple
    epoch: int
    whose: str

    @property
    def key(self):
        """What a view's kept numbers depend on: these very weights (a run number comes back after Clear), the
        digits and the settings."""
        weights = hashlib.sha1(b"".join(np.asarray(self.params[k]).tobytes() for k in sorted(self.params)))
        return weights.hexdigest(), self.digits, self.config


def inside_ui(run, server):
    """The view picker, and the open view on the run's (or the default) linear model."""
    with st.container(key="inside-panel"):  # one element for screenshots and browser tests to find
        view_ui(run, server)


def view_ui(run, server):
    """The view picker and the open view."""
    view = st.segmented_control("Look inside", list(VIEWS), key="inside_view", format_func=VIEWS.get,
                                help="Each view takes the lesson's linear model apart with its real numbers.")
    if not view:  # nothing is computed, and no default model trained, until a view is open
        st.caption("Pick a view: each takes the lesson's linear model apart at the run's current epoch, or the one "
                   "you pick.")
        return
    if run is not None and len(run.records) > 1:  # the player scrubs in the browser; the views pick their own epoch
        st.slider("Look inside at epoch", 1, len(run.records), len(run.records), key=epoch_key(run),
                  help="Which of the run's epochs the views take apart.")
    subject = subject_of(run)
    if subject is None:
        st.info("These views take apart the lesson's linear model, which tells two digits apart: choose **a pair** "
                "of digits in the sidebar.")
        return
    st.caption(f"Using {subject.whose}.")
    VIEW_UIS[view](subject, run, server)


def epoch_key(run):
    """A new slider whenever the run grows, so that it starts at the newest epoch."""
    return f"inside-epoch-{run.number}-{len(run.records)}"


def subject_of(run):
    """The replayed epoch of the run when it is the lesson's kind of model, else the page's default model."""
    values = {name: st.session_state.get(name, DEFAULTS[name]) for name in CONTROLS}
    if values["digits"] == "all" or values["a"] == values["b"]:
        return None
    if run is not None and run.records and len(run.digits) == 2 and run.config.model in LESSON_MODELS:
        shown = st.session_state.get(epoch_key(run), len(run.records))
        record = run.records[min(shown, len(run.records)) - 1]
        if all(np.isfinite(a).all() for a in record.params.values()):
            note = "" if run.config.loss == "mnist_loss" else f" (trained with {run.config.loss}; shown: mnist_loss)"
            return Subject(record.params, run.config, run.digits, record.epoch,
                           f"run {run.number} at epoch {record.epoch}{note}")
    digits = digits_of(values)
    model = resources.default_model(digits)
    config = config_of({**DEFAULTS, "a": digits[0], "b": digits[1]})
    why = "no run yet" if run is None or not run.records else "your run is not the lesson's linear model, or diverged"
    return Subject(model.params, config, digits, model.epoch,
                   f"the page's default model ({why}: the lesson's settings, {model.epoch} epochs)")


def in_worker(server, function, digits, doing, kwargs, guess):
    """function(data=the digits' data, **kwargs) in the training workers, so that the server's own Python only
    draws (in this thread on a server without workers); None, with the reason shown, if it failed. guess: the
    seconds it should take, for its place in line."""
    line = st.empty()

    def waiting(item):
        fragment.let_clicks_interrupt()
        line.info(text.waiting(item), icon=":material/hourglass:")

    try:
        with st.spinner(doing):
            return resources.trainer(server).call(function, digits, kwargs, guess, waiting=waiting)
    except TrainingError as e:
        st.error(str(e), icon=":material/error:")
    except Exception:  # a bug of ours: the log has it, the student a sentence, never a traceback
        log.exception("%s failed", function.__name__)
        st.error("This view could not be computed: the server's log says why. The rest of the page still works.",
                 icon=":material/error:")
    finally:
        line.empty()
    return None


def kept(name, key, compute):
    """What compute() gave for `key`, kept in the session under `name` until the key changes; None, and nothing
    kept, if it failed (in_worker has said why)."""
    if st.session_state.get(name, (None,))[0] != key:
        value = compute()
        if value is None:
            return None
        st.session_state[name] = (key, value)
    return st.session_state[name][1]


# ---------------------------------------------------------------- 1. threshold and sigmoid

def threshold_ui(subject, run, server):
    """Histograms of raw outputs with a draggable threshold; the sigmoid beside them."""
    first, second = subject.digits
    data, _ = resources.lesson_data(subject.digits)
    after = st.toggle("After the sigmoid", key="threshold-after",
                      help="Off: the outputs as the model gives them. On: the same outputs through the sigmoid.")
    view = mechanics.threshold_view(subject.params, data)
    at_zero = view.accuracy
    lo, hi = float(np.floor(view.edges[0])), float(np.ceil(view.edges[-1]))
    t = st.slider("Threshold on the raw output: above it, the model says " + str(first), lo, hi, 0.0, 0.1,
                  key="threshold", help="Drag it: the accuracy is recomputed on the validation images.")
    view = mechanics.threshold_view(subject.params, data, t)
    left, right = st.columns([3, 2])
    left.plotly_chart(threshold_figure(view, subject.digits, after), key="threshold-chart", **CHART)
    right.plotly_chart(sigmoid_figure(t, lo, hi), key="sigmoid-chart", **CHART)
    if after:
        st.code(ACCURACY_CODE, language="python")
        st.markdown(f"After the sigmoid, an output of 0 means a probability of **0.5**: `preds>0.5` is the same "
                    f"test as `raw output > 0.0`. Threshold {t:+.1f} is sigmoid {mechanics.sigmoid(t):.3f}. The "
                    "sigmoid only squashes: it changes no decision, but it gives the loss a smooth, bounded number "
                    "to work on.")
    else:
        st.code("corrects = (preds>0.0).float() == train_y", language="python")
        st.markdown(f"Before the sigmoid, **0.0 is arbitrary**: nothing in `xb@weights + bias` makes 0 special, "
                    f"and the model could have been trained to put its {first}s above any other number. Drag the "
                    f"threshold: accuracy at 0.0 is **{at_zero:.2%}**, "
                    f"here **{view.accuracy:.2%}**. Training with `mnist_loss` is what puts {first}s above 0 and "
                    f"{second}s below, because its sigmoid maps 0 to 0.5.")


# ---------------------------------------------------------------- 2. one step of SGD

def sgd_step_ui(subject, run, server):
    """Step through the batches one at a time: the batch, its ledger, the gradient and the step."""
    data, _ = resources.lesson_data(subject.digits)
    config, n = subject.config, len(data.train_x)
    forget = st.toggle("Forget `p.grad.zero_()`", key="sgd-forget",
                       help="Leave out the last line of the loop: each batch's gradient is added to the last ones'.")
    source = (subject.key, forget)
    state = st.session_state.get("sgd_state")
    if state is None or state["source"] != source or st.session_state.pop("sgd_restart", False):
        state = dict(source=source, at=(subject.epoch + 1, 0), params=subject.params, carried=None, taken=0)
    left, right = st.columns(2)
    if left.button("Next batch", key="sgd-next", icon=":material/skip_next:", type="primary",
                   help="Take this batch's step and move to the next batch."):
        step, state["params"] = mechanics.sgd_step(state["params"], data, config, *state["at"], state["carried"])
        state["carried"] = (step.grad, step.bias_grad) if forget else None
        state["at"], state["taken"] = mechanics.next_batch(*state["at"], config, n), state["taken"] + 1
    right.button("Start again", key="sgd-again", icon=":material/restart_alt:",
                 on_click=lambda: st.session_state.update(sgd_restart=True),
                 help=f"Back to the weights after epoch {subject.epoch}.")
    st.session_state.sgd_state = state
    # computed again at each rerun (2 ms) rather than kept: a batch's images are 0.8 MB, in every session
    step, _ = mechanics.sgd_step(state["params"], data, config, *state["at"], state["carried"])
    epoch, batch = state["at"]
    st.markdown(f"**Epoch {epoch}, batch {batch + 1} of {mechanics.batches_per_epoch(config, n)}** "
                f"({len(step.index)} images, {state['taken']} steps taken since epoch {subject.epoch}'s weights; "
                f"lr {config.lr:g}, batch size {config.batch_size}, {'' if config.shuffle else 'not '}shuffled).")
    st.code(STEP_CODE, language="python")
    batch_images_ui(step, subject.digits)
    chosen = ledger_ui(step, subject.digits)
    gradient_ui(step, chosen, forget)
    if forget:
        forgotten_zero_ui(subject, data, server)


def batch_images_ui(step, digits):
    """The batch's first images, each with its target, raw output and sigmoid."""
    first, second = digits
    shown = min(SHOWN_IMAGES, len(step.index))
    st.markdown(f"**The batch** (its first {shown} images): target 1 is {article(first)} {first}, 0 {article(second)} "
                f"{second}; z is the raw output, σ its sigmoid.")
    st.image([step.xb[i].reshape(28, 28) for i in range(shown)], width=80, caption=[
        f"#{i + 1} y={int(step.yb[i])}  z={step.z[i]:+.0f} σ={step.p[i]:.2f}" for i in range(shown)])


def ledger_ui(step, digits):
    """mnist_loss's ledger, one row per example; returns the row chosen (clicked, else the biggest push)."""
    g = step.batch_grad
    along = (step.xb @ g) * step.dz / max(float(g @ g), 1e-30)  # each example's share of the gradient, summing to 1
    ledger = {"#": np.arange(1, len(step.index) + 1), "digit": np.where(step.yb == 1, digits[0], digits[1]),
              "target": step.yb.astype(int), "prediction z": step.z, "sigmoid p": step.p,
              "torch.where branch": step.branch, "share of loss": step.share, "d loss / dz": step.dz,
              "share of gradient": along, "right?": np.where(step.correct, "yes", "no")}
    st.code(LOSS_CODE, language="python")
    st.markdown(f"**The ledger of `mnist_loss`**: each row's share is its branch of `torch.where` divided by "
                f"{len(step.index)}; the shares add up to the batch's loss, **{step.share.sum():.5f}** = "
                f"`mnist_loss(preds, yb)` = **{step.loss:.5f}**. Click a row to see that example's push on the "
                "weights.")
    fmt = st.column_config.NumberColumn
    event = st.dataframe(ledger, hide_index=True, key="ledger", on_select="rerun", selection_mode="single-row",
                         height=300, column_config={
                             "prediction z": fmt(format="%+.3f"), "sigmoid p": fmt(format="%.4f"),
                             "share of loss": fmt(format="%.6f"), "d loss / dz": fmt(format="%+.2e"),
                             "share of gradient": fmt(format="percent")})
    rows = event.selection.rows if event is not None else []
    return rows[0] if rows else int(np.argmax(np.abs(step.dz) * step.xb.sum(1)))


def gradient_ui(step, chosen, forget):
    """The gradient as a 28x28 map, lr x gradient, the weights before and after, and the chosen example's push."""
    grad = step.grad.reshape(28, 28)
    piled = " (with the earlier batches' still in it)" if forget and not np.allclose(step.grad, step.batch_grad) else ""
    st.markdown(f"**The step.** `loss.backward()` leaves `weights.grad`{piled}; `p.data -= p.grad*lr` moves each "
                f"weight by −lr × its gradient (lr = {step.lr:g}). Bias: {step.bias_before:+.4f} − {step.lr:g} × "
                f"{step.bias_grad:+.2e} = **{step.bias_after:+.4f}**. The largest weight moves by "
                f"{np.abs(step.update).max():.3g}; the weights themselves reach "
                f"{np.abs(step.weights_before).max():.3g}.")
    # two maps a column: side by side on a wide screen, stacked two and two on a phone
    left, right = st.columns(2)
    left.plotly_chart(maps_figure({"weights.grad": grad, f"−lr × grad (lr {step.lr:g})": step.update.reshape(28, 28)}),
                      key="step-maps", **CHART)
    right.plotly_chart(maps_figure({"weights before": step.weights_before.reshape(28, 28),
                                    "weights after": step.weights_after.reshape(28, 28)}), key="weight-maps", **CHART)
    i = chosen
    st.markdown(f"**Example #{i + 1}'s push** (target {int(step.yb[i])}, z {step.z[i]:+.2f}, p {step.p[i]:.3f}, "
                f"branch `{step.branch[i]}`): −lr × dz × x, only where its image has ink. The batch's step is the sum "
                "of every example's push.")
    left, right = st.columns(2)
    left.plotly_chart(maps_figure({f"image #{i + 1}": step.xb[i].reshape(28, 28), f"push of #{i + 1}": step.push(i)},
                                  grey=(f"image #{i + 1}",)), key="push-maps", **CHART)
    right.plotly_chart(maps_figure({"the whole batch's step": step.update.reshape(28, 28)}), key="batch-step-map",
                       **CHART)


def forgotten_zero_ui(subject, data, server):
    """What forgetting zero_() does to training, batch by batch, from the same weights."""
    # an epoch's batches (49 at the lesson's size), but never more than ZERO_BATCHES: at batch size 1 an epoch is
    # 12,396 steps each way, 15 s of a worker that a class's runs would wait behind
    batches = min(mechanics.batches_per_epoch(subject.config, len(data.train_x)), ZERO_BATCHES)
    # 0.1-0.3 s of a worker: once per model, not per click
    curves = kept("zero_curves", subject.key, lambda: in_worker(
        server, mechanics.forgotten_zero, subject.digits, "Training both ways…", dict(
            params=dict(subject.params), config=subject.config, epoch=subject.epoch + 1, batches=batches),
        guess=batches * 2.5e-3))
    if curves is None:
        return
    st.markdown(f"**Without `zero_()`, `.grad` keeps every batch's gradient**: the step uses their running sum, "
                f"which grows batch after batch. Over the next {batches} batches from the same weights, validation "
                f"accuracy ends at **{curves['zeroed'][-1]:.2%}** with `zero_()` and **{curves['forgotten'][-1]:.2%}** "
                "without it.")
    st.plotly_chart(forgotten_zero_figure(curves), key="zero-chart", **CHART)


# ---------------------------------------------------------------- 3. why not accuracy as the loss

def accuracy_loss_ui(subject, run, server):
    """Click a weight, sweep it: accuracy in flat steps beside mnist_loss, smooth with a slope."""
    weights = np.asarray(subject.params["weights"])[:, 0]
    if "sweep-row" not in st.session_state:
        steepest = in_worker(server, mechanics.steepest_pixel, subject.digits, "Finding a lively weight…",
                             dict(params=dict(subject.params)), guess=0.02)
        centre = 14 * 28 + 14  # if the worker failed (its message is shown): a pixel most digits have ink at
        st.session_state["sweep-row"], st.session_state["sweep-col"] = divmod(
            centre if steepest is None else steepest, 28)
    pixel = st.session_state["sweep-row"] * 28 + st.session_state["sweep-col"]
    left, right = st.columns([2, 3])
    with left:
        event = st.plotly_chart(pixel_picker_figure(weights.reshape(28, 28), pixel, subject.digits), key="pixel-map",
                                on_select="rerun", selection_mode="points", **CHART)
        clicked = [p for p in (event.selection.points if event else []) if p.get("curve_number") == 1]
        if clicked and clicked[0].get("point_index") != st.session_state.get("sweep-clicked"):
            st.session_state["sweep-clicked"] = clicked[0]["point_index"]
            st.session_state["sweep-row"], st.session_state["sweep-col"] = divmod(clicked[0]["point_index"], 28)
            st.rerun()
        a, b = st.columns(2)
        a.number_input("Row", 0, 27, key="sweep-row")
        b.number_input("Column", 0, 27, key="sweep-col")
        span = st.segmented_control("Sweep the weight by ±", mechanics.SPANS, key="sweep-span", required=True,
                                    default=1.0, help="Zoom in: accuracy is flat between steps. Zoom out: the steps "
                                                      "blur into a bumpy curve.")
    sweep = weight_swept(subject, pixel, span or 1.0, server)
    if sweep is None:
        return
    with right:
        st.plotly_chart(weight_sweep_figure(sweep), key="sweep-chart", **CHART)
        st.code(ACCURACY_CODE + "\n\n" + LOSS_CODE, language="python")
    flat = float(np.mean(np.diff(sweep.accuracy) == 0))
    if sweep.inked == 0:
        st.info("No training image has ink at this pixel: its weight multiplies 0 every time, so moving it changes "
                "nothing at all. Click a pixel nearer the middle.")
        return
    st.markdown(f"Moving this one weight (now {sweep.current:+.3f}, ink in {sweep.inked:,} training images), "
                f"accuracy stays exactly the same between **{flat:.0%}** of neighbouring values: there its slope is "
                f"0, so SGD would get no direction from it. Accuracy only changes when some image's output crosses 0, "
                f"a jump of 1/{sweep.images:,}. `mnist_loss` changes with every nudge; its slope here, "
                f"**{sweep.slope:+.3g}**, is `weights.grad` for this pixel, and says which way to move.")


def weight_swept(subject, pixel, span, server):
    """mechanics.weight_sweep in a worker (every image with ink at the pixel, at 401 values), kept for this session
    until the weight, the model or the span changes: the page's other reruns don't repeat it."""
    return kept("weight_sweep", (subject.key, pixel, span), lambda: in_worker(
        server, mechanics.weight_sweep, subject.digits, "Sweeping the weight…",
        dict(params=dict(subject.params), pixel=pixel, span=span), guess=0.05))


# ---------------------------------------------------------------- 4. the learning-rate finder

def lr_find_ui(subject, run, server):
    """fastai's lr_find on the run's initial weights: the curve, the four suggestions, one click to use one."""
    config = subject.config
    st.code("learn.lr_find(suggest_funcs=(valley, minimum, steep, slide))", language="python")
    if not config.shuffle:
        st.warning("The lesson's batches are not shuffled: all the 3s, then all the 7s. The loss jumps when the "
                   "first batch of 7s arrives, whatever the learning rate, so the finder stops early and its "
                   "suggestions mean little; fastai's `slide` even fails on some of these curves. Turn on "
                   "**Shuffle each epoch** and Train to see the finder as fastai intends it.",
                   icon=":material/warning:")
    key = ("lr_find", config, subject.digits)
    if st.button("Run the finder", key="lr-find", icon=":material/search:",
                 help="100 mini-batches from the run's initial weights, the learning rate growing from 1e-7 to 10."):
        found = in_worker(server, lr_find, subject.digits, "Sweeping learning rates…", dict(config=config),
                          guess=0.1)
        if found is not None:
            st.session_state.lr_found = (key, found)
    found = st.session_state.get("lr_found")
    if found is None or found[0] != key:
        st.caption("From the run's initial weights (seed and init std), 100 steps with the learning rate growing "
                   "exponentially, stopping when the smoothed loss passes 4 times its best; the weights stay as "
                   "they were.")
        return
    found = found[1]
    st.plotly_chart(lr_find_figure(found), key="lr-find-chart", **CHART)
    if found.stopped_early:
        st.caption(f"Stopped after {len(found.lrs)} of 100 steps, at lr {found.lrs[-1]:.2g}: the smoothed loss passed "
                   "4 times its best. As fastai's plot does, the last 5 steps are not drawn.")
    for name in SUGGESTIONS:
        lr = found.suggestions[name]
        left, right = st.columns([4, 1], vertical_alignment="center")
        if lr is None:
            left.warning(f"**{name}**: fastai's function failed on this curve ({found.failures[name]}).")
            continue
        off_scale = "" if 1 / 3 < snapped(lr) / lr < 3 else f" The slider's nearest rate is {snapped(lr):g}."
        left.markdown(suggestion_text(name, lr) + off_scale)
        right.button(f"Use {snapped(lr):g}", key=f"use-{name}", on_click=use_lr, args=(snapped(lr),),
                     help=f"Set the learning-rate slider to {snapped(lr):g}, the nearest of its choices to {lr:.2g}.")


def use_lr(lr):
    """A suggestion button's callback: set the sidebar's learning rate, and rerun the whole page, not only the
    run's fragment (page.lesson_ui) that holds this button, so that the slider shows it."""
    st.session_state.lr = lr
    st.rerun()


# ---------------------------------------------------------------- 5. the learning-rate sweep

def lr_sweep_ui(subject, run, server):
    """Train the same settings at every rate of the slider; the U-curve, each point a run to compare."""
    data = resources.lesson_data(subject.digits)[0]
    config, _ = fitted_config(subject.config, len(data.train_x))
    configs, note = sweep_configs(config, len(data.train_x))
    st.code("for lr in [0.001, 0.003, 0.01, ..., 100, 1000]:\n    train(TrainConfig(lr=lr, ...), data)",
            language="python")
    if st.button(f"Train at all {len(configs)} learning rates", key="lr-sweep", icon=":material/play_arrow:",
                 help=f"{configs[0].epochs} epochs each, with this run's other settings."):
        if (swept := sweep_ui(configs, subject.digits, len(data.train_x), server)) is not None:
            st.session_state.lr_sweep = swept
    if note:
        st.caption(note)
    numbers = st.session_state.get("lr_sweep", [])
    swept = [r for r in st.session_state.get("runs", []) if r.number in numbers and r.records]
    if not swept:
        st.caption(f"{configs[0].epochs} epochs at each rate of the slider, with the run's other settings: each "
                   "becomes a run in **Compare runs**.")
        return
    points = [(r.config.lr, final_accuracy(r), r.number, r.status == "diverged") for r in swept]
    st.plotly_chart(lr_sweep_figure(points), key="lr-sweep-chart", on_select=open_point, selection_mode="points",
                    **CHART)
    best = max(swept, key=lambda r: final_accuracy(r) or 0)
    st.markdown(f"Too small a rate and the weights barely move in {configs[0].epochs} epochs; too big and each step "
                f"overshoots until the run diverges. Here the best is **lr {best.config.lr:g}** "
                f"({final_accuracy(best):.2%}, run {best.number}).")
    st.button("Open these runs in Compare runs", key="lr-sweep-compare", on_click=open_in_compare,
              args=([r.number for r in swept],), help="Or click one point to open its run beside the best one.")


def sweep_ui(configs, digits, train_size, server):
    """Run the sweep, in line like any run; the numbers of its runs, or None (with the reason shown) if the server
    could not train it."""
    line, done = st.empty(), []

    def progress(r):  # a sweep too long for one turn (or fastai's): its runs come one by one
        fragment.let_clicks_interrupt()
        done.append(r)
        line.progress(len(done) / len(configs), text=f"lr {r.config.lr:g}: {r.last.valid_acc:.2%}")

    def waiting(item):
        fragment.let_clicks_interrupt()
        line.info(text.waiting(item), icon=":material/hourglass:")

    try:
        with st.spinner(f"Training {len(configs)} runs, one at each learning rate…"):
            swept = lr_sweep(configs, digits, st.session_state.setdefault("runs", []), resources.trainer(server),
                             train_size, progress, waiting, session_id())
    except TrainingError as e:
        st.error(str(e), icon=":material/error:")
        return None
    finally:
        line.empty()
    return [r.number for r in swept]


def open_point(key="lr-sweep-chart"):
    """A click on a point of the sweep: open that run in Compare runs, beside the sweep's best."""
    clicked = st.session_state[key].selection.points
    swept = [r for r in st.session_state.get("runs", []) if r.number in st.session_state.get("lr_sweep", [])]
    chosen = [r.number for r in swept if clicked and math.isclose(r.config.lr, clicked[0]["x"])]
    if chosen:
        best = max(swept, key=lambda r: final_accuracy(r) or 0).number
        open_in_compare(sorted({chosen[0], best}))


def open_in_compare(numbers):
    """Switch to Compare runs with the sweep's runs overlaid."""
    st.session_state.panel = "compare"
    st.session_state[overlay_key(st.session_state.get("runs", []))] = list(numbers)


VIEW_UIS = {"threshold": threshold_ui, "step": sgd_step_ui, "accuracy": accuracy_loss_ui, "finder": lr_find_ui,
            "sweep": lr_sweep_ui}
