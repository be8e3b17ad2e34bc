"""The lesson's linear model trained by fastai's Learner, so a class can see the library do the same thing.

Imported only when that model is chosen: fastai takes seconds to import.
"""
import random
import time

import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback  # noqa: F401  (adds Learner.no_bar)
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.optimizer import SGD
from torch import nn

from digitviz.engine import LOSS_FUNCS, Linear, frozen_params, batch_accuracy, checked_record, validate_epoch


class EpochTotals(Callback):
    """Sums each batch's loss and correct predictions, measured before its step, as the scratch loop does."""
    order = 90

    def before_epoch(self):
        self.loss_sum, self.correct, self.count = 0.0, 0.0, 0

    def after_loss(self):
        if self.training:
            n = len(self.yb[0])
            self.loss_sum += self.learn.loss.item() * n
            self.correct += batch_accuracy(self.pred.detach(), self.yb[0]).item() * n
            self.count += n


def linear_learner(config, data, params):
    """The book's Learner: the lesson's DataLoader over (x, y) tuples, nn.Linear, SGD, the chosen loss."""
    dset = list(zip(data.train_x, data.train_y))
    valid_dset = list(zip(data.valid_x, data.valid_y))
    dls = DataLoaders(DataLoader(dset, batch_size=config.batch_size, shuffle=config.shuffle),
                      DataLoader(valid_dset, batch_size=config.batch_size))
    model = nn.Linear(28 * 28, 1)
    with torch.no_grad():  # start from the same weights as the scratch model, so the two can be compared
        model.weight.copy_(params["weights"].T)
        model.bias.copy_(params["bias"])
    totals = EpochTotals()
    learn = Learner(dls, model, opt_func=SGD, loss_func=LOSS_FUNCS[config.loss], cbs=totals)
    return learn, totals


def fastai_epochs(config, data, start, params):
    """Yield records like engine.train's, from one `learn.fit(1)` per epoch."""
    learn, totals = linear_learner(config, data, params)
    loss_func = LOSS_FUNCS[config.loss]
    first = start.epoch + 1 if start is not None else 1
    seconds = start.seconds if start is not None else 0.0
    before = start.params if start is not None else frozen_params(params)
    for epoch in range(first, first + config.epochs):
        began = time.perf_counter()
        if config.shuffle:  # fastai's DataLoader shuffles with Python's and torch's global generators
            random.seed(config.seed * 10_000 + epoch)
            torch.manual_seed(config.seed * 10_000 + epoch)
        with learn.no_bar(), learn.no_logging():
            learn.fit(1, lr=config.lr)
        params = {"weights": learn.model.weight.detach().T.contiguous(), "bias": learn.model.bias.detach()}
        valid_loss, valid_acc = validate_epoch(Linear(params), data, loss_func)
        train_loss, train_acc = totals.loss_sum / totals.count, totals.correct / totals.count
        seconds += time.perf_counter() - began
        record = checked_record(epoch, train_loss, train_acc, valid_loss, valid_acc, params, seconds, before)
        yield record
        if record.diverged:
            return
        before = record.params
