"""One way in: whatever computes a run (the run cache, the workers, this thread), the page gets the engine's records."""
import threading

import pytest

from digitviz import TrainConfig, train
from digitviz.runs import start_run
from digitviz.training import Trainer, rest_of
from digitviz.workers import Waiting


class CountingPool:
    """Stands in for the worker pool: trains in this thread with the engine, and counts what it was asked."""

    def __init__(self, data):
        self.data, self.trained, self.calls = data, [], []

    def train(self, config, digits, start=None, chunk_seconds=0.25, session=None):
        self.trained.append((config.epochs, start.epoch if start else 0, session))
        yield Waiting(1, 0.5)  # in line a moment, as a busy pool says
        yield from train(config, self.data, start=start)

    def call(self, function, digits, kwargs, guess=0.25, waiting=None):
        self.calls.append(function.__name__)
        return function(data=self.data, **kwargs)


def records_only(items):
    return [r for r in items if not isinstance(r, Waiting)]


def accuracies(items):
    return [r.valid_acc for r in records_only(items)]


def test_a_fresh_run_is_the_engines_and_the_next_student_reads_it_from_the_cache(data):
    config, pool = TrainConfig(epochs=4, seed=5), CountingPool(data)
    trainer = Trainer.of(data, pool)
    first = list(trainer.records(start_run([], config, (3, 7)), config, session="a"))
    second = list(trainer.records(start_run([], config, (3, 7)), config, session="b"))
    assert accuracies(first) == [r.valid_acc for r in train(config, data)]
    assert second == records_only(first)  # the same records, read: no wait, no work
    assert pool.trained == [(4, 0, "a")]


def test_resume_goes_on_from_the_runs_own_last_record(data):
    config, pool = TrainConfig(epochs=3, lr=0.3), CountingPool(data)
    trainer, run = Trainer.of(data, pool), start_run([], config, (3, 7))
    token = run.claim()
    for record in records_only(trainer.records(run, config)):
        run.add(record, token)
    more = run.more("resume", 1.0, 2)  # two more epochs, at another rate
    rest = accuracies(trainer.records(run, more, session="a"))
    assert rest == [r.valid_acc for r in train(more, data, start=run.last)]
    assert pool.trained == [(3, 0, None), (2, 3, "a")]  # computed anew, from epoch 3: not the cache's run


def test_a_run_begun_elsewhere_goes_on_from_where_it_stopped(data):
    config = TrainConfig(epochs=5)
    *_, third = train(TrainConfig(epochs=3), data)
    assert rest_of(config, None) == config
    assert rest_of(config, third).epochs == 2
    assert rest_of(TrainConfig(epochs=3), third) is None


def test_without_workers_a_run_waits_for_a_training_slot_and_says_so(data, monkeypatch):
    monkeypatch.setattr("digitviz.training.SLOT_POLL_SECONDS", 0.05)
    config = TrainConfig(epochs=2, seed=9)
    trainer = Trainer.of(data)  # no pool: one slot, in this thread
    assert trainer.slots.acquire(timeout=1)  # another student's run holds the only slot
    records = trainer.records(start_run([], config, (3, 7)), config)
    heard = next(records)
    assert heard == Waiting(0, 0.05, slot=True)
    threading.Timer(0.2, trainer.slots.release).start()
    assert accuracies(records) == [r.valid_acc for r in train(config, data)]
    assert trainer.slots.acquire(timeout=0)  # given back once the run ended


def test_a_run_stopped_while_it_trains_gives_its_slot_back(data):
    config = TrainConfig(epochs=50)
    trainer = Trainer.of(data)
    records = trainer.records(start_run([], config, (3, 7)), config)
    next(records)
    assert not trainer.slots.acquire(timeout=0)
    records.close()  # the page stopped: Stop, a closed tab
    assert trainer.slots.acquire(timeout=0)


def test_a_prepared_run_is_computed_once_and_read_by_the_class(data):
    config, pool = TrainConfig(epochs=3, seed=11), CountingPool(data)
    trainer = Trainer.of(data, pool)
    assert trainer.prepare(config, (3, 7)) and not trainer.prepare(config, (3, 7))
    read = accuracies(trainer.records(start_run([], config, (3, 7)), config, session="late"))
    assert read == [r.valid_acc for r in train(config, data)] and pool.trained == [(3, 0, None)]


def test_without_workers_nothing_is_prepared(data):
    assert not Trainer.of(data).prepare(TrainConfig(epochs=3), (3, 7))


@pytest.mark.parametrize("with_pool", [True, False])
def test_a_call_gets_the_digits_data_in_a_worker_or_here(data, with_pool):
    pool = CountingPool(data)
    trainer = Trainer.of(data, pool if with_pool else None)

    def size(data, extra):
        return len(data.train_x) + extra

    assert trainer.call(size, (3, 7), {"extra": 1}) == len(data.train_x) + 1
    assert pool.calls == (["size"] if with_pool else [])
