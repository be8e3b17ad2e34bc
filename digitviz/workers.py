"""Training in worker processes, so that a server's own Python only draws.

One Python process runs Python code on one core at a time (the GIL), and a page server's Python is busy
drawing charts for a whole class. Training in a pool of processes frees it: a run goes to a worker a few
epochs at a time, and the page draws each batch of records as it comes back. The records are the same as
`engine.train` gives in one go, because a run continued from its last record is the same run (each epoch's
shuffle is seeded by its number).
"""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import lru_cache

import torch

from digitviz.data import load_digits
from digitviz.engine import train


@lru_cache(maxsize=4)
def _worker_data(digits):
    """Each worker loads the digits it is asked for once, and keeps them."""
    return load_digits(digits)


def _one_thread():
    torch.set_num_threads(1)  # as many workers as cores: more threads each would only fight over them


def train_chunk(config, digits, start):
    """config.epochs epochs from `start` (None: from the beginning), in a worker; stops early if it diverges."""
    return list(train(config, _worker_data(tuple(digits)), start=start))


class TrainingPool:
    """Worker processes that train runs a chunk of epochs at a time."""

    def __init__(self, processes):
        # spawn, not fork: forking a threaded server (and torch's thread pools) can deadlock the child
        self.executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_one_thread)

    def train(self, config, digits, start=None, chunk_seconds=0.25):
        """Yield the run's records like engine.train, computed in a worker about chunk_seconds at a time."""
        done, chunk = 0, 1  # the first chunk is one epoch: it shows the student something at once, and times it
        while done < config.epochs:
            n = min(chunk, config.epochs - done)
            began = start.seconds if start is not None else 0.0
            records = self.executor.submit(train_chunk, replace(config, epochs=n), digits, start).result()
            yield from records
            if records[-1].diverged:
                return
            start, done = records[-1], done + n
            per_epoch = max((start.seconds - began) / n, 1e-4)
            chunk = max(1, int(chunk_seconds / per_epoch))

    def close(self):
        self.executor.shutdown(cancel_futures=True)
