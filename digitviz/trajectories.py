"""A server-wide cache of training runs, so that a class pressing Train on the same settings pays for one run.

The engine is deterministic: the same config and data give the same records. So the first student to ask for a
run computes it, and everyone asking for the same run meanwhile or later follows along, reading the same records
as they are computed (their browsers still play them epoch by epoch, as if live). If whoever was computing it
leaves (Stop, a closed tab), the next follower carries on from the last record, which gives the same run
(engine.train continued from a record). Finished runs are forgotten, oldest first, beyond `max_bytes`.
"""
import hashlib
import logging
import threading
from collections import OrderedDict

import numpy as np

from digitviz.blocks import ARITHMETIC


def data_key(data):
    """A fingerprint of a data set's arrays (tensors or NumPy: the same numbers give the same key) and of the
    arithmetic that trains on them: part of a run's key, with its full config. Runs made by another kernel (another
    ARITHMETIC) differ in the last bits: they never mix."""
    h = hashlib.sha1(repr((data.digits, data.source, ARITHMETIC)).encode())
    for t in (data.train_x, data.train_y, data.valid_x, data.valid_y):
        h.update(np.ascontiguousarray(t).tobytes())
    return h.hexdigest()


def record_bytes(record):
    """About what a record holds in memory once the player has drawn it: its arrays, about 700 bytes of objects,
    and its weight map and change map quantised (one byte a weight and a few hundred bytes each, kept beside the
    record by digitviz.player). Measured for a 1,000-epoch run: 3.9 kB a record, and 1.2 kB of maps (not every
    epoch's map is drawn at that length)."""
    return 700 + sum(a.nbytes for a in record.params.values()) + 2 * (record.params["weights"].size + 400)


class Trajectory:
    """One run's records, growing while someone computes them."""

    def __init__(self):
        self.records = []
        self.done = False  # all its epochs are here (or it diverged)
        self.producing = False  # someone is computing its next records now
        self.nbytes = 0
        self.changed = threading.Condition()


class TrajectoryCache:
    """Runs by key (the full config and the data), at most about `max_bytes` of records in all."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.entries = OrderedDict()  # key -> Trajectory, least recently asked for first
        self.nbytes = 0
        self.lock = threading.Lock()

    def follow(self, key, produce, poll_seconds=1.0):
        """Yield run `key`'s records in order: those computed so far, then each as it is computed.

        produce(start) -> the records after `start` (None: from the beginning); it is called when nobody is
        computing the run: by the first to ask, or by a follower once whoever was computing it has left.
        """
        entry = self._entry(key)
        seen = 0
        while True:
            with entry.changed:
                while seen == len(entry.records) and not entry.done and entry.producing:
                    entry.changed.wait(poll_seconds)
                ready = entry.records[seen:]
                finished = entry.done
                mine = not ready and not finished and not entry.producing
                if mine:
                    entry.producing = True
            if ready:
                seen += len(ready)
                yield from ready
            elif finished:
                return
            elif mine:
                yield from self._produce(key, entry, produce)
                return

    def prepare(self, key, produce):
        """Compute run `key` in a background thread unless it is cached or under way, so that a run a whole class
        will ask for at the same moment (a round's reveal) is ready when they do; True if this started it. Whoever
        asks meanwhile follows it, as they would follow a student's."""
        with self.lock:
            if key in self.entries:
                return False
            self.entries[key] = Trajectory()
        threading.Thread(target=self._prepared, args=(key, produce), name="digitviz-prepare", daemon=True).start()
        return True

    def _prepared(self, key, produce):
        try:
            for _ in self.follow(key, produce):
                pass
        except Exception:  # a worker died, the server is closing: whoever asks for the run next computes the rest
            logging.getLogger(__name__).warning("a run prepared in advance stopped", exc_info=True)

    def _produce(self, key, entry, produce):
        """Compute the rest of the run into the entry, yielding each record; leaving early lets another go on."""
        records = produce(entry.records[-1] if entry.records else None)
        try:
            for record in records:
                if hasattr(record, "params"):  # a record; anything else (a note that the run waits) passes through
                    self._add(key, entry, record)
                yield record
            with entry.changed:
                entry.done = True
        finally:
            getattr(records, "close", lambda: None)()  # now, not whenever it is collected: it may hold a slot
            with entry.changed:
                entry.producing = False
                entry.changed.notify_all()
            self._evict()

    def _entry(self, key):
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                entry = self.entries[key] = Trajectory()
            self.entries.move_to_end(key)
            return entry

    def _add(self, key, entry, record):
        size = record_bytes(record)
        with entry.changed:
            entry.records.append(record)
            entry.nbytes += size
            entry.changed.notify_all()
        with self.lock:
            if self.entries.get(key) is not entry:
                return  # no longer cached (too big, or evicted): its followers still hold it
            self.nbytes += size
            if entry.nbytes > self.max_bytes // 2:  # one run must not push out everyone else's
                del self.entries[key]
                self.nbytes -= entry.nbytes

    def _evict(self):
        """Forget finished runs, least recently asked for first, until the cache fits max_bytes."""
        with self.lock:
            for key in [k for k, e in self.entries.items() if e.done]:
                if self.nbytes <= self.max_bytes:
                    break
                self.nbytes -= self.entries.pop(key).nbytes
