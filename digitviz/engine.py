"""The lesson's training loop, with `yield` where it had `print`.

`train(config, data)` runs SGD and yields one frozen `EpochRecord` per epoch. Whoever consumes it
(the page, the CLI, a test, a benchmark) only reads the records; stopping early is leaving the loop.

The lesson's linear model, the softmax model of all ten digits and the two-layer net train as a carpool of one
(digitviz.carpool): the same kernel, and so the same numbers, as when they train in a block beside other students'
runs. fastai's Learner (digitviz.fastai_model) has an epoch loop instead: a trainer trains one epoch when asked; the
loop times it, validates, records, and stops a run that has blown up. The from-scratch trainer here runs that loop
on torch's own arithmetic: the reference the kernel is tested against.
"""
import time
from collections.abc import Iterator
from typing import Protocol

import torch

from digitviz.blocks import carpool_key
from digitviz.carpool import epoch_order, train_alone
from digitviz.config import TrainConfig
from digitviz.data import DigitData, as_tensors
from digitviz.losses import LOSS_FUNCS, accuracy, loss_grad, signed_targets
from digitviz.models import SCRATCH_MODELS, initial_params
from digitviz.records import EpochRecord, checked_record, frozen_params


class Trainer(Protocol):
    """What the epoch loop drives: a model, its parameters, and one epoch of training at a time."""
    params: dict  # name -> tensor, the model's parameters now

    def model(self, xb: torch.Tensor) -> torch.Tensor: ...  # (n, 784) -> (n, k) logits

    def train_epoch(self, epoch: int) -> tuple[float, float]: ...  # the epoch's training loss and accuracy


def validate_epoch(model, data, loss_func):
    """Loss and accuracy on the whole validation set."""
    with torch.no_grad():
        z = model(data.valid_x)
        return loss_func(z, data.valid_y).item(), accuracy(z, data.valid_y).item()


def train_epoch(model, config, x, y, z, order=None):
    """One pass of SGD over x in batches, in `order` if given; y is already in that order.
    Writes each batch's logits, before its step, into z."""
    bs = config.batch_size
    signed = signed_targets(y, bs) if y.is_floating_point() else y  # the binary losses' shared factor; unused for ten
    for i in range(0, len(x), bs):
        xb = x[i:i + bs] if order is None else x[order[i:i + bs]]  # gathering a batch at a time stays in cache
        zb = model(xb, out=z[i:i + bs])
        model.sgd_step(xb, loss_grad(config.loss, zb, y[i:i + bs], signed[i:i + bs]), config.lr)


class ScratchTrainer:
    """A from-scratch model (linear, two-layer, softmax) and the data it trains on, one epoch at a time, in torch:
    the reference for the models the kernel trains (tests/unit/test_carpool.py, benchmarks/bench_engine.py)."""

    def __init__(self, config, data, params):
        self.config, self.data, self.params = config, data, params
        self.model = SCRATCH_MODELS[config.model](params)
        self.loss_func = LOSS_FUNCS[config.loss]
        self.z = torch.empty(len(data.train_x), 10 if config.ten_digits else 1)  # each batch's logits, before its step

    def train_epoch(self, epoch):
        """One epoch of SGD; loss and accuracy are scored against the targets in the epoch's order."""
        order = tensor_order(self.config, epoch, len(self.data.train_x))
        y = self.data.train_y if order is None else self.data.train_y[order]
        with torch.no_grad():
            train_epoch(self.model, self.config, self.data.train_x, y, self.z, order)
            return self.loss_func(self.z, y).item(), accuracy(self.z, y).item()


def tensor_order(config, epoch, n):
    """carpool.epoch_order as a tensor, to index tensors with (None: unshuffled)."""
    order = epoch_order(config, epoch, n)
    return None if order is None else torch.from_numpy(order)


def trainer_for(config, data, params) -> Trainer:
    """The trainer for config.model, starting from `params`."""
    if config.model == "fastai":
        from digitviz.fastai_model import FastaiTrainer  # fastai takes seconds to import: only when asked for
        return FastaiTrainer(config, data, params)
    return ScratchTrainer(config, data, params)


def train(config: TrainConfig, data: DigitData, start: EpochRecord | None = None) -> Iterator[EpochRecord]:
    """Yield an EpochRecord after each of config.epochs epochs, continuing from `start` if given. `data`'s arrays
    may be NumPy's (digitviz.data.digit_arrays) or torch's."""
    if carpool_key(config) is not None:  # all but fastai: a carpool of one, the same arithmetic as in a block
        yield from train_alone(config, data, start)
        return
    data = as_tensors(data)  # fastai's Learner trains tensors (sharing the arrays' memory)
    config.check_data(data)
    trainer = trainer_for(config, data, start.state() if start is not None else initial_params(config))
    loss_func = LOSS_FUNCS[config.loss]
    first = start.epoch + 1 if start is not None else 1
    seconds = start.seconds if start is not None else 0.0
    before = frozen_params(trainer.params)
    for epoch in range(first, first + config.epochs):
        began = time.perf_counter()
        train_loss, train_acc = trainer.train_epoch(epoch)
        valid_loss, valid_acc = validate_epoch(trainer.model, data, loss_func)
        seconds += time.perf_counter() - began
        record = checked_record(epoch, train_loss, train_acc, valid_loss, valid_acc, trainer.params, seconds, before)
        yield record
        if record.diverged:
            return
        before = record.params
