"""The server-wide run cache: identical records for everyone, one computation, bounded memory."""
import dataclasses
import gc
import threading
import tracemalloc
from types import SimpleNamespace

from digitviz import TrainConfig, load_digits, train
from digitviz.player import run_payload
from digitviz.training import rest_of
from digitviz.trajectories import TrajectoryCache, data_key, record_bytes


def counted(config, data, calls):
    """produce(start) for the cache, counting how many epochs it trains."""
    def produce(start):
        rest = rest_of(config, start)
        for record in train(rest, data, start=start) if rest else ():
            calls.append(record.epoch)
            yield record
    return produce


def test_everyone_gets_the_engines_records_and_it_trains_once(data):
    config, calls = TrainConfig(epochs=5), []
    cache = TrajectoryCache(max_bytes=10 * 2**20)
    expected = [r.valid_acc for r in train(config, data)]
    runs = [[r.valid_acc for r in cache.follow(config, counted(config, data, calls))] for _ in range(3)]
    assert runs == [expected] * 3 and calls == [1, 2, 3, 4, 5]


def test_followers_read_along_while_it_trains(data):
    config, calls, out = TrainConfig(epochs=20), [], {}
    cache = TrajectoryCache(max_bytes=10 * 2**20)

    def student(i):
        out[i] = [r.valid_acc for r in cache.follow(config, counted(config, data, calls), poll_seconds=0.05)]

    threads = [threading.Thread(target=student, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(out.values()) == [[r.valid_acc for r in train(config, data)]] * 4 and calls == list(range(1, 21))


def test_a_run_left_half_way_is_carried_on_by_the_next(data):
    config, calls = TrainConfig(epochs=6), []
    cache = TrajectoryCache(max_bytes=10 * 2**20)
    first = cache.follow(config, counted(config, data, calls))
    partial = [next(first) for _ in range(2)]
    first.close()  # the student pressed Stop: whoever asks next goes on from epoch 2
    rest = [r.valid_acc for r in cache.follow(config, counted(config, data, calls))]
    assert [r.epoch for r in partial] == [1, 2] and calls == [1, 2, 3, 4, 5, 6]
    assert rest == [r.valid_acc for r in train(config, data)]


def test_a_prepared_run_is_computed_once_in_the_background_for_whoever_asks(data):
    config, calls = TrainConfig(epochs=8), []
    cache = TrajectoryCache(max_bytes=10 * 2**20)
    assert cache.prepare(config, counted(config, data, calls))
    assert not cache.prepare(config, counted(config, data, calls))  # under way: not a second computation
    during = [r.valid_acc for r in cache.follow(config, counted(config, data, calls), poll_seconds=0.05)]
    after = [r.valid_acc for r in cache.follow(config, counted(config, data, calls))]
    assert during == after == [r.valid_acc for r in train(config, data)] and calls == list(range(1, 9))
    assert cache.entries[config].done and not cache.prepare(config, counted(config, data, calls))


def test_a_prepared_run_that_fails_is_computed_by_whoever_asks_next(data, caplog):
    config, calls = TrainConfig(epochs=4), []
    cache = TrajectoryCache(max_bytes=10 * 2**20)

    def dies(start):  # a worker dies after the second epoch
        for record in counted(config, data, calls)(start):
            if record.epoch == 3:
                raise RuntimeError("the worker died")
            yield record

    cache.prepare(config, dies)
    for thread in [t for t in threading.enumerate() if t.name == "digitviz-prepare"]:
        thread.join(30)
    assert "a run prepared in advance stopped" in caplog.text
    assert [r.valid_acc for r in cache.follow(config, counted(config, data, calls))] == [
        r.valid_acc for r in train(config, data)]
    assert calls == [1, 2, 3, 3, 4]  # epochs 1 and 2 kept; 3 was lost with the worker, then trained again


def test_memory_is_capped_oldest_finished_first(data):
    one = sum(record_bytes(r) for r in train(TrainConfig(epochs=3), data))
    cache = TrajectoryCache(max_bytes=int(2.5 * one))
    for seed in range(4):
        config = TrainConfig(epochs=3, seed=seed)
        list(cache.follow(config, counted(config, data, [])))
        assert cache.nbytes <= cache.max_bytes
    assert [k.seed for k in cache.entries] == [2, 3]


def test_a_run_too_big_for_the_cache_is_computed_but_not_kept(data):
    config, calls = TrainConfig(epochs=4), []
    cache = TrajectoryCache(max_bytes=3 * record_bytes(next(iter(train(TrainConfig(epochs=1), data)))))
    assert len(list(cache.follow(config, counted(config, data, calls)))) == 4
    assert not cache.entries and cache.nbytes == 0
    list(cache.follow(config, counted(config, data, calls)))
    assert calls == [1, 2, 3, 4] * 2


def test_the_data_is_part_of_the_key(data):
    other = load_digits((1, 8))
    assert data_key(data) == data_key(data) != data_key(other)


def test_the_arithmetic_is_part_of_the_key(data, monkeypatch):
    """Runs made by another kernel differ in the last bits: a cache must not hand them out as this one's."""
    before = data_key(data)
    monkeypatch.setattr("digitviz.trajectories.ARITHMETIC", "another kernel")
    assert data_key(data) != before


def test_the_validation_set_is_part_of_the_key(data):
    """Two data sets that differ only in their validation images give different runs' records (valid_acc)."""
    other = dataclasses.replace(data, valid_x=data.valid_x.flip(0))
    assert data_key(other) != data_key(data) == data_key(dataclasses.replace(data))
    assert data_key(dataclasses.replace(data, valid_y=1 - data.valid_y)) != data_key(data)


def one_record(data):
    return record_bytes(next(iter(train(TrainConfig(epochs=1), data))))


def test_a_run_over_half_the_cache_is_not_kept(data):
    """Half, not all: one run filling the cache would push out everyone else's."""
    cache = TrajectoryCache(max_bytes=5 * one_record(data))  # room for 5 records, 2.5 for one run
    for epochs, kept in ((2, True), (3, False)):
        config = TrainConfig(epochs=epochs)
        list(cache.follow(config, counted(config, data, [])))
        assert (config in cache.entries) == kept, epochs
    assert cache.nbytes == 2 * one_record(data)


def test_a_run_asked_for_again_is_forgotten_last(data):
    """Least recently asked for goes first, not oldest computed: a run the class keeps replaying stays."""
    cache = TrajectoryCache(max_bytes=int(2.5 * 3 * one_record(data)))  # two 3-epoch runs fit, not three
    configs = [TrainConfig(epochs=3, seed=seed) for seed in range(3)]
    calls = []
    for config in configs[:2]:
        list(cache.follow(config, counted(config, data, calls)))
    list(cache.follow(configs[0], counted(configs[0], data, calls)))  # from the cache: nothing trains
    list(cache.follow(configs[2], counted(configs[2], data, calls)))
    assert len(calls) == 9 and [k.seed for k in cache.entries] == [0, 2]


def test_eviction_keeps_a_run_that_is_still_being_computed(data):
    """A run half way through is never forgotten to make room: whoever asks for it meanwhile reads along."""
    cache = TrajectoryCache(max_bytes=int(2.5 * 3 * one_record(data)))
    slow, slow_calls = TrainConfig(epochs=3, seed=10), []
    first = cache.follow(slow, counted(slow, data, slow_calls))
    assert next(first).epoch == 1  # the least recently asked for, and in progress
    for seed in range(3):  # three finished runs push the cache over its limit
        config = TrainConfig(epochs=3, seed=seed)
        list(cache.follow(config, counted(config, data, [])))
        assert slow in cache.entries, seed
    again = cache.follow(slow, counted(slow, data, slow_calls))  # a classmate asks for it meanwhile
    assert next(again).epoch == 1 and [r.epoch for r in first] == [2, 3]
    assert [r.epoch for r in again] == [2, 3] and slow_calls == [1, 2, 3]


def test_record_bytes_is_what_a_drawn_run_holds(data):
    """The cache's cap counts what its runs really hold once the page has drawn them (records and the player's
    maps of them), measured here with tracemalloc: within a quarter."""
    config = TrainConfig(epochs=40)
    list(train(config, data))  # warm: whatever the first run builds once
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run = SimpleNamespace(records=list(train(config, data)), digits=data.digits, config=config, number=1,
                              status="done", target=config.epochs)
        run_payload(run, 0.9, learned=True)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    counted = sum(record_bytes(r) for r in run.records)
    assert 0.75 * held < counted < 1.25 * held, (counted, held)
