"""Why the model calls a digit what it does, and where it goes wrong.

For a linear model a digit's score is sum(weights * pixels) + bias, so weight x pixel is exactly each pixel's
share of the score. For the two-layer net the same holds once the ReLUs that fired are fixed: the score is
sum(pixels * g) + c, where g is the gradient of the score with respect to the pixels and c collects the biases.
"""
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from digitviz.baselines import digit_index, is_first, nearest_mean


@dataclass(frozen=True, eq=False)
class Verdict:
    """The model's and the baseline's answer for one image, and the chosen digit's score broken down by pixel."""
    digit: int  # what the model says
    probabilities: dict  # digit -> the model's probability for it
    score: float  # the score behind the verdict: the logit for a pair (> 0 means the first digit)
    contributions: np.ndarray  # (28, 28): each pixel's share of the score
    bias: float  # the part of the score that no pixel decides
    baseline_digit: int  # what the mean-image baseline (L1, the lesson's) says

    @property
    def confidence(self):
        """The probability of the digit the model chose."""
        return self.probabilities[self.digit]


def pixel_contributions(params, x, output=0):
    """(784,) pixels -> ((784,) per-pixel shares of one output's score, the rest of that score)."""
    w = np.asarray(params["weights"], dtype=np.float64)  # (784, k)
    b = np.asarray(params["bias"], dtype=np.float64)
    if "out_weights" not in params:  # a linear model: weights (784, k), one column per output
        return x * w[:, output], float(b[output])
    v, c = np.asarray(params["out_weights"], dtype=np.float64)[:, 0], float(params["out_bias"][0])
    active = (x @ w + b) > 0  # which hidden units fired for this image
    g = w[:, active] @ v[active]  # (784,): d score / d pixel with the firing pattern fixed
    return x * g, float(b[active] @ v[active] + c)


def classify(params: Mapping[str, np.ndarray], image: np.ndarray, digits: tuple[int, ...],
             means: np.ndarray) -> Verdict:
    """The verdict of a model (its parameters) and of the mean-image baseline on a (28, 28) image in 0..1."""
    x = np.asarray(image, dtype=np.float64).reshape(28 * 28)
    pixels = x.astype(np.float32)
    if len(digits) == 2:
        shares, rest = pixel_contributions(params, x)
        score = float(shares.sum() + rest)
        p = float(1 / (1 + np.exp(-np.clip(score, -500, 500))))
        first, second = digits
        return Verdict(first if score > 0 else second, {first: p, second: 1 - p}, score, shares.reshape(28, 28),
                       rest, first if bool(is_first(pixels, means[0], means[1])[0]) else second)
    scores = x @ np.asarray(params["weights"], np.float64) + np.asarray(params["bias"], np.float64)  # (10,)
    p = np.exp(scores - scores.max())
    p /= p.sum()
    best = int(scores.argmax())
    shares, rest = pixel_contributions(params, x, output=best)
    return Verdict(digits[best], dict(zip(digits, p.tolist())), float(scores[best]), shares.reshape(28, 28), rest,
                   digits[int(nearest_mean(pixels, means)[0])])


def predictions(params, data):
    """((n,) index into data.digits of each validation image's predicted digit, (n,) the model's confidence).

    In NumPy, float32 as the engine trains: the page's server need not load torch to show a run's mistakes. (The
    logits' last bits may differ from the engine's, which sums in its own order: a validation image exactly on
    the boundary could be called the other way; tests/unit/test_mistakes.py checks that the counts agree.)"""
    p = {name: np.asarray(a, np.float32) for name, a in params.items()}
    z = np.asarray(data.valid_x, np.float32) @ p["weights"] + p["bias"]
    if "out_weights" in p:  # the two-layer net: ReLU, then its output layer
        z = np.maximum(z, 0) @ p["out_weights"] + p["out_bias"]
    if z.shape[1] == 1:  # a pair: index 0 (the first digit) when the sigmoid says so
        p = np.exp(-np.logaddexp(0, -z[:, 0]))  # sigmoid, without overflow for a large logit
        return (p <= 0.5).astype(np.int64), np.maximum(p, 1 - p)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return p.argmax(1), p.max(1)


@dataclass(frozen=True)
class Mistake:
    """One validation image the model gets wrong."""
    index: int  # row in data.valid_x
    true_digit: int
    said: int
    confidence: float  # how sure the model was of its wrong answer


def mistakes(params, data, limit=24):
    """The validation images the model gets wrong, most confident mistakes first."""
    said, confidence = predictions(params, data)
    truth = digit_index(data)
    wrong = np.flatnonzero(said != truth)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:limit]
    return [Mistake(int(i), data.digits[truth[i]], data.digits[said[i]], float(confidence[i])) for i in wrong]


def confusion_matrix(params, data):
    """(k, k) counts of validation images: row = the true digit, column = the model's answer, in data.digits order."""
    said, _ = predictions(params, data)
    truth = digit_index(data)
    k = len(data.digits)
    return np.bincount(truth * k + said, minlength=k * k).reshape(k, k)
