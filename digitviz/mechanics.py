"""The lesson's mechanics, taken apart: the threshold, one SGD step, one weight swept. Pure functions, no Streamlit.

Everything works on the lesson's linear model (`xb@weights + bias`, one output) with its real parameters, as a
run's EpochRecord holds them, and computes the lesson's own quantities: `mnist_loss`, `batch_accuracy`, the
gradient that `loss.backward()` would give and the step `p.data -= p.grad*lr`. Tests check each against the
engine and against autograd.

In NumPy: the page computes the threshold and the SGD step in its own process, which loads no torch, and the
workers compute the rest (digitviz.workers) without it too.
"""
from dataclasses import dataclass

import numpy as np

SWEEP_POINTS = 401  # values of one weight tried by weight_sweep: enough that each step of accuracy shows
# How far weight_sweep moves the weight either way. Each training image whose output crosses 0 is a step of 1/12,396
# in accuracy: within 0.1 they are few and flat between; over 10 they blur into a bumpy curve.
SPANS = (0.1, 1.0, 10.0)


def raw_outputs(params, x):
    """The lesson's linear1, `xb@weights + bias`, in float32: the model's raw outputs before any sigmoid, (n, 784) ->
    (n,). Summed as NumPy sums them, so not always the kernel's bits (digitviz.kernel): the tests allow 1e-5."""
    w = np.asarray(params["weights"], np.float32)[:, 0]
    return np.asarray(x, np.float32) @ w + np.float32(np.asarray(params["bias"])[0])


def _targets(y):
    """The first digit's targets (1 for it, 0 for the other) as a flat array, from (n, 1) targets."""
    return np.asarray(y)[:, 0]


# ---------------------------------------------------------------- threshold and sigmoid

@dataclass(frozen=True, eq=False)
class Threshold:
    """Validation raw outputs split by digit, histogram counts on shared bins, and accuracy at `threshold`."""
    first: np.ndarray  # raw outputs of the validation images of the first digit (target 1)
    second: np.ndarray  # and of the second digit (target 0)
    edges: np.ndarray  # the histograms' bin edges, shared by both digits
    first_counts: np.ndarray
    second_counts: np.ndarray
    threshold: float
    accuracy: float  # fraction of validation images on the right side of the threshold


def threshold_view(params, data, threshold=0.0, bins=60):
    """Histograms of the validation raw outputs for each digit and the accuracy of saying 'first digit' above t."""
    z = raw_outputs(params, data.valid_x)
    y = _targets(data.valid_y) == 1
    edges = np.histogram_bin_edges(z, bins=bins)
    return Threshold(z[y], z[~y], edges, np.histogram(z[y], edges)[0], np.histogram(z[~y], edges)[0],
                     float(threshold), threshold_accuracy(z, y, threshold))


def threshold_accuracy(z, is_first, threshold):
    """The chapter's `(preds>0.0).float() == train_y` with the 0.0 moved to `threshold`."""
    return float(np.mean((np.asarray(z) > threshold) == np.asarray(is_first)))


def sigmoid(z):
    """The lesson's sigmoid, 1/(1+exp(-x)), on numpy values."""
    return 1 / (1 + np.exp(-np.asarray(z, dtype=np.float64)))


# ---------------------------------------------------------------- one step of SGD

@dataclass(frozen=True, eq=False)
class Step:
    """One mini-batch's step of SGD, every number of it: the batch, the ledger of mnist_loss, the gradient, the step.

    The ledger has one row per example: its `share` of the loss (the shares sum to `loss`) and `dz`, the loss's
    derivative with respect to its raw output; the example's push on the weights is `-lr * dz * x`.
    """
    epoch: int  # the epoch this batch belongs to (1-based)
    batch: int  # 0-based index of the batch within the epoch
    index: np.ndarray  # (n,) positions of the examples in the training set
    xb: np.ndarray  # (n, 784)
    yb: np.ndarray  # (n,) targets, 1 for the first digit
    z: np.ndarray  # (n,) raw outputs before the step
    p: np.ndarray  # (n,) sigmoid(z): the probability of the first digit
    share: np.ndarray  # (n,) torch.where(targets==1, 1-p, p) / n: each example's part of the batch loss
    dz: np.ndarray  # (n,) d loss / d z_i = p(1-p)(1-2y)/n
    loss: float  # mnist_loss of the batch
    grad: np.ndarray  # (784,) weights.grad as the step uses it (with the previous batches' added if not zeroed)
    bias_grad: float
    batch_grad: np.ndarray  # (784,) this batch's own gradient, what loss.backward() adds
    lr: float
    weights_before: np.ndarray  # (784,)
    weights_after: np.ndarray
    bias_before: float
    bias_after: float

    @property
    def branch(self):
        """Which side of torch.where each example takes: '1-p' where the target is 1, 'p' where it is 0."""
        return np.where(self.yb == 1, "1-p", "p")

    @property
    def correct(self):
        return (self.p > 0.5) == (self.yb == 1)

    def push(self, i):
        """Example i's own push on the weights, -lr * dz_i * x_i, as a (28, 28) map."""
        return (-self.lr * self.dz[i] * self.xb[i]).reshape(28, 28)

    @property
    def update(self):
        """-lr * weights.grad: what `p.data -= p.grad*lr` adds to each weight, (784,)."""
        return -self.lr * self.grad


def batch_index(config, n, epoch, batch):
    """Positions in the training set of the examples in one batch, in the run's own order (shuffled or not)."""
    positions = np.arange(n)
    if config.shuffle:
        from digitviz.carpool import epoch_order  # the kernel's randperm: numba, loaded only for a shuffled run
        positions = epoch_order(config, epoch, n)
    return positions[batch * config.batch_size:(batch + 1) * config.batch_size]


def batches_per_epoch(config, n):
    return -(-n // config.batch_size)


def sgd_step(params, data, config, epoch, batch, carried=None):
    """The lesson's calc_grad and step for one batch: returns (Step, params after the step).

    `carried`: gradients left over from earlier batches, as when `p.grad.zero_()` is forgotten (None: zeroed).
    """
    index = batch_index(config, len(data.train_x), epoch, batch)
    xb, y = np.asarray(data.train_x)[index], _targets(data.train_y)[index]  # (n, 784), (n,)
    w = np.asarray(params["weights"], dtype=np.float32)[:, 0]
    b = float(np.asarray(params["bias"])[0])
    z = (xb @ w + b).astype(np.float32)  # (n, 784) -> (n,)
    p = sigmoid(z)
    n = len(index)
    share = np.where(y == 1, 1 - p, p) / n
    dz = p * (1 - p) * (1 - 2 * y) / n
    batch_grad, batch_bias = xb.T.astype(np.float64) @ dz, float(dz.sum())
    grad, bias_grad = batch_grad, batch_bias
    if carried is not None:
        grad, bias_grad = grad + carried[0], bias_grad + carried[1]
    after_w, after_b = w - config.lr * grad, b - config.lr * bias_grad
    step = Step(epoch, batch, index, xb, y, z, p, share, dz, float(share.sum()), grad, bias_grad,
                batch_grad, config.lr, w, after_w, b, after_b)
    after = {"weights": after_w.astype(np.float32)[:, None], "bias": np.array([after_b], dtype=np.float32)}
    return step, after


def next_batch(epoch, batch, config, n):
    """(epoch, batch) of the batch after this one, rolling over into the next epoch."""
    return (epoch, batch + 1) if batch + 1 < batches_per_epoch(config, n) else (epoch + 1, 0)


def forgotten_zero(params, data, config, epoch, batches):
    """Validation accuracy after each of `batches` steps from `params`, with `p.grad.zero_()` and without it.

    Returns {"zeroed": [...], "forgotten": [...], "grad_norm_zeroed": [...], "grad_norm_forgotten": [...]}.
    """
    curves, first = {}, _targets(data.valid_y) == 1
    for name, forget in (("zeroed", False), ("forgotten", True)):
        current, carried, at = params, None, (epoch, 0)
        accs, norms = [], []
        for _ in range(batches):
            step, current = sgd_step(current, data, config, *at, carried=carried)
            carried = (step.grad, step.bias_grad) if forget else None
            at = next_batch(*at, config, len(data.train_x))
            accs.append(threshold_accuracy(raw_outputs(current, data.valid_x), first, 0.0))
            norms.append(float(np.linalg.norm(step.grad)))
        curves[name], curves[f"grad_norm_{name}"] = accs, norms
    return curves


# ---------------------------------------------------------------- why not accuracy as the loss

@dataclass(frozen=True, eq=False)
class WeightSweep:
    """Accuracy and mnist_loss on the training set as one weight moves, the rest held where they are."""
    pixel: int  # 0..783, row * 28 + col
    current: float  # the weight's value now
    values: np.ndarray  # (SWEEP_POINTS,) the values tried
    accuracy: np.ndarray  # (SWEEP_POINTS,)
    loss: np.ndarray
    slope: float  # d mnist_loss / d weight at the current value: the gradient SGD follows
    loss_now: float
    accuracy_now: float
    inked: int  # how many training images have any ink at this pixel: with none, the weight does nothing
    images: int  # how many training images there are: a step of accuracy is 1/images


def weight_sweep(params, data, pixel, span=1.0, points=SWEEP_POINTS):
    """Sweep weights[pixel] over current +- span and measure training accuracy and mnist_loss at each value."""
    x, y = np.asarray(data.train_x), _targets(data.train_y)
    z = raw_outputs(params, x)  # (n,)
    ink = x[:, pixel]  # (n,)
    w0 = float(np.asarray(params["weights"])[pixel, 0])
    values = np.linspace(w0 - span, w0 + span, points)
    first = y == 1
    # Only images with ink at the pixel move; the others add the same to every value tried (half the work, or more).
    moved = ink != 0
    still_right = float(((z[~moved] > 0) == first[~moved]).sum())
    still_loss = float(_each_loss(z[~moved], first[~moved]).sum())
    # float32, as the model computes: (m,) -> (m, points), z moving by ink * change
    zs = z[moved, None] + ink[moved, None] * (values - w0).astype(np.float32)[None, :]
    accuracy = (still_right + ((zs > 0) == first[moved, None]).sum(0)) / len(z)
    loss = (still_loss + _each_loss(zs, first[moved, None]).sum(0)) / len(z)
    p0 = sigmoid(z)
    slope = float(np.mean(p0 * (1 - p0) * (1 - 2 * y) * ink.astype(np.float64)))
    return WeightSweep(pixel, w0, values, accuracy, loss, slope, float(np.where(first, 1 - p0, p0).mean()),
                       float(((z > 0) == first).mean()), int(moved.sum()), len(z))


def _each_loss(z, first):
    """Each example's part of mnist_loss, torch.where(targets==1, 1-p, p), with one exp: 1-sigmoid(z) = sigmoid(-z)."""
    with np.errstate(over="ignore"):  # exp of a large output overflows to inf, and 1/(1+inf) is the 0 we want
        return 1 / (1 + np.exp(np.where(first, z, -z)))


def steepest_pixel(params, data):
    """The pixel whose weight the whole training set's mnist_loss is most sensitive to: a lively default."""
    z = raw_outputs(params, data.train_x)
    p = sigmoid(z)
    dz = (p * (1 - p) * (1 - 2 * _targets(data.train_y)) / len(z)).astype(np.float32)  # float32: no copy of x
    return int(np.abs(np.asarray(data.train_x).T @ dz).argmax())

