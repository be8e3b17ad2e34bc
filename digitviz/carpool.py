"""Carpools: runs that see the same batches in the same order train together, as one block.

With shuffling off (the lesson's default) every run of the same digits and batch size sees the same batches in
the same order; with a shuffle, so does every run of the same seed at the same epoch. Such runs can share the
work: their weights become the rows of one (K, 784) matrix (ten rows a run for the softmax model, one per digit;
thirty for the two-layer net, one per hidden unit, with its output layer beside them), and each batch is read once
for all of them (digitviz.kernel). Each run keeps its own learning rate, initial weights, epochs and stopping, and
gets its own records: the same bits as when it trains alone, because the kernel adds up every sum in an order
that does not depend on who else is in the block. `engine.train` trains a lone linear, softmax or two-layer run as
a carpool of one.

    pool = Carpool(data)
    a = pool.join(TrainConfig(lr=1.0))
    b = pool.join(TrainConfig(lr=0.1, seed=3))
    for run, record in pool.step():     # one epoch for every run in the block
        ...
    pool.leave(a)                       # a student pressed Stop; b trains on

Runs may join between steps (at an epoch boundary) if `carpool_key` says they share the block's data stream.
"""
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from digitviz.blocks import carpool_key
from digitviz.init import Generator, initial_arrays
from digitviz.kernel import LOSS_CODES, PIXELS, forward, head_out, randperm, scores, train_epoch
from digitviz.records import EpochRecord, checked_record, frozen_params


def epoch_order(config, epoch, n):
    """The order of the training samples in an epoch (None: unshuffled), seeded by (seed, epoch) so a resumed run
    matches: torch.randperm's, from a generator seeded so, made without torch (tests/unit/test_carpool.py)."""
    if not config.shuffle:
        return None
    return randperm(Generator(config.shuffle_seed(epoch)).draws(n - 1))


def signed_targets(y, batch_size):
    """digitviz.losses.signed_targets in NumPy, the same float32 division: (1 - 2y) / (the size of each sample's
    batch)."""
    sizes = np.full(len(y), batch_size, np.float32)
    last = len(y) % batch_size
    if last:
        sizes[-last:] = last
    return (np.float32(1) - np.float32(2) * y) / sizes


class _Stream:
    """A data set as the kernel reads it: contiguous float32 arrays, an image a row. The data's arrays may be
    NumPy's (digitviz.data.digit_arrays, as the workers hold them) or torch's (load_digits): the same memory."""

    def __init__(self, data):
        self.x = np.ascontiguousarray(np.asarray(data.train_x), dtype=np.float32)  # (N, 784)
        self.y = _floats(data.train_y)
        self.valid_x = np.ascontiguousarray(np.asarray(data.valid_x), dtype=np.float32)
        self.valid_y = _floats(data.valid_y)


def _floats(targets):
    """Targets as the kernel reads them: flat float32 (a digit label 0-9 is exact)."""
    return np.ascontiguousarray(np.asarray(targets).ravel(), dtype=np.float32)


_streams = weakref.WeakKeyDictionary()  # DigitData -> _Stream: converted once per data set


def kernel_stream(data):
    """The data set as the kernel reads it, converted once (shared by every carpool on it)."""
    if data not in _streams:
        _streams[data] = _Stream(data)
    return _streams[data]


@dataclass
class _Run:
    """One run's place in the block: its settings, the next epoch it trains, and where it stops."""
    config: object
    epoch: int  # the next epoch to train, counting on across a resumed run
    last: int  # the run's last epoch
    seconds: float  # time spent training so far
    before: object  # its parameters after the previous epoch, to tell a run that stopped moving


class Carpool:
    """A block of runs on one data set, trained one epoch at a time for all of them."""

    def __init__(self, data):
        self.data, self.stream = data, kernel_stream(data)
        self.runs = {}  # run id -> _Run, in the block's order
        self._next_id = 0
        self._empty(1)

    def _empty(self, outputs, units=0):
        """No runs yet: rows of `outputs` a run to come, and a head of `units` for the two-layer net."""
        self.W = np.empty((0, PIXELS), np.float32)  # (K * outputs, 784): a run's weights are `outputs` rows
        self.b = np.empty(0, np.float32)
        self.lr = np.empty(0, np.float32)  # each row's run's learning rate
        self.outputs = outputs  # rows a run: 1 for two digits, 10 for the softmax model's ten, 30 hidden units
        self.V = np.empty((0, units), np.float32)  # the two-layer net's output weights, a row a run; else no columns
        self.c = np.empty(0, np.float32)  # and its output bias
        self.key = None

    def __len__(self):
        return len(self.runs)

    def can_join(self, config, start=None):
        """Whether a run with this config (resuming from `start`) can train in this block now."""
        key = carpool_key(config)
        if key is None or (self.runs and key != self.key):
            return False
        first = start.epoch + 1 if start is not None else 1
        return not (config.shuffle and self.runs and first != next(iter(self.runs.values())).epoch)

    def join(self, config, start: EpochRecord | None = None):
        """Add a run (from its initial weights, or continuing from `start`); returns its id."""
        if carpool_key(config) is None:
            raise ValueError(f"model {config.model!r} has no block form: train it with engine.train")
        if not self.can_join(config, start):
            raise ValueError(f"this run can't share the block: it sees other batches ({carpool_key(config)}, the "
                             f"block {self.key}) or, shuffled, another epoch's order")
        config.check_data(self.data)
        params = start.params if start is not None else initial_arrays(config)  # NumPy arrays, copied below
        first = start.epoch + 1 if start is not None else 1
        run = _Run(config, first, first + config.epochs - 1, start.seconds if start is not None else 0.0,
                   frozen_params(params))
        if not self.runs:
            self._empty(params["weights"].shape[1], len(params.get("out_weights", ())))
        self.W = np.vstack([self.W, params["weights"].T.astype(np.float32)])
        self.b = np.append(self.b, params["bias"].astype(np.float32))
        self.lr = np.append(self.lr, np.full(self.outputs, config.lr, np.float32))
        if "out_weights" in params:  # (units, 1) -> a row of V
            self.V = np.vstack([self.V, params["out_weights"].T.astype(np.float32)])
            self.c = np.append(self.c, params["out_bias"].astype(np.float32))
        self.key, self._next_id = carpool_key(config), self._next_id + 1
        self.runs[self._next_id - 1] = run
        return self._next_id - 1

    def leave(self, run_id):
        """Take a run out of the block (stopped, finished or diverged); the others train on unchanged."""
        k = list(self.runs).index(run_id)
        rows = self._rows(k)
        del self.runs[run_id]
        self.W, self.b, self.lr = np.delete(self.W, rows, 0), np.delete(self.b, rows), np.delete(self.lr, rows)
        if self.V.shape[1]:  # a two-layer run's output layer
            self.V, self.c = np.delete(self.V, k, 0), np.delete(self.c, k)

    def _rows(self, k):
        """The rows of W that hold the k-th run's weights."""
        return slice(k * self.outputs, (k + 1) * self.outputs)

    def step(self):
        """Train every run one epoch; [(run id, EpochRecord)] in the block's order. Finished runs leave."""
        if not self.runs:
            return []
        began = time.perf_counter()
        first = next(iter(self.runs.values()))  # the block's runs share its batch order and loss
        train_scores = self._means(self._train_epoch(first), len(self.stream.x))
        valid_z = self._logits(self.stream.valid_x)
        valid_scores = self._means(self._scores(valid_z, self.stream.valid_y, LOSS_CODES[first.config.loss]),
                                   len(valid_z[0]))
        seconds = time.perf_counter() - began  # the block's epoch: every run in it waited that long
        out = [(run_id, self._record(k, run, (*train_scores[k], *valid_scores[k]), seconds))
               for k, (run_id, run) in enumerate(self.runs.items())]
        for run_id, record in out:
            run = self.runs[run_id]
            run.epoch, run.seconds, run.before = run.epoch + 1, record.seconds, record.params
            if record.diverged or record.epoch == run.last:
                self.leave(run_id)
        return out

    def _train_epoch(self, run):
        """One epoch of SGD for the whole block; returns each run's summed training loss and right answers."""
        config, s = run.config, self.stream
        order = epoch_order(config, run.epoch, len(s.x))
        y = s.y if order is None else s.y[order]
        # the binary losses' shared factor; the softmax model's labels are digits, which it has no use for
        signed = np.zeros(len(y), np.float32) if config.ten_digits else signed_targets(y, config.batch_size)
        rows, runs, bs = len(self.W), len(self.runs), config.batch_size
        totals = np.empty((runs, 2))
        scratch = (np.empty((rows, bs), np.float32), np.empty((rows, bs), np.float32),  # a batch's logits, gradients
                   np.empty((rows, PIXELS), np.float32), np.empty(rows, np.float32))
        gathered = np.empty((bs if order is not None else 1, PIXELS), np.float32)  # a shuffled batch; else unused
        order = np.empty(0, np.int64) if order is None else order
        train_epoch(s.x, order, y, signed, self.W, self.b, self.lr, LOSS_CODES[config.loss], bs, totals, *scratch,
                    gathered, self._head(bs))
        return totals

    def _head(self, bs):
        """The two-layer net's output layer as the kernel takes it: its weights and bias, each run's rate, and
        scratch for a batch's outputs, their gradients and the layer's. Empty, with no columns, for one-layer runs."""
        runs, units = len(self.c), self.V.shape[1]
        return (self.V, self.c, np.ascontiguousarray(self.lr[::self.outputs]) if units else np.empty(0, np.float32),
                np.empty((runs, bs), np.float32), np.empty((runs, bs), np.float32), np.empty_like(self.V),
                np.empty(runs, np.float32))

    def _logits(self, x):
        """Every run's logits on the images x (rows, n; the two-layer net's outputs, runs, n), summed as training
        sums them."""
        Z = np.empty((len(self.W), len(x)), np.float32)
        forward(x, 0, len(x), self.W, self.b, Z, 0)
        if not self.V.shape[1]:
            return Z
        out = np.empty((len(self.c), len(x)), np.float32)
        head_out(Z, self.V, self.c, out)
        return out

    def _scores(self, Z, y, loss):
        """Each run's summed loss and right answers on its logits in Z (runs, 2)."""
        totals = np.empty((len(self.runs), 2))
        scores(Z, y, loss, totals)
        return totals

    @staticmethod
    def _means(totals, n):
        """[(mean loss, accuracy)] per run, as float32 numbers like the lesson's."""
        return (totals / n).astype(np.float32).tolist()

    def _record(self, k, run, scores, seconds):
        """Run k's EpochRecord, from its (train loss, train accuracy, valid loss, valid accuracy)."""
        rows = self._rows(k)
        params = {"weights": self.W[rows].T, "bias": self.b[rows]}  # copied into the record
        if self.V.shape[1]:  # the two-layer net's output layer, shaped as models.TwoLayer keeps it
            params |= {"out_weights": self.V[k:k + 1].T, "out_bias": self.c[k:k + 1]}
        return checked_record(run.epoch, *scores, params, run.seconds + seconds, run.before)


def train_carpool(configs, data, starts=None) -> Iterator[tuple[int, EpochRecord]]:
    """Train runs that share a data stream as one block; yields (index in configs, record) as each epoch ends.

    Each run stops after its own epochs, or when it diverges; closing the generator stops them all."""
    pool = Carpool(data)
    ids = [pool.join(config, start) for config, start in zip(configs, starts or [None] * len(configs))]
    index = {run_id: i for i, run_id in enumerate(ids)}
    while len(pool):
        for run_id, record in pool.step():
            yield index[run_id], record


def train_alone(config, data, start=None) -> Iterator[EpochRecord]:
    """One run as a carpool of one: `engine.train` for the models that have a block form."""
    for _, record in train_carpool([config], data, [start]):
        yield record


def warm_up():
    """Compile the kernel now (a second or so the first time, then from numba's cache), not on a student's click."""
    from digitviz.config import TrainConfig
    from digitviz.data import ALL_DIGITS, DigitData
    rng = np.random.default_rng(0)
    x, y = rng.random((8, PIXELS), np.float32), (rng.random((8, 1)) > 0.5).astype(np.float32)
    labels = y[:, 0].astype(np.int64)
    pair, ten = (DigitData(x, y, x[:4], y[:4], (3, 7), "warm-up"),
                 DigitData(x, labels, x[:4], labels[:4], ALL_DIGITS, "warm-up"))
    for loss in LOSS_CODES:
        data, models = (ten, ["softmax"]) if loss == "cross_entropy" else (pair, ["linear", "two_layer"])
        for model in models:
            for shuffle in (False, True):
                config = TrainConfig(epochs=1, batch_size=4, loss=loss, model=model, shuffle=shuffle)
                list(train_carpool([config] * 3, data))
