"""Training in worker processes gives exactly the records of training in one go, shares the workers fairly, and
survives its workers dying or hanging (real processes, real signals)."""
import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from types import SimpleNamespace

import numpy as np
import psutil
import pytest
import torch

from digitviz import TrainConfig, train, workers
from digitviz.data import LESSON_DIGITS
from digitviz.workers import (
    CLOSING,
    WORKER_LOST,
    WORKER_STUCK,
    RunBudgetError,
    TrainingError,
    TrainingPool,
    Waiting,
    shared_pool,
)
from tests.unit.worker_probes import torch_threads
from tools.processes import gone, hold_until

FIELDS = ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "diverged")
LONG = TrainConfig(epochs=5000)  # more than LONG_CPU_SECONDS of training: it ends at its budget
LONG_CPU_SECONDS = 2.0


@pytest.fixture(scope="module")
def pool():
    pool = TrainingPool(2)
    yield pool
    pool.close()


@pytest.fixture(autouse=True)
def one_thread():
    """Workers train on one thread; float sums depend on how the work is split, so compare like with like."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def records_of(items):
    """The EpochRecords of a run, leaving out the Waiting notes (how long a run waits depends on the machine)."""
    return [i for i in items if not isinstance(i, Waiting)]


class Background:
    """A run consumed on a thread of its own, as a page's script thread would: its items, times and error."""

    def __init__(self, pool, config, **kw):
        self.items, self.error, self.finished_at = [], None, None
        self.thread = threading.Thread(target=self._consume, args=(pool.train(config, (3, 7), **kw),))
        self.started_at = time.monotonic()
        self.thread.start()

    def _consume(self, run):
        try:
            for item in run:
                self.items.append((time.monotonic(), item))
        except Exception as e:
            self.error = e
        self.finished_at = time.monotonic()

    def records(self):
        return records_of(item for _, item in self.items)

    def wait_for_records(self, timeout=60):
        deadline = time.monotonic() + timeout
        while not self.records() and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.records(), f"no records within {timeout} s (error: {self.error!r})"

    def join(self, timeout=120):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not end"


def busy_pids(pool, seconds=0.5):
    """The workers that are computing now: their CPU time grows. A worker still starting (importing torch,
    loading the carpool kernel) computes too, so wait until none is."""
    wait_until(lambda: not pool._starting, "every worker started")
    before = {pid: sum(psutil.Process(pid).cpu_times()[:2]) for pid in pool.pids()}
    time.sleep(seconds)
    return [pid for pid, cpu in before.items() if sum(psutil.Process(pid).cpu_times()[:2]) > cpu + 0.05]



def wait_until(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.001)


def mid_chunk(pool, workers, margin=0.1):
    """`workers` workers are computing chunks that should go on for `margin` seconds more (the pool's own guesses)."""
    with pool._lock:
        ends = [ends for ends, _, _ in pool._busy.values()]
    return len(ends) == workers and min(ends) - time.monotonic() > margin


def assert_next_run_works(pool, data):
    """A run trains to the engine's own numbers (to its end, without data: a pool just started is ready after it)."""
    config = TrainConfig(epochs=3, seed=5, shuffle=True)
    there = records_of(pool.train(config, (3, 7)))
    assert len(there) == 3
    if data is not None:
        assert [r.valid_acc for r in there] == [r.valid_acc for r in train(config, data)]


def test_records_survive_pickling_frozen(data):
    record = next(train(TrainConfig(epochs=1), data))
    back = pickle.loads(pickle.dumps(record))
    assert [getattr(back, f) for f in FIELDS] == [getattr(record, f) for f in FIELDS]
    np.testing.assert_array_equal(back.weights, record.weights)
    with pytest.raises(ValueError):
        back.params["weights"][0] = 1.0
    with pytest.raises(TypeError):
        back.params["weights"] = None


@pytest.mark.parametrize("config", [TrainConfig(epochs=12, shuffle=True, seed=3),
                                    TrainConfig(epochs=6, model="two_layer", lr=0.5)])
@pytest.mark.slow
def test_chunked_in_workers_equals_one_go(pool, data, config):
    here = list(train(config, data))
    there = records_of(pool.train(config, (3, 7), chunk_seconds=0.005))  # tiny chunks: many hand-overs
    assert [[getattr(r, f) for f in FIELDS] for r in there] == [[getattr(r, f) for f in FIELDS] for r in here]
    for a, b in zip(here, there):
        np.testing.assert_array_equal(a.params["weights"], b.params["weights"])
    assert there[-1].seconds > 0


@pytest.mark.slow
def test_a_continued_run_and_a_diverging_one(pool, data):
    first = list(train(TrainConfig(epochs=3), data))
    more = records_of(pool.train(dataclasses.replace(TrainConfig(), epochs=2), (3, 7), start=first[-1]))
    assert [r.epoch for r in more] == [4, 5]
    assert [r.valid_acc for r in more] == [r.valid_acc for r in list(train(TrainConfig(epochs=5), data))[3:]]
    blown = records_of(pool.train(TrainConfig(lr=1000.0, epochs=50), (3, 7)))
    assert len(blown) == 2 and "gradient is zero" in blown[-1].diverged


@pytest.mark.slow
def test_a_bad_config_raises_its_own_error_and_the_worker_stays(pool):
    with pytest.raises(ValueError, match="batch_size must be from 1 to"):
        records_of(pool.train(TrainConfig(batch_size=10**6, epochs=2), (3, 7)))
    assert len(pool.pids()) == 2


@pytest.mark.slow
def test_a_killed_worker_ends_only_its_run(pool, data):
    """SIGKILL, as the out-of-memory killer sends it: that run gets a message, the other run goes on exactly."""
    # Runs that end at their CPU budget, not at their last epoch: still training when the kill comes, on any machine.
    configs = [dataclasses.replace(LONG, seed=seed) for seed in (1, 2)]
    runs = [Background(pool, config, cpu_seconds=LONG_CPU_SECONDS) for config in configs]
    for run in runs:
        run.wait_for_records()
    killed = busy_pids(pool)[0]
    os.kill(killed, signal.SIGKILL)
    for run in runs:
        run.join()
    lost = [run for run in runs if not isinstance(run.error, RunBudgetError)]
    assert len(lost) == 1, [run.error for run in runs]
    assert isinstance(lost[0].error, TrainingError) and str(lost[0].error).startswith(WORKER_LOST)
    fine, config = next((run, config) for run, config in zip(runs, configs) if run is not lost[0])
    epochs = dataclasses.replace(config, epochs=len(fine.records()))
    assert [r.valid_acc for r in fine.records()] == [r.valid_acc for r in train(epochs, data)]
    assert gone(killed, timeout=5)
    deadline = time.monotonic() + 60
    while (len(pool.pids()) != 2 or killed in pool.pids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(pool.pids()) == 2 and killed not in pool.pids()
    assert_next_run_works(pool, data)


@pytest.mark.slow
def test_a_hung_worker_is_killed_and_its_run_told(pool, data, monkeypatch):
    """SIGSTOP: the run's chunk makes no progress; after STALL_SECONDS the worker is killed and replaced."""
    monkeypatch.setattr(workers, "STALL_SECONDS", 1.0)
    run = Background(pool, LONG, cpu_seconds=LONG_CPU_SECONDS)
    run.wait_for_records()
    # the worker in the middle of the run's chunk, as the pool itself records it (sampling CPU time missed it once,
    # on a loaded machine); stopped at once, with a tenth of a second of its chunk to go at least
    wait_until(lambda: mid_chunk(pool, workers=1), "the run in the middle of a chunk")
    with pool._lock:
        stopped = next(iter(pool._busy)).pid
    os.kill(stopped, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        run.join(30)
    finally:
        try:
            os.kill(stopped, signal.SIGCONT)  # so that a failing test leaves no stopped process behind
        except ProcessLookupError:
            pass
    assert isinstance(run.error, TrainingError) and str(run.error).startswith(WORKER_STUCK)
    assert run.finished_at - stopped_at < 1.0 + 2.0  # the stall limit and a few watch intervals
    assert gone(stopped, timeout=5)
    assert_next_run_works(pool, data)


@pytest.mark.slow
def test_a_short_run_does_not_wait_behind_long_ones(pool, data):
    """Two long runs hold both workers; a short one gets a turn after a chunk (or sooner: a long run's chunk gives
    way to it), and if it is told to wait, its place and a fair guess."""
    # The short run is sent only while both workers are in the middle of a long run's chunk, so it arrives while
    # they are held, however fast the machine (between two chunks a worker is free for a moment). Budgets of 4 s:
    # after the chunk the short one waits for, the long runs have seconds to go, far longer than it needs. Whether it
    # hears a Waiting depends on the machine: a long run past its first share gives way within PREEMPT_SECONDS,
    # sooner than a waiting run is first told its place (WATCH_SECONDS); the class test below always hears one.
    longs = [Background(pool, config, cpu_seconds=2 * LONG_CPU_SECONDS, chunk_seconds=0.25)
             for config in (LONG, dataclasses.replace(LONG, seed=1))]
    for run in longs:
        run.wait_for_records()
    wait_until(lambda: mid_chunk(pool, workers=2), "both long runs in the middle of a chunk")
    short = Background(pool, TrainConfig(epochs=20, seed=2), chunk_seconds=0.25)
    short.join(30)
    assert short.error is None and len(short.records()) == 20
    waits = [item for _, item in short.items if isinstance(item, Waiting)]
    first_record_at = next(t for t, item in short.items if not isinstance(item, Waiting))
    assert all(wait.position in (1, 2) for wait in waits)  # at most the two long runs ahead
    told = waits[0].eta_seconds if waits else 0.0
    assert first_record_at - short.started_at < told + 1.5  # the estimate was honest, or there was no wait to speak of
    assert all(run.finished_at is None for run in longs)  # it did not wait for the long runs to end
    for run in longs:  # they end at their CPU budget
        run.join(120)
        assert isinstance(run.error, RunBudgetError)


@pytest.mark.slow
def test_a_class_gets_its_runs_back_in_the_order_it_asked(tmp_path):
    """Short runs (inside their first share) are served first come, first served, even a chunk at a time: the first
    student's run is done before the fourth's starts, where taking turns would finish them all at the very end."""
    pool = TrainingPool(1)
    try:
        assert_next_run_works(pool, None)
        release = tmp_path / "release"
        blocker = threading.Thread(target=pool.call, args=(hold_until, (3, 7), dict(path=str(release))))
        blocker.start()  # holds the only worker until the class has lined up, however fast the machine
        wait_until(lambda: len(pool._busy) == 1, "the blocker holding the worker")
        runs = []
        for seed in range(4):
            # shuffled, each its own batch order: no two can share a carpool (a carpool would finish them together);
            # 8 epochs fit a first share (1 s) even on a loaded machine (55 ms an epoch seen)
            runs.append(Background(pool, TrainConfig(epochs=8, seed=seed, shuffle=True), chunk_seconds=0.01))
            wait_until(lambda: runs[-1].items, "the run told its place in line")  # as students click, one by one
            assert isinstance(runs[-1].items[0][1], Waiting) and runs[-1].items[0][1].position == seed + 1
        with pytest.raises(dataclasses.FrozenInstanceError):
            runs[0].items[0][1].position = 0
        release.touch()
        blocker.join(60)
        for run in runs:
            run.join(60)
            assert run.error is None and len(run.records()) == 8
        first_record_at = [next(t for t, item in run.items if not isinstance(item, Waiting)) for run in runs]
        assert runs[0].finished_at <= first_record_at[3]
        assert [run.finished_at for run in runs] == sorted(run.finished_at for run in runs)
    finally:
        pool.close()


@pytest.mark.slow
def test_a_call_runs_in_a_worker_on_its_digits(pool, data):
    from digitviz.mechanics import forgotten_zero
    params = next(train(TrainConfig(epochs=1), data)).params
    kwargs = dict(params=dict(params), config=TrainConfig(), epoch=2, batches=3)
    assert pool.call(forgotten_zero, (3, 7), kwargs) == forgotten_zero(data=data, **kwargs)
    with pytest.raises(TypeError, match="unexpected keyword argument"):  # its own error, raised here
        pool.call(forgotten_zero, (3, 7), {**kwargs, "nonsense": 1})
    with pytest.raises(TypeError, match="pickle"):  # what can't travel to a worker fails before it waits for one
        pool.call(forgotten_zero, (3, 7), {**kwargs, "params": params})
    assert len(pool.pids()) == 2
    assert_next_run_works(pool, data)


def digits_read(data):
    """In a worker: how often it has read digits from the bundle itself, and found them already read."""
    from digitviz.workers import _worker_data
    info = _worker_data.cache_info()
    return info.misses, info.hits


def test_a_new_worker_has_the_lessons_digits_already(data):
    """The fork server reads them before it forks any worker: a class's first run does not wait for the read."""
    pool = TrainingPool(1)
    try:
        misses, hits = pool.call(digits_read, LESSON_DIGITS, {})
    finally:
        pool.close()
    assert (misses, hits) == (1, 1)  # the read was the fork server's; the call found them


def test_a_worker_trains_the_kernels_models_without_torch_and_loads_it_for_the_rest(data):
    """torch takes a worker about 2 s to import, so its fork server leaves it out: runs of the kernel's models (a
    shuffled one, the two-layer net's, a sweep's carpool) and the Inside SGD views never load it, and what needs it
    (the lr finder, fastai's Learner) loads it, on one thread."""
    from digitviz.lr_finder import sweep
    from digitviz.lr_sweep import sweep_records
    from digitviz.mechanics import steepest_pixel
    pool = TrainingPool(1)
    try:
        for config in (TrainConfig(epochs=3, seed=5, shuffle=True), TrainConfig(epochs=2, model="two_layer")):
            there = records_of(pool.train(config, LESSON_DIGITS))
            assert [[getattr(r, f) for f in FIELDS] for r in there] == [[getattr(r, f) for f in FIELDS]
                                                                        for r in train(config, data)]
        swept = pool.call(sweep_records, LESSON_DIGITS, {"configs": [TrainConfig(epochs=1, lr=lr) for lr in (1, 2)]})
        assert [r[0].valid_acc for r in swept] == [next(train(TrainConfig(epochs=1, lr=lr), data)).valid_acc
                                                   for lr in (1, 2)]
        params = dict(next(train(TrainConfig(epochs=1), data)).params)
        assert pool.call(steepest_pixel, LESSON_DIGITS, {"params": params}) == steepest_pixel(params, data)
        assert pool.call(torch_threads, LESSON_DIGITS, {}) is None
        assert pool.call(sweep, LESSON_DIGITS, {"config": TrainConfig(), "num_it": 5}) == sweep(TrainConfig(), data,
                                                                                                num_it=5)
        assert pool.call(torch_threads, LESSON_DIGITS, {}) == 1
    finally:
        pool.close()


@pytest.mark.slow
def test_a_call_waits_its_turn_and_can_leave_the_line(data):
    """While the only worker trains a long run, a call hears its place; a page stopped while waiting leaves the
    line, so the next one in is first."""
    from digitviz.mechanics import forgotten_zero
    pool = TrainingPool(1)

    class Stopped(Exception):
        pass

    def stop(item):
        heard.append(item)
        raise Stopped

    try:
        long = Background(pool, LONG, cpu_seconds=LONG_CPU_SECONDS)
        long.wait_for_records()
        heard = []
        with pytest.raises(Stopped):
            pool.call(forgotten_zero, (3, 7), {}, waiting=stop)
        assert heard and heard[0].position == 1
        short = Background(pool, TrainConfig(epochs=2, shuffle=True))  # its own batches: no carpool with the long run
        short.join()  # a call left behind in line, never to take its turn, would hold it up for good
        waits = [item for _, item in short.items if isinstance(item, Waiting)]
        assert short.error is None and all(w.position == 1 for w in waits)
        long.join()
    finally:
        pool.close()


@pytest.mark.slow
def test_a_call_whose_worker_dies_gets_a_message_without_epochs(data):
    from digitviz.mechanics import forgotten_zero
    pool = TrainingPool(1)
    try:
        assert_next_run_works(pool, None)
        params = dict(next(train(TrainConfig(epochs=1), data)).params)
        failed = []

        def call():
            try:
                pool.call(forgotten_zero, (3, 7), dict(params=params, config=TrainConfig(), epoch=2, batches=10**5))
            except TrainingError as e:
                failed.append(e)
        caller = threading.Thread(target=call)
        caller.start()
        (busy,) = busy_pids(pool)
        os.kill(busy, signal.SIGKILL)
        caller.join(30)
        assert [str(e) for e in failed] == [WORKER_LOST]  # a call has no epochs to keep: no "press Resume"
        assert_next_run_works(pool, data)
    finally:
        pool.close()


@pytest.mark.slow
def test_a_run_stops_at_its_cpu_budget(pool):
    run = pool.train(LONG, (3, 7), cpu_seconds=0.5)
    records = []
    with pytest.raises(RunBudgetError, match=r"used its share of the server \(0.5 s of computing\)") as e:
        for item in run:
            records += records_of([item])
    assert 0 < len(records) < LONG.epochs
    assert f"stopped at epoch {records[-1].epoch}" in str(e.value)
    assert records[-1].seconds > 0.3  # its wall-clock training time: at least the CPU time, on one thread


@pytest.mark.slow
def test_a_sessions_budget_carries_over_resume_and_is_its_own(pool, monkeypatch):
    """Budgets are a session's, not a click's: after Train has used the session's share, Resume trains nothing
    more (before, each Resume got a fresh 20 s), while another session's run trains."""
    monkeypatch.setattr(workers, "SESSION_CPU_SECONDS", 1.0)
    monkeypatch.setattr(workers, "SESSION_REFILL", 0.0)
    trained = []
    with pytest.raises(RunBudgetError, match="This page has used its share") as e:
        for item in pool.train(LONG, (3, 7), session="budget-a"):
            trained += records_of([item])
    assert 0 < len(trained) < LONG.epochs and f"at epoch {trained[-1].epoch}" in str(e.value)
    resumed = []
    with pytest.raises(RunBudgetError, match="This page has used its share"):
        for item in pool.train(LONG, (3, 7), start=trained[-1], session="budget-a"):  # Resume
            resumed += records_of([item])
    assert resumed == []
    assert len(records_of(pool.train(TrainConfig(epochs=3), (3, 7), session="budget-b"))) == 3


@pytest.mark.slow
def test_a_session_has_at_most_session_runs_in_the_pool(pool, monkeypatch):
    """A tab's new click while its old run still trains: the new run waits, told so, until the old one leaves."""
    monkeypatch.setattr(workers, "SESSION_RUNS", 1)
    old = Background(pool, LONG, cpu_seconds=LONG_CPU_SECONDS, session="one-tab")
    old.wait_for_records()
    new = Background(pool, TrainConfig(epochs=2), session="one-tab")
    other = Background(pool, TrainConfig(epochs=2), session="another-tab")
    other.join()
    assert other.error is None and len(other.records()) == 2
    wait_until(lambda: new.items, "the new run told that it waits")  # its first word comes after a watch interval
    assert new.thread.is_alive() and new.records() == [], "it waited for the old run"
    old.join()
    new.join()
    assert isinstance(old.error, RunBudgetError) and new.error is None and len(new.records()) == 2
    assert old.finished_at <= new.items[-2][0] + 0.001 or old.finished_at <= min(
        t for t, item in new.items if not isinstance(item, Waiting))


def test_a_chunk_gives_way_between_batches_when_asked(data):
    """SIGUSR1 (the pool asking for its worker back) ends a chunk between two SGD steps: its finished epochs come
    back and the epoch under way is dropped. Loading data (and fastai) is never cut short: the pool asks again
    until heard. fastai's Learner steps batch by batch in Python; the kernel's models only at an epoch's end."""
    previous = signal.signal(signal.SIGUSR1, workers._preempt)
    stop = threading.Event()

    def ask_back():
        while not stop.wait(0.2):
            os.kill(os.getpid(), signal.SIGUSR1)

    asker = threading.Thread(target=ask_back)
    try:
        asker.start()
        status, [(run_status, records)], cpu = workers.train_chunk(
            [TrainConfig(epochs=1000, batch_size=1, model="fastai")], (3, 7), [None], 100.0)
        stop.set()
        asker.join()
        assert status == run_status == "done" and len(records) <= 1 and cpu < 20  # batch 1: an epoch takes a minute
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGUSR1)  # between chunks it changes nothing
        time.sleep(0.1)
    finally:
        stop.set()
        signal.signal(signal.SIGUSR1, previous)


def test_a_carpool_asked_back_keeps_the_epoch_it_was_in(data):
    """The kernel hears SIGUSR1 only once a block's epoch (one compiled call) returns: that epoch's records, every
    run's, come back with the chunk, and no later epoch begins. (They were dropped: up to a third of a second of a
    worker lost at each first share.)"""
    previous = signal.signal(signal.SIGUSR1, workers._preempt)
    configs = [TrainConfig(epochs=3, model="two_layer", seed=seed) for seed in range(12)]  # 0.3 s an epoch

    def ask_back_once_training():
        deadline = time.monotonic() + 60
        while workers._giving_way is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.05)  # inside the first epoch
        os.kill(os.getpid(), signal.SIGUSR1)

    asker = threading.Thread(target=ask_back_once_training)
    try:
        asker.start()
        status, outcomes, _ = workers.train_chunk(configs, (3, 7), [None] * len(configs), 100.0)
        asker.join()
        assert status == "done" and [len(records) for _, records in outcomes] == [1] * len(configs)
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_an_epoch_is_in_once_every_run_still_training_has_it():
    def made(n, diverged=""):
        return [SimpleNamespace(diverged="")] * (n - 1) + [SimpleNamespace(diverged=diverged)]

    configs = [TrainConfig(epochs=2), TrainConfig(epochs=5), TrainConfig(epochs=5)]
    assert not workers._epoch_in(configs, {0: made(2), 1: made(3), 2: made(2)})  # run 0 has ended; run 2 is behind
    assert workers._epoch_in(configs, {0: made(2), 1: made(3), 2: made(3)})
    assert workers._epoch_in(configs, {0: made(1, "the loss is not a number"), 1: made(3), 2: made(3)})
    assert not workers._epoch_in(configs, {0: made(1), 1: made(3), 2: made(3)})


@pytest.mark.slow
def test_a_newcomer_does_not_wait_for_a_slow_epoch_to_end():
    """One worker, training a run whose epochs take seconds each (fastai's Learner, batch size 8: the kernel's
    models take a tenth of a second at batch size 1); a newcomer's run is done before that run finishes another
    epoch: the epoch under way gave way to it, and is computed again after."""
    pool = TrainingPool(1)
    try:
        assert_next_run_works(pool, None)
        slow = Background(pool, TrainConfig(model="fastai", batch_size=8, epochs=50), session="slow",
                          cpu_seconds=16)  # importing fastai, then about 3 s an epoch
        slow.wait_for_records()  # an epoch timed: past its first share, a long run's chunk of one epoch
        time.sleep(0.3)
        newcomer = Background(pool, TrainConfig(epochs=3), session="newcomer")
        newcomer.join(60)
        assert newcomer.error is None and len(newcomer.records()) == 3
        during = [t for t, item in slow.items if newcomer.started_at <= t <= newcomer.finished_at]
        assert during == [], "the newcomer waited for a slow epoch to end"
        slow.join(60)
        assert isinstance(slow.error, RunBudgetError) and len(slow.records()) >= 2  # the slow run went on after
    finally:
        pool.close()


@pytest.mark.slow
def test_close_ends_runs_and_workers_at_once(data):
    pool = TrainingPool(1)
    run = Background(pool, LONG, cpu_seconds=LONG_CPU_SECONDS)
    run.wait_for_records()
    pids = pool.pids()
    began = time.monotonic()
    pool.close()
    run.join(5)
    assert time.monotonic() - began < 3
    assert isinstance(run.error, TrainingError) and str(run.error) == CLOSING
    assert all(gone(pid, timeout=2) for pid in pids)
    with pytest.raises(TrainingError, match=CLOSING):
        records_of(pool.train(TrainConfig(epochs=1), (3, 7)))


@pytest.mark.slow
def test_shared_pool_is_one_per_process_and_comes_back_after_close():
    assert shared_pool(0) is None  # no workers: the page trains in its own thread
    first = shared_pool(1)
    try:
        assert shared_pool(1) is first
        first.close()  # what a cache clearing did to the old pool
        second = shared_pool(1)
        assert second is not first and not second.closed
    finally:
        second.close()


@pytest.mark.slow
def test_workers_die_with_their_server():
    """SIGKILL the process that owns a pool (nothing of it runs at exit): its workers end too, not orphaned."""
    script = textwrap.dedent("""
        import sys, time
        from digitviz.workers import TrainingPool
        if __name__ == "__main__":
            pool = TrainingPool(2)
            while len(pool.pids()) < 2 or pool._starting:
                time.sleep(0.1)
            print(*pool.pids(), flush=True)
            time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        pids = [int(p) for p in owner.stdout.readline().split()]
        forkserver = {psutil.Process(p).ppid() for p in pids}  # the workers' parent: the pool's fork server
        assert len(pids) == 2 and len(forkserver) == 1 and psutil.Process(forkserver.pop()).ppid() == owner.pid
    finally:
        owner.kill()
        owner.wait(10)
    assert all(gone(pid, timeout=5) for pid in pids)
