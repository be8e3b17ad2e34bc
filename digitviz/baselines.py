"""The lesson's first idea: call a digit a 3 if it looks more like the average 3 than the average 7.

The same idea works for any number of digits: call an image whichever digit's mean image is nearest.

In NumPy, on the lesson's tensors or on NumPy arrays alike (np.asarray reads a tensor's memory, no copy): the
page shows the baseline as soon as it opens, before its server has loaded torch.
"""
from dataclasses import dataclass

import numpy as np

from digitviz.data import DigitData


def digit_index(data, split="valid"):
    """(n,) position in data.digits of each image's true digit: 0 for the pair's first digit (targets of 1)."""
    y = np.asarray(getattr(data, f"{split}_y"))
    if data.is_pair:
        return (y.reshape(-1) != 1).astype(np.int64)
    return np.searchsorted(np.asarray(data.digits), y)


def mean_images(data):
    """(k, 28, 28): the average training image of each digit, in data.digits order (mean3, mean7 for the lesson).
    Summed in float64 and rounded to float32 once: a float32 running sum over thousands of images would drift."""
    x = np.asarray(data.train_x).reshape(-1, 28, 28)
    which = digit_index(data, "train")
    return np.stack([x[which == i].mean(0, dtype=np.float64) for i in range(len(data.digits))]).astype(np.float32)


def mnist_distance(a, b, norm="l1"):
    """Mean absolute (l1) or root-mean-square (l2) pixel distance; broadcasts over leading dims."""
    diff = np.asarray(a) - np.asarray(b)
    if norm == "l1":
        return np.abs(diff).mean((-1, -2))
    if norm == "l2":
        return np.sqrt((diff ** 2).mean((-1, -2)))
    raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")


def nearest_mean(x, means, norm="l1"):
    """(n, 784) images -> (n,) index of the closest mean image; one mean at a time keeps memory at (n,)."""
    x = np.asarray(x).reshape(-1, 28, 28)
    return np.stack([mnist_distance(x, m, norm) for m in means], axis=1).argmin(1)


def is_first(x, mean3, mean7, norm="l1"):
    """The lesson's is_3: closer to mean3 than to mean7. (n, 784) -> (n,) bool."""
    x = np.asarray(x).reshape(-1, 28, 28)
    return mnist_distance(x, mean3, norm) < mnist_distance(x, mean7, norm)


@dataclass(frozen=True)
class BaselineAccuracy:
    """Validation accuracy of the nearest-mean baseline under one norm."""
    norm: str
    per_digit: dict  # digit -> accuracy on that digit's validation images
    overall: float  # over the whole validation set

    @property
    def first(self):
        """Accuracy on the pair's first digit (the lesson's 3s)."""
        return next(iter(self.per_digit.values()))

    @property
    def second(self):
        return list(self.per_digit.values())[1]


@dataclass(frozen=True, eq=False)
class Baseline:
    """The mean images and the baseline's accuracy under L1 (the lesson's) and L2."""
    digits: tuple
    means: np.ndarray  # (k, 28, 28) float32, in digits order
    l1: BaselineAccuracy
    l2: BaselineAccuracy

    @property
    def mean3(self):
        """The pair's first mean image, named as in the lesson whichever pair is loaded."""
        return self.means[0]

    @property
    def mean7(self):
        return self.means[1]


def baseline_accuracy(data, means, norm="l1"):
    """Accuracy of the nearest mean image on the validation set, per digit and overall."""
    truth = digit_index(data)
    if len(means) == 2:  # the lesson's strict '<': a tie goes to the second digit
        guess = (~is_first(data.valid_x, means[0], means[1], norm)).astype(np.int64)
    else:
        guess = nearest_mean(data.valid_x, means, norm)
    correct = guess == truth
    per_digit = {d: float(correct[truth == i].mean()) for i, d in enumerate(data.digits)}
    return BaselineAccuracy(norm, per_digit, float(correct.mean()))


def pixel_similarity(data: DigitData) -> Baseline:
    """The lesson's baseline: mean images and their accuracy, for a pair or for all ten digits."""
    means = mean_images(data)
    return Baseline(data.digits, means, baseline_accuracy(data, means, "l1"), baseline_accuracy(data, means, "l2"))
