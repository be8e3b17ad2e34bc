"""The lesson's linear model trained by fastai's Learner, so a class can see the library do the same thing.

Imported only when that model is chosen: fastai takes seconds to import. `FastaiTrainer` plugs into the
engine's epoch loop like the from-scratch trainer does.
"""
import random

import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback  # noqa: F401  (adds Learner.no_bar)
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.optimizer import SGD
from torch import nn

from digitviz.losses import LOSS_FUNCS, batch_accuracy
from digitviz.models import Linear


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


class FastaiTrainer:
    """fastai's Learner behind the engine's epoch loop: one `learn.fit(1)` per epoch."""

    def __init__(self, config, data, params):
        self.config = config
        self.learn, self.totals = linear_learner(config, data, params)

    @property
    def params(self):
        """The Learner's nn.Linear as the scratch model's parameters: weights (784, 1), bias (1,)."""
        return {"weights": self.learn.model.weight.detach().T.contiguous(), "bias": self.learn.model.bias.detach()}

    def model(self, xb):
        """The scratch linear model on the Learner's current parameters, so both are validated alike."""
        return Linear(self.params)(xb)

    def train_epoch(self, epoch):
        """One `fit(1)`; loss and accuracy are the batches' own, each measured before its step."""
        if self.config.shuffle:  # fastai's DataLoader shuffles with Python's and torch's global generators
            random.seed(self.config.shuffle_seed(epoch))
            torch.manual_seed(self.config.shuffle_seed(epoch))
        with self.learn.no_bar(), self.learn.no_logging():
            self.learn.fit(1, lr=self.config.lr)
        return self.totals.loss_sum / self.totals.count, self.totals.correct / self.totals.count
