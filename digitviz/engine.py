"""The lesson's training loop, with `yield` where it had `print`.

`train(config, data)` runs SGD and yields one frozen `EpochRecord` per epoch. Whoever consumes it
(the page, the CLI, a test, a benchmark) only reads the records; stopping early is leaving the loop.

The from-scratch models compute their gradients by hand instead of with `loss.backward()`. It is
the same arithmetic (tests check it against autograd and against the lesson's own loop), but it
skips autograd's bookkeeping, which costs more than the maths on batches this small.
"""
import math
import time
from dataclasses import dataclass, fields, replace
from types import MappingProxyType

import numpy as np
import torch

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
MAX_EPOCHS = 10_000
HIDDEN = 30  # the book's simple_net: nn.Linear(28*28, 30), nn.ReLU(), nn.Linear(30, 1)
# A model that knows nothing scores 0.5 (mnist_loss) or 0.69 (bce); a loss this far from 0 has blown up.
EXPLODED_LOSS = 100.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; invalid values raise ValueError naming the field."""
    lr: float = 1.0  # the lesson's learning rate
    epochs: int = 30  # the lesson runs 300; 30 already reaches ~97% and keeps a first run quick
    batch_size: int = 256  # the lesson's DataLoader batch size
    init_std: float = 1.0  # init_params' default std
    seed: int = 0  # same seed and settings give the same records
    shuffle: bool = False  # the lesson's DataLoader does not shuffle: all 3s, then all 7s
    loss: str = "mnist_loss"
    model: str = "linear"

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
    def ten_digits(self):
        return self.model == "softmax"

    def check_data(self, data):
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


@dataclass(frozen=True, eq=False)
class EpochRecord:
    """What one epoch of training left behind. The arrays are read-only copies."""
    epoch: int  # 1-based, counting on across resumed runs
    train_loss: float  # mean over the epoch's training samples, each measured just before its batch's step
    train_acc: float  # likewise
    valid_loss: float  # on the whole validation set after the epoch
    valid_acc: float
    params: MappingProxyType  # name -> np.ndarray, all the model's parameters after the epoch
    seconds: float  # time spent training so far, excluding whatever the consumer did between epochs
    diverged: str = ""  # why the run blew up and stopped here, in words for a student; "" while it is fine

    @property
    def weights(self):
        return weight_map(self.params)

    @property
    def bias(self):
        b = self.params["bias"]
        return float(b[0]) if b.shape == (1,) else b

    def state(self):
        """Fresh tensors of the parameters, to classify with or to continue training from."""
        return {k: torch.from_numpy(v.copy()) for k, v in self.params.items()}

    def as_row(self):
        """The scalar fields, for a CSV or a table."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "params"}

    def __reduce__(self):
        """Records travel between processes (digitviz.workers): send the arrays, freeze them again on arrival."""
        scalars = [getattr(self, f.name) for f in fields(self)]
        scalars[5] = dict(self.params)
        return _unpickle_record, tuple(scalars)


def _unpickle_record(epoch, train_loss, train_acc, valid_loss, valid_acc, params, seconds, diverged):
    for a in params.values():
        a.flags.writeable = False
    return EpochRecord(epoch, train_loss, train_acc, valid_loss, valid_acc, MappingProxyType(params), seconds, diverged)


def weight_map(params):
    """The weights as images: (28, 28) for a linear model, (hidden, 28, 28) for the two-layer net's first layer."""
    w = np.asarray(params["weights"])  # (784, k)
    return w[:, 0].reshape(28, 28) if w.shape[1] == 1 else w.T.reshape(-1, 28, 28)


def mnist_loss(predictions, targets):
    """The lesson's loss: how far the sigmoid of each prediction is from its target."""
    predictions = predictions.sigmoid()
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def first_attempt_loss(predictions, targets):
    """The lesson's first attempt, without the sigmoid: nothing stops predictions running off."""
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def bce_loss(predictions, targets):
    """Binary cross-entropy on logits: -log of the probability given to the right digit."""
    return torch.nn.functional.binary_cross_entropy_with_logits(predictions, targets)


def signed_targets(y, batch_size):
    """(1 - 2y) / (size of each sample's batch): the part of every gradient that only the data decides."""
    sizes = torch.full_like(y, batch_size)
    last = len(y) % batch_size
    if last:
        sizes[-last:] = last
    return (1 - 2 * y) / sizes  # -1/n where the target is 1: pushing z up lowers the loss there


def cross_entropy_loss(predictions, targets):
    """-log of the softmax probability given to the right digit; predictions (n, 10), targets (n,) digits."""
    return torch.nn.functional.cross_entropy(predictions, targets)


def loss_grad(name, z, y, signed):
    """d(loss)/dz for a batch of logits z (n, 1), or (n, 10): the closed forms of the losses above."""
    if name == "mnist_loss":
        p = z.sigmoid()
        return p.mul(1 - p).mul_(signed)
    if name == "first_attempt":
        return signed
    if name == "bce":
        return (z.sigmoid() - y).div_(len(z))
    p = z.softmax(1)
    p[torch.arange(len(z)), y] -= 1  # softmax minus the one-hot target
    return p.div_(len(z))


LOSS_FUNCS = {"mnist_loss": mnist_loss, "first_attempt": first_attempt_loss, "bce": bce_loss,
              "cross_entropy": cross_entropy_loss}


def batch_accuracy(xb, yb):
    """The lesson's accuracy: a prediction says 3 when its sigmoid is over 0.5."""
    preds = xb.sigmoid()
    correct = (preds > 0.5) == yb
    return correct.float().mean()


def accuracy(z, y):
    """batch_accuracy for one output; for ten, the digit with the largest output is the prediction."""
    return batch_accuracy(z, y) if z.shape[1] == 1 else (z.argmax(1) == y).float().mean()


def init_params(size, std=1.0, generator=None):
    """The lesson's init_params, with an explicit generator so a seed fixes the result."""
    return torch.randn(size, generator=generator) * std


class Linear:
    """The lesson's linear1: xb@weights + bias, with its SGD step written out; k outputs for k digits' scores."""

    def __init__(self, params):
        self.params = params  # {"weights": (784, k), "bias": (k,)}; k = 1 for the lesson

    @staticmethod
    def init(std, generator, outputs=1):
        return {"weights": init_params((28 * 28, outputs), std, generator),
                "bias": init_params(outputs, std, generator)}

    def __call__(self, xb, out=None):
        return torch.addmm(self.params["bias"], xb, self.params["weights"], out=out)  # (n, 784) -> (n, k)

    def sgd_step(self, xb, dz, lr):
        self.params["weights"].addmm_(xb.T, dz, alpha=-lr)  # w -= lr * (784, n) @ (n, k), in one call
        self.params["bias"].sub_(dz.sum(0), alpha=lr)


class TwoLayer:
    """The book's simple_net, Linear(784, 30) -> ReLU -> Linear(30, 1), with backprop written out."""

    def __init__(self, params):
        self.params = params  # weights (784, h), bias (h,), out_weights (h, 1), out_bias (1,)
        self.hidden = None

    @staticmethod
    def init(std, generator, hidden=HIDDEN):
        # init_std scales PyTorch's own 1/sqrt(fan_in): a raw std of 1 on 784 inputs saturates every unit
        return {"weights": init_params((28 * 28, hidden), std / 28, generator),
                "bias": init_params(hidden, std / 28, generator),
                "out_weights": init_params((hidden, 1), std / math.sqrt(hidden), generator),
                "out_bias": init_params(1, std / math.sqrt(hidden), generator)}

    def __call__(self, xb, out=None):
        p = self.params
        self.hidden = torch.addmm(p["bias"], xb, p["weights"]).relu_()  # (n, 784) -> (n, h)
        return torch.addmm(p["out_bias"], self.hidden, p["out_weights"], out=out)  # (n, h) -> (n, 1)

    def sgd_step(self, xb, dz, lr):
        p, h = self.params, self.hidden
        dh = (dz @ p["out_weights"].T) * (h > 0)  # (n, 1) -> (n, h), zero where the ReLU was off
        p["out_weights"].addmm_(h.T, dz, alpha=-lr)
        p["out_bias"].sub_(dz.sum(0), alpha=lr)
        p["weights"].addmm_(xb.T, dh, alpha=-lr)
        p["bias"].sub_(dh.sum(0), alpha=lr)


SCRATCH_MODELS = {"linear": Linear, "two_layer": TwoLayer, "softmax": Linear}


def initial_params(config):
    """The parameters a run starts from, fixed by the seed."""
    generator = torch.Generator().manual_seed(config.seed)
    if config.model == "two_layer":
        return TwoLayer.init(config.init_std, generator)
    return Linear.init(config.init_std, generator, outputs=10 if config.ten_digits else 1)


def epoch_order(config, epoch, n):
    """The order of the training samples in an epoch; seeded by (seed, epoch) so a resumed run matches."""
    if not config.shuffle:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(config.seed * MAX_EPOCHS + epoch))


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


def divergence(record, before):
    """Why this epoch shows the run has blown up ("" if it has not); `before` is the previous params."""
    losses = (record.train_loss, record.valid_loss)
    if not all(math.isfinite(v) for v in losses) or not all(np.isfinite(a).all() for a in record.params.values()):
        return "the loss overflowed: it is no longer a finite number"
    if max(abs(v) for v in losses) > EXPLODED_LOSS:
        return f"the loss exploded to {record.valid_loss:.3g}"
    # With every sigmoid at exactly 0 or 1 in float32 the gradient is zero: the weights can never move again.
    stuck = all(np.array_equal(record.params[k], before[k]) for k in before)
    if stuck and record.train_acc < 1:
        return "the weights stopped moving: every prediction is saturated at 0 or 1, so the gradient is zero"
    return ""


def train(config, data, start=None):
    """Yield an EpochRecord after each of config.epochs epochs, continuing from `start` if given."""
    config.check_data(data)
    if config.model == "fastai":
        yield from _train_fastai(config, data, start)
        return
    params = start.state() if start is not None else initial_params(config)
    model = SCRATCH_MODELS[config.model](params)
    loss_func = LOSS_FUNCS[config.loss]
    first = start.epoch + 1 if start is not None else 1
    seconds = start.seconds if start is not None else 0.0
    z = torch.empty(len(data.train_x), 10 if config.ten_digits else 1)
    before = frozen_params(params)
    for epoch in range(first, first + config.epochs):
        began = time.perf_counter()
        order = epoch_order(config, epoch, len(data.train_x))
        y = data.train_y if order is None else data.train_y[order]
        with torch.no_grad():
            train_epoch(model, config, data.train_x, y, z, order)
            train_loss, train_acc = loss_func(z, y).item(), accuracy(z, y).item()
        valid_loss, valid_acc = validate_epoch(model, data, loss_func)
        seconds += time.perf_counter() - began
        record = checked_record(epoch, train_loss, train_acc, valid_loss, valid_acc, params, seconds, before)
        yield record
        if record.diverged:
            return
        before = record.params


def frozen_params(params):
    """Read-only numpy copies of the parameters, safe to hand to any reader."""
    frozen = {}
    for name, t in params.items():
        a = t.detach().numpy().copy()
        a.flags.writeable = False
        frozen[name] = a
    return MappingProxyType(frozen)


def checked_record(epoch, train_loss, train_acc, valid_loss, valid_acc, params, seconds, before):
    """The epoch's record, with `diverged` saying whether (and why) the run has blown up."""
    record = EpochRecord(epoch, train_loss, train_acc, valid_loss, valid_acc, frozen_params(params), seconds)
    return replace(record, diverged=divergence(record, before))


def _train_fastai(config, data, start):
    """The same linear model trained by fastai's Learner, one `fit(1)` per epoch."""
    from digitviz.fastai_model import fastai_epochs  # fastai takes seconds to import: only when asked for
    params = start.state() if start is not None else initial_params(config)
    yield from fastai_epochs(config, data, start, params)
