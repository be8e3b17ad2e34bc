"""The pool's carpools: runs waiting for a worker that see the same batches train as one block, and each gets
exactly the records it would get alone (real worker processes)."""
import dataclasses
import threading

import pytest

from digitviz import TrainConfig, train
from digitviz.workers import WORKER_LOST, TrainingError, TrainingPool, Waiting
from tests.unit.test_carpool import assert_same
from tools.processes import hold_until

pytestmark = pytest.mark.slow  # worker processes: seconds each


class Run:
    """A run consumed on a thread of its own, as a page's script thread would."""

    def __init__(self, pool, config):
        self.config, self.items, self.error = config, [], None
        self.thread = threading.Thread(target=self._consume, args=(pool.train(config, (3, 7)),))
        self.thread.start()

    def _consume(self, run):
        try:
            for item in run:
                self.items.append(item)
        except Exception as e:
            self.error = e

    def records(self):
        self.thread.join(120)
        assert not self.thread.is_alive(), "the run did not end"
        return [item for item in self.items if not isinstance(item, Waiting)]


def held(pool, tmp_path):
    """Hold the pool's only worker until the returned function is called, so that a class lines up behind it."""
    release = tmp_path / "release"
    blocker = threading.Thread(target=pool.call, args=(hold_until, (3, 7), dict(path=str(release))))
    blocker.start()
    deadline = threading.Event()
    while not pool._busy:
        deadline.wait(0.01)

    def let_go():
        release.touch()
        blocker.join(60)
    return let_go


@pytest.fixture
def pool():
    pool = TrainingPool(1)
    yield pool
    pool.close()


def lined_up(pool, configs):
    """Start each run and wait until it waits in line (a class clicking Train while the worker is busy)."""
    runs = []
    for config in configs:
        runs.append(Run(pool, config))
        while not runs[-1].items:
            threading.Event().wait(0.01)
    return runs


def test_a_class_in_line_trains_as_carpools_with_each_runs_own_numbers(pool, data, tmp_path):
    """Mixed settings: the runs that share a stream ride together, the others train alone; every run's records
    are the engine's for its settings, bit for bit (a leaked or shifted row would show)."""
    lesson = TrainConfig(epochs=12)
    configs = [dataclasses.replace(lesson, seed=seed, lr=lr, init_std=std)
               for seed, lr, std in [(0, 1.0, 1.0), (1, 0.1, 1.0), (2, 1.0, 0.1), (3, 3.0, 0.5), (4, 1.0, 1.0)]]
    configs += [dataclasses.replace(lesson, epochs=5, seed=5),  # ends early: the block goes on without it
                dataclasses.replace(lesson, lr=1e6, seed=6),  # diverges: leaves the block, the others go on
                dataclasses.replace(lesson, batch_size=64, seed=7),  # other batches: another carpool
                dataclasses.replace(lesson, shuffle=True, seed=8),  # another order
                TrainConfig(model="two_layer", epochs=3, seed=9),  # another model: a block of its own
                TrainConfig(model="two_layer", epochs=2, seed=10, lr=0.5)]
    let_go = held(pool, tmp_path)
    runs = lined_up(pool, configs)
    let_go()
    for run in runs:
        there = run.records()
        assert run.error is None, run.error
        assert_same(there, list(train(run.config, data)))
    assert pool.carpools >= 1 and pool.carpooled >= 6  # the lesson's six at least trained together once


def test_a_carpools_epoch_stays_short_whatever_its_model(pool, data, tmp_path, monkeypatch):
    """A block's epoch is one compiled call, which a newcomer's turn waits for: the two-layer net's runs (thirty rows
    each) ride at most nine to a carpool, the lesson's runs (one row) all together; each with its own numbers."""
    sizes, riders = [], pool._riders
    monkeypatch.setattr(pool, "_riders", lambda chunk: sizes.append(1 + len(taken := riders(chunk))) or taken)
    two_layer = [TrainConfig(model="two_layer", epochs=1, seed=seed) for seed in range(12)]
    lesson = [TrainConfig(epochs=1, seed=seed) for seed in range(12)]
    let_go = held(pool, tmp_path)
    runs = lined_up(pool, two_layer + lesson)
    let_go()
    for run in runs:
        assert run.error is None, run.error
        assert_same(run.records(), list(train(run.config, data)))
    assert sorted(size for size in sizes if size > 1) == [3, 9, 12]


def test_a_carpools_worker_lost_ends_its_leaders_run_and_the_riders_go_on(pool, data, tmp_path, monkeypatch):
    """The fault is the leader's run's, as a solo chunk's would be; the runs that rode with it queue again and
    finish with their own numbers."""
    configs = [TrainConfig(epochs=300, seed=seed) for seed in range(4)]
    let_go = held(pool, tmp_path)
    runs = lined_up(pool, configs)
    let_go()
    while not any(item for item in runs[0].items if not isinstance(item, Waiting)):
        threading.Event().wait(0.01)
    worker, = pool._busy  # the carpool's worker, in the middle of a chunk
    worker.process.kill()
    results = [(run.records(), run.error) for run in runs]
    lost = [error for _, error in results if error is not None]
    assert len(lost) <= 1 and all(isinstance(e, TrainingError) and str(e).startswith(WORKER_LOST) for e in lost)
    for (records, error), config in zip(results, configs):
        alone = list(train(config, data))
        assert_same(records, alone if error is None else alone[:len(records)])
