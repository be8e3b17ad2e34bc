"""What decides a training run: `TrainConfig`, and the losses and models it may name.

The lowest layer of the engine: it imports nothing that trains, so the settings table, the CLI and the page
can build and check a run's settings without loading a model.
"""
import math
from dataclasses import dataclass

import numpy as np

from digitviz.data import DigitData

LOSSES = {
    "mnist_loss": "the lesson's loss: distance from the target after a sigmoid",
    "first_attempt": "the lesson's first attempt: the same distance without a sigmoid (unbounded below)",
    "bce": "binary cross-entropy, the loss fastai would pick",
    "cross_entropy": "softmax cross-entropy over ten digits (the softmax model's loss)",
}
MODELS = {
    "linear": "the lesson's linear model from scratch: xb@weights + bias, manual SGD step",
    "fastai": "the same linear model through fastai's Learner (nn.Linear, SGD, the lesson's loss)",
    "two_layer": "the book's next step: Linear-ReLU-Linear with 30 hidden units",
    "softmax": "all ten digits: ten linear models side by side, one weight map per digit, softmax on top",
}
# The library's limit on one run; an epoch's shuffle is seeded by seed * MAX_EPOCHS + epoch.
MAX_EPOCHS = 10_000


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; invalid values raise ValueError naming the field."""
    lr: float = 1.0  # the lesson's learning rate
    epochs: int = 30  # the lesson runs 300; 30 already reaches ~97% and keeps a first run quick
    batch_size: int = 256  # the lesson's DataLoader batch size
    init_std: float = 1.0  # init_params' default std
    seed: int = 0  # same seed and settings give the same records
    shuffle: bool = False  # the lesson's DataLoader does not shuffle: all 3s, then all 7s
    loss: str = "mnist_loss"  # the lesson's loss, the one it builds up to
    model: str = "linear"  # the lesson's model: linear1, trained from scratch

    def __post_init__(self):
        _check_number("lr", self.lr, lo=0, lo_open=True, rule="must be a finite number > 0")
        _check_int("epochs", self.epochs, 1, MAX_EPOCHS)
        _check_int("batch_size", self.batch_size, 1, None)
        _check_number("init_std", self.init_std, lo=0, rule="must be a finite number >= 0")
        _check_int("seed", self.seed, 0, 2**31 - 1)
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise ValueError(f"shuffle must be True or False, got {self.shuffle!r}")
        for name, choices in (("loss", LOSSES), ("model", MODELS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {getattr(self, name)!r}")
        if (self.model == "softmax") != (self.loss == "cross_entropy"):
            raise ValueError("model 'softmax' and loss 'cross_entropy' go together: "
                             "the ten-digit model needs that loss, and the two-digit models can't use it")

    @property
    def ten_digits(self) -> bool:
        return self.model == "softmax"

    def shuffle_seed(self, epoch: int) -> int:
        """The seed of an epoch's shuffle: set by (seed, epoch), so each epoch differs and a resumed run matches."""
        return self.seed * MAX_EPOCHS + epoch

    def check_data(self, data: DigitData) -> None:
        """The one rule that depends on the data: a batch can't be bigger than the training set."""
        if self.batch_size > len(data.train_x):
            raise ValueError(f"batch_size must be from 1 to {len(data.train_x):,} (the training set's size), "
                             f"got {self.batch_size:,}")
        if self.ten_digits and data.is_pair:
            raise ValueError("the softmax model tells all ten digits apart; load them with pair='all'")
        if not self.ten_digits and not data.is_pair:
            raise ValueError("this model tells two digits apart; load a pair of digits, or use model='softmax'")


def _check_number(name, value, lo, rule, lo_open=False):
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < lo or (lo_open and value == lo):
        raise ValueError(f"{name} {rule}, got {value!r}")


def _check_int(name, value, lo, hi):
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < lo or (hi is not None and value > hi):
        allowed = f"from {lo:,} to {hi:,}" if hi is not None else f">= {lo:,}"
        raise ValueError(f"{name} must be a whole number {allowed}, got {value!r}")
