"""Inside SGD through AppTest: each view opens in two clicks and shows the engine's own numbers."""
import json
import re

import numpy as np
import pytest
import torch

from digitviz import TrainConfig, train
from digitviz.losses import mnist_loss
from digitviz.lr_finder import lr_find
from digitviz.mechanics import threshold_view
from digitviz.settings import DEFAULTS, LEARNING_RATES, config_of
from digitviz.training import Trainer
from digitviz.workers import TrainingError, TrainingPool, shared_pool
from tools.apptest import charts, open_panel, page, train_run

VIEWS = ("threshold", "step", "accuracy", "finder", "sweep")


def open_view(at, view):
    at.segmented_control(key="inside_view").set_value(view).run()
    assert not at.exception, at.exception
    return at


def figures(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def x_title(spec):
    """The x axis's title; for charts stacked on a shared x axis, the bottom one's."""
    layout = spec["layout"]
    return layout.get("xaxis2", layout.get("xaxis", {})).get("title", {}).get("text", "")


def markdown(at):
    return " ".join(m.value for m in at.markdown)


def test_the_panel_costs_nothing_until_a_view_is_opened():
    at = open_panel(page(), "inside")
    assert at.segmented_control(key="inside_view").value is None
    assert "sgd_state" not in at.session_state and "lr_found" not in at.session_state
    assert not [k for k in charts(at) if "threshold" in k.lower()]


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_opens_from_a_link_in_one_click(view):
    at = open_view(page(panel="inside"), view)
    assert at.segmented_control(key="panel").value == "inside"
    assert "the page's default model (no run yet" in " ".join(c.value for c in at.caption)
    assert at.code, "each view shows the lesson's code it illustrates"


def test_the_views_follow_the_replayed_epoch():
    at = train_run(page(panel="inside"), epochs=3)
    open_view(at, "threshold")
    at.slider(key="inside-epoch-1-3").set_value(1).run()
    assert "Using run 1 at epoch 1." in [c.value for c in at.caption]
    first = at.session_state.run.records[0]
    assert f"Accuracy at this threshold: {first.valid_acc:.2%}" in charts(at)


def test_all_ten_digits_get_a_note_not_a_view():
    at = open_view(page(panel="inside", digits="all"), "step")
    assert any("choose **a pair**" in i.value for i in at.info) and not at.dataframe


def test_the_threshold_recomputes_the_engines_accuracy(data):
    at = train_run(page(panel="inside"), epochs=3)
    open_view(at, "threshold")
    record = at.session_state.run.last
    title = [k for k in charts(at) if k.startswith("Accuracy at this threshold")][0]
    assert title == f"Accuracy at this threshold: {record.valid_acc:.2%}"  # threshold 0: the run's own accuracy
    at.slider(key="threshold").set_value(3.0).run()
    expected = threshold_view(record.params, data, 3.0).accuracy
    assert f"Accuracy at this threshold: {expected:.2%}" in charts(at)
    at.toggle(key="threshold-after").set_value(True).run()
    assert not at.exception and "preds>0.5" in at.code[0].value
    assert any("sigmoid(output)" in x_title(s) for s in figures(at))


def test_stepping_shows_each_batch_and_its_ledger_sums_to_its_loss(data):
    at = train_run(page(panel="inside"), epochs=3)
    open_view(at, "step")
    assert "Epoch 4, batch 1 of 49" in markdown(at)
    for _ in range(2):
        at.button(key="sgd-next").click().run()
    assert not at.exception and "Epoch 4, batch 3 of 49" in markdown(at) and "2 steps taken" in markdown(at)
    (ledger,) = [d.value for d in at.dataframe if "torch.where branch" in d.value.columns]
    assert len(ledger) == 256 and set(ledger["torch.where branch"]) == {"1-p"}  # batch 3 of the lesson's: all 3s
    xb, yb = data.train_x[512:768], data.train_y[512:768]
    state = at.session_state.sgd_state
    z = xb @ torch.from_numpy(np.array(state["params"]["weights"])) + float(state["params"]["bias"][0])
    assert ledger["share of loss"].sum() == pytest.approx(mnist_loss(z, yb).item(), abs=1e-6)
    assert ledger["share of gradient"].sum() == pytest.approx(1.0, abs=1e-4)
    at.button(key="sgd-again").click().run()
    assert "Epoch 4, batch 1 of 49" in markdown(at)
    at.toggle(key="sgd-forget").set_value(True).run()
    assert not at.exception and "Without `zero_()`" in markdown(at)
    assert any(s["layout"].get("yaxis2", {}).get("title", {}).get("text") == "size of p.grad" for s in figures(at))


def test_a_swept_weight_shows_flat_accuracy_beside_a_sloped_loss():
    at = open_view(page(panel="inside"), "accuracy")
    at.number_input(key="sweep-row").set_value(14).run()
    at.number_input(key="sweep-col").set_value(10).run()
    assert not at.exception
    (sweep,) = [s for s in figures(at) if "weight of" in x_title(s)]
    assert x_title(sweep) == "weight of row 14, col 10"
    assert re.search(r"stays exactly the same between \*\*\d+%\*\*", markdown(at))
    at.number_input(key="sweep-row").set_value(0).run()
    at.number_input(key="sweep-col").set_value(0).run()
    assert "No training image has ink at this pixel" in " ".join(i.value for i in at.info)


def test_the_finder_warns_about_unshuffled_batches_and_sets_the_slider(data):
    at = open_view(page(panel="inside"), "finder")
    assert "not shuffled" in at.warning[0].value
    at.button(key="lr-find").click().run()
    assert not at.exception
    (_, found) = at.session_state.lr_found
    assert found.stopped_early  # the lesson's batches: all 3s, then the 7s
    assert any(k.startswith("Learning-rate finder") for k in charts(at))
    name = next(n for n, lr in found.suggestions.items() if lr is not None)
    at.button(key=f"use-{name}").click().run()
    assert at.select_slider(key="lr").value in LEARNING_RATES
    nearest = min(LEARNING_RATES, key=lambda r: abs(np.log(r / found.suggestions[name])))
    assert at.select_slider(key="lr").value == nearest


def test_the_sweep_trains_every_rate_as_runs_to_compare(data):
    at = train_run(page(panel="inside"), epochs=2)
    open_view(at, "sweep")
    at.button(key="lr-sweep").click().run()
    assert not at.exception
    swept = [r for r in at.session_state.runs if r.number in at.session_state.lr_sweep]
    assert [r.config.lr for r in swept] == list(LEARNING_RATES)
    for run in swept[4:7]:  # each point is the engine's own run at that rate
        *_, last = train(TrainConfig(lr=run.config.lr, epochs=2), data)
        assert run.last.valid_acc == last.valid_acc
    assert "Final validation accuracy at each learning rate" in charts(at)
    at.button(key="lr-sweep-compare").click().run()
    assert at.segmented_control(key="panel").value == "compare"
    chosen = [m for m in at.multiselect if m.key.startswith("compare-")][0].value
    assert chosen == [r.number for r in swept]


def test_a_sweep_the_server_could_not_train_says_why_and_keeps_the_runs(monkeypatch):
    at = train_run(page(panel="inside"), epochs=2)
    open_view(at, "sweep")
    lost = "The process training your run stopped unexpectedly (the server may be short of memory)."

    def worker_lost(self, function, digits, kwargs, guess=0.25, waiting=None):
        raise TrainingError(lost)

    monkeypatch.setattr(Trainer, "call", worker_lost)
    at.button(key="lr-sweep").click().run()
    assert not at.exception and [e.value for e in at.error] == [lost]
    assert [r.number for r in at.session_state.runs] == [1] and "lr_sweep" not in at.session_state


def test_the_heavy_computations_go_to_the_training_workers(monkeypatch, data):
    """On a server with workers, the views' costly numbers are computed there, and are the same numbers."""
    monkeypatch.setenv("DIGITVIZ_TRAINING_PROCESSES", "1")
    sent, real = [], TrainingPool.call

    def spy(self, function, digits, kwargs, **kw):
        sent.append(function.__name__)
        return real(self, function, digits, kwargs, **kw)

    monkeypatch.setattr(TrainingPool, "call", spy)
    try:
        at = open_view(page(panel="inside"), "step")
        at.toggle(key="sgd-forget").set_value(True).run()
        assert sent == ["forgotten_zero"] and "zero_curves" in at.session_state
        assert "zero-chart" in [c.key for c in at.get("plotly_chart")]
        open_view(at, "accuracy")
        assert sent[1:] == ["steepest_pixel", "weight_sweep"]
        at.number_input(key="sweep-col").set_value(10).run()
        at.segmented_control(key="sweep-span").set_value(0.1).run()
        assert sent[3:] == ["weight_sweep", "weight_sweep"]
        at.run()  # a rerun that changes nothing asks the workers nothing
        assert len(sent) == 5
        (_, sweep) = at.session_state.weight_sweep
        assert (sweep.pixel, sweep.values[-1] - sweep.current) == (at.number_input(key="sweep-row").value * 28 + 10,
                                                                   pytest.approx(0.1))
        open_view(at, "finder")
        at.button(key="lr-find").click().run()
        (_, found) = at.session_state.lr_found
        here = lr_find(config_of(DEFAULTS), data)  # the page's default model: the lesson's settings
        assert sent[5:] == ["lr_find"] and (found.lrs, found.losses) == (here.lrs, here.losses)
        open_view(at, "sweep")
        at.button(key="lr-sweep").click().run()
        assert sent[6:] == ["sweep_records"]  # the whole sweep, one carpool at one turn
        swept = [r for r in at.session_state.runs if r.number in at.session_state.lr_sweep]
        assert [r.config.lr for r in swept] == list(LEARNING_RATES)
        alone = list(train(swept[5].config, data))
        assert [(r.train_loss, r.valid_loss, r.valid_acc) for r in swept[5].records] == [
            (r.train_loss, r.valid_loss, r.valid_acc) for r in alone]
        assert np.array_equal(swept[5].last.params["weights"], alone[-1].params["weights"])
    finally:
        shared_pool(1).close()


def test_forgetting_zero_follows_at_most_a_hundred_batches():
    """At a small batch size an epoch is hundreds of steps: the curves stop at ZERO_BATCHES, so a student's switch
    never holds a worker that a class's runs wait for."""
    at = train_run(page(panel="inside"), epochs=1, batch_size=64)
    open_view(at, "step")
    at.toggle(key="sgd-forget").set_value(True).run()
    assert not at.exception
    assert len(at.session_state.zero_curves[1]["zeroed"]) == 100  # an epoch is 194 batches of 64
    assert "Over the next 100 batches" in markdown(at)


def test_kept_numbers_follow_the_model_not_its_name():
    """A new run that got a cleared run's number is another model: the views compute its numbers afresh."""

    def sweep_of_run_1():
        open_view(at, "accuracy")
        assert "Using run 1 at epoch 2." in [c.value for c in at.caption]
        at.number_input(key="sweep-row").set_value(14).run()
        at.number_input(key="sweep-col").set_value(10).run()
        return at.session_state.weight_sweep

    at = train_run(page(panel="inside", seed=1), epochs=2)
    before = sweep_of_run_1()
    open_panel(at, "compare")
    at.button(key="clear-runs").click().run()
    at.number_input(key="seed").set_value(2)
    train_run(at, epochs=2)
    open_panel(at, "inside")
    after = sweep_of_run_1()  # the same name, pixel and span: another run
    assert after[0] != before[0] and after[1].current != before[1].current
