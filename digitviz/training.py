"""One way in: a run's next records, however this server computes them.

The page asks a Trainer for a run's records and draws the one stream it gets: the run's EpochRecords, with a
Waiting (digitviz.workers) now and then while the run is in line. Where the records come from is decided here:

- a fresh run goes through the server's trajectory cache (digitviz.trajectories): whoever asks for a config first
  computes it, and everyone asking for the same config meanwhile or later reads the same records;
- Step and Resume go on with one student's own run, from its last record;
- the computing is the worker pool's (digitviz.workers), where waiting runs that share a data stream train as one
  carpool (digitviz.carpool); a server without workers trains in the asking thread instead, under one of a few
  training slots, so that a class's runs take turns rather than all crawling at once.

Nothing here imports Streamlit: the page's resources build one Trainer per server (digitviz.ui.resources.trainer).

    trainer = Trainer(pool, slots, TrajectoryCache(64 * 2**20), lesson)
    for item in trainer.records(run, config, session):
        ...  # an EpochRecord to add to the run, or a Waiting to show
"""
import dataclasses
import threading

from digitviz.trajectories import TrajectoryCache, data_key
from digitviz.workers import Waiting

CHUNK_SECONDS = 0.25  # the workers hand back a run's records at least 4 times a second
SLOT_POLL_SECONDS = 1.0  # how often a run waiting for an in-thread slot says so (each a chance for the page to stop)


def rest_of(config, start):
    """The config of a fresh run's epochs after `start` (None: from the beginning): how a run that someone else
    began goes on. None when nothing is left: all its epochs are done, or it diverged."""
    done = start.epoch if start is not None else 0
    if done >= config.epochs or (start is not None and start.diverged):
        return None
    return dataclasses.replace(config, epochs=config.epochs - done)


class Trainer:
    """How one server computes runs. pool: its worker pool (None: train in the asking thread, under `slots`, a
    semaphore); cache: its TrajectoryCache; lesson(digits) -> (data, fingerprint): the data a run trains on (tensors
    or NumPy arrays: with workers it is never read here) and its key in the cache; chunk_seconds: how often the
    workers hand back records."""

    def __init__(self, pool, slots, cache, lesson, chunk_seconds=CHUNK_SECONDS):
        self.pool, self.slots, self.cache, self.lesson, self.chunk_seconds = pool, slots, cache, lesson, chunk_seconds

    def records(self, run, config, session=None):
        """The run's next config.epochs records (for a fresh run, all of them) and a Waiting now and then while it
        waits its turn. `session`: the browser tab whose share of the workers it draws on. Raises TrainingError
        (digitviz.workers; its message is for the student) when the server cannot finish it."""
        if run.last is not None:  # Step or Resume: this student's own run goes on
            return self._computed(config, run.digits, self.lesson(run.digits)[0], run.last, session)
        return self.fresh(config, run.digits, session)

    def fresh(self, config, digits, session=None):
        """A fresh run's records (and Waitings), through the cache: everyone asking for the same run shares it."""
        data, fingerprint = self.lesson(digits)
        return self.cache.follow((config, digits, fingerprint),
                                 lambda start: self._rest(config, digits, data, start, session))

    @classmethod
    def of(cls, data, pool=None, slots=1, cache_bytes=64 * 2**20):
        """A trainer of one data set with a cache of its own: for tests, a benchmark, a script."""
        fingerprint = data_key(data)
        return cls(pool, threading.BoundedSemaphore(slots), TrajectoryCache(cache_bytes), lambda digits: (
            data, fingerprint))

    def call(self, function, digits, kwargs, guess=CHUNK_SECONDS, waiting=None):
        """function(data=the digits' data, **kwargs): any other computation (a sweep's carpool, the lr finder, the
        mechanics of one SGD step) in a worker, in line like a run's chunk; on a server without workers, in this
        thread once a training slot is free. waiting(Waiting) meanwhile; guess: the seconds it should take, for its
        place in line."""
        if self.pool is not None:
            return self.pool.call(function, digits, kwargs, guess=guess, waiting=waiting)
        for item in self._take_slot():
            if waiting:
                waiting(item)
        try:
            return function(data=self.lesson(digits)[0], **kwargs)  # NumPy arrays, as a worker holds them
        finally:
            self.slots.release()

    def prepare(self, config, digits):
        """Start computing a fresh run that a whole class will ask for at once (a round's experiment, while the
        class votes), so that its records are in the cache when they do; True if this started it. Only with
        workers: without them it would take a training slot that a page is waiting for."""
        if self.pool is None:
            return False
        data, fingerprint = self.lesson(digits)
        return self.cache.prepare((config, digits, fingerprint), lambda start: self._rest(config, digits, data, start))

    def _rest(self, config, digits, data, start, session=None):
        rest = rest_of(config, start)
        return iter(()) if rest is None else self._computed(rest, digits, data, start, session)

    def _computed(self, config, digits, data, start, session):
        if self.pool is not None:
            return self.pool.train(config, digits, start=start, chunk_seconds=self.chunk_seconds, session=session)
        return self._in_thread(config, data, start)

    def _in_thread(self, config, data, start):
        """engine.train, holding a training slot while it runs."""
        from digitviz.engine import train  # torch: a server with workers never loads it for this
        yield from self._take_slot()
        try:
            yield from train(config, data, start=start)
        finally:
            self.slots.release()

    def _take_slot(self):
        """Take a training slot; a Waiting every SLOT_POLL_SECONDS until one is free (a generator: `yield from`)."""
        while not self.slots.acquire(timeout=SLOT_POLL_SECONDS):
            yield Waiting(0, SLOT_POLL_SECONDS, slot=True)
