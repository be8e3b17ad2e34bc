"""The lesson's first idea: call a digit a 3 if it looks more like the average 3 than the average 7."""
from dataclasses import dataclass

import torch


def mean_images(data):
    """(mean3, mean7): the average training image of each digit of the pair, (28, 28) each."""
    x = data.train_x.view(-1, 28, 28)
    first = data.train_y.view(-1) == 1
    return x[first].mean(0), x[~first].mean(0)


def mnist_distance(a, b, norm="l1"):
    """Mean absolute (l1) or root-mean-square (l2) pixel distance; broadcasts over leading dims."""
    diff = a - b
    if norm == "l1":
        return diff.abs().mean((-1, -2))
    if norm == "l2":
        return (diff ** 2).mean((-1, -2)).sqrt()
    raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")


@dataclass(frozen=True)
class BaselineAccuracy:
    """Validation accuracy of the pixel-similarity baseline under one norm."""
    norm: str
    first: float  # accuracy on the pair's first digit (the 3s)
    second: float  # and on its second (the 7s)
    overall: float  # over the whole validation set


@dataclass(frozen=True, eq=False)
class Baseline:
    """Both mean images and the baseline's accuracy under L1 (the lesson's) and L2."""
    digits: tuple
    mean3: torch.Tensor  # (28, 28); named as in the lesson, whichever pair is loaded
    mean7: torch.Tensor
    l1: BaselineAccuracy
    l2: BaselineAccuracy


def is_first(x, mean3, mean7, norm="l1"):
    """The lesson's is_3: closer to mean3 than to mean7. (n, 784) -> (n,) bool."""
    x = x.view(-1, 28, 28)
    return mnist_distance(x, mean3, norm) < mnist_distance(x, mean7, norm)


def baseline_accuracy(data, mean3, mean7, norm="l1"):
    """Accuracy of is_first on the validation set, per digit and overall."""
    says_first = is_first(data.valid_x, mean3, mean7, norm)
    truth = data.valid_y.view(-1) == 1
    correct = (says_first == truth).float()
    return BaselineAccuracy(norm, correct[truth].mean().item(), correct[~truth].mean().item(), correct.mean().item())


def pixel_similarity(data):
    """The lesson's baseline for a pair of digits: mean images and their accuracy."""
    if not data.is_pair:
        raise ValueError("the mean-image baseline compares two digits; load a pair")
    mean3, mean7 = mean_images(data)
    return Baseline(data.digits, mean3, mean7,
                    baseline_accuracy(data, mean3, mean7, "l1"), baseline_accuracy(data, mean3, mean7, "l2"))
