"""The learning-rate sweep: each point is the engine's own run at that rate, kept as a Run to compare."""
import dataclasses
import threading

import numpy as np
import pytest

from digitviz import TrainConfig, train
from digitviz.lr_sweep import final_accuracy, lr_sweep, snapped, sweep_configs
from digitviz.runs import MAX_SAMPLE_EPOCHS
from digitviz.settings import LEARNING_RATES
from digitviz.training import Trainer
from digitviz.workers import TrainingPool


def test_each_point_is_the_engines_run_at_that_rate(data):
    configs, note = sweep_configs(TrainConfig(epochs=10), len(data.train_x))
    assert [c.lr for c in configs] == list(LEARNING_RATES) and note == ""
    history = [object.__new__(type("Old", (), {"number": 4}))]  # an earlier run: the sweep numbers on from it
    swept = lr_sweep(configs, (3, 7), history, Trainer.of(data), len(data.train_x))
    assert history[1:] == swept and [r.number for r in swept] == list(range(5, 17))
    for run in swept:  # trained as one carpool, each the same bits as alone
        records = list(train(run.config, data))
        assert [(r.train_loss, r.valid_acc) for r in run.records] == [(r.train_loss, r.valid_acc) for r in records]
        assert np.array_equal(run.last.params["weights"], records[-1].params["weights"], equal_nan=True)
        assert final_accuracy(run) == (records[-1].valid_acc if not records[-1].diverged else final_accuracy(run))
        assert run.status == ("diverged" if records[-1].diverged else "done")
    best = max(swept, key=lambda r: final_accuracy(r) or 0)
    assert 0.3 <= best.config.lr <= 10 and final_accuracy(best) > 0.95  # the top of the curve, where the lesson is
    assert final_accuracy(swept[0]) < final_accuracy(best) - 0.3  # too slow on the left
    assert swept[-1].status == "diverged" and final_accuracy(swept[-1]) < final_accuracy(best) - 0.3  # too fast


class CountingPool:
    """Stands in for the worker pool, in this thread: counts the calls and the runs it is asked for."""

    def __init__(self, data):
        self.data, self.calls, self.runs = data, [], 0

    def call(self, function, digits, kwargs, guess=0.25, waiting=None):
        self.calls.append((function.__name__, len(kwargs["configs"]), guess))
        return function(data=self.data, **kwargs)

    def train(self, config, digits, start=None, chunk_seconds=0.25, session=None):
        self.runs += 1
        return train(config, self.data, start=start)


def test_the_linear_models_sweep_is_one_carpool_at_one_turn(data):
    configs = sweep_configs(TrainConfig(epochs=30), len(data.train_x))[0]
    pool = CountingPool(data)
    lr_sweep(configs, (3, 7), [], Trainer.of(data, pool), len(data.train_x))
    assert pool.runs == 0 and [c[:2] for c in pool.calls] == [("sweep_records", 12)]
    assert 0.5 < pool.calls[0][2] < 3  # its guess: 12 runs of 30 epochs, about a second of a worker


@pytest.mark.parametrize("model, epochs, rates", [("fastai", 1, slice(4, 7)),  # no block form
                                                  ("two_layer", 3, slice(None))])  # guessed at 3.3 s: too long a turn
def test_a_long_sweep_or_fastais_trains_one_run_after_another(data, model, epochs, rates):
    configs = sweep_configs(TrainConfig(epochs=epochs, model=model), len(data.train_x))[0][rates]
    pool, seen = CountingPool(data), []
    swept = lr_sweep(configs, (3, 7), [], Trainer.of(data, pool), len(data.train_x), done=seen.append)
    assert pool.calls == [] and pool.runs == len(configs) and seen == swept
    for run in swept:
        assert [r.valid_acc for r in run.records] == [r.valid_acc for r in train(run.config, data)]


@pytest.mark.slow
def test_the_worker_pool_gives_the_same_points(data):
    configs = [dataclasses.replace(c, epochs=3) for c in sweep_configs(TrainConfig(), len(data.train_x))[0][5:8]]
    pool = TrainingPool(1)
    try:
        pooled = lr_sweep(configs, (3, 7), [], Trainer.of(data, pool), len(data.train_x))
    finally:
        pool.close()
    in_thread = lr_sweep(configs, (3, 7), [], Trainer.of(data), len(data.train_x))
    assert [r.last.valid_acc for r in pooled] == [r.last.valid_acc for r in in_thread]


def test_a_long_sweep_is_capped_to_one_runs_cost(data):
    configs, note = sweep_configs(TrainConfig(epochs=1000), len(data.train_x))
    total = sum(c.epochs for c in configs) * len(data.train_x)
    assert total <= MAX_SAMPLE_EPOCHS and configs[0].epochs == 83 and "83 epochs" in note


@pytest.mark.parametrize("lr,slider", [(1.1e-6, 0.001), (0.083, 0.1), (0.2, 0.3), (0.33, 0.3), (4e3, 1000.0)])
def test_a_suggestion_snaps_to_the_sliders_scale(lr, slider):
    assert snapped(lr) == slider


@pytest.mark.slow
def test_a_waiting_sweep_hears_its_place_and_can_be_stopped(data):
    """Behind a long run on the only worker, the sweep is told it waits; a page stopped then leaves no empty run."""
    from digitviz.workers import RunBudgetError, Waiting

    class Stopped(Exception):
        pass

    def stop(item):
        heard.append(item)
        raise Stopped

    def train_long():
        try:
            for _ in pool.train(TrainConfig(epochs=5000), (3, 7), cpu_seconds=3.0):
                started.set()
        except RunBudgetError:  # its end: 3 s of a worker
            pass

    pool, heard, history, started = TrainingPool(1), [], [], threading.Event()
    try:
        long = threading.Thread(target=train_long)
        long.start()
        assert started.wait(60)  # it holds the only worker now, in its first share
        configs = sweep_configs(TrainConfig(epochs=2), len(data.train_x))[0][:2]
        with pytest.raises(Stopped):
            lr_sweep(configs, (3, 7), history, Trainer.of(data, pool), len(data.train_x), waiting=stop)
        assert heard and isinstance(heard[0], Waiting) and history == []
        long.join(60)
    finally:
        pool.close()
