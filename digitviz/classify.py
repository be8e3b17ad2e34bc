"""Why the model calls a digit a 3 or a 7: its verdict on one 28x28 image, pixel by pixel.

For the linear model the score is sum(weights * pixels) + bias, so weight x pixel is exactly each pixel's
share of the score. For the two-layer net the same holds once the ReLUs that fired are fixed: the score is
sum(pixels * g) + c, where g is the gradient of the score with respect to the pixels and c collects the biases.
"""
from dataclasses import dataclass

import numpy as np
import torch

from digitviz.baselines import is_first


@dataclass(frozen=True, eq=False)
class Verdict:
    """The model's and the baseline's answer for one image, and the score broken down by pixel."""
    digit: int  # what the model says
    probability: float  # sigmoid(score): how sure it is that the image is the pair's first digit
    score: float  # the logit, = contributions.sum() + bias
    contributions: np.ndarray  # (28, 28): each pixel's share of the score; > 0 pushes towards the first digit
    bias: float  # the part of the score that no pixel decides
    baseline_digit: int  # what the mean-image baseline (L1, the lesson's) says

    @property
    def confidence(self):
        """The probability of the digit the model chose."""
        return self.probability if self.probability >= 0.5 else 1 - self.probability


def pixel_contributions(params, x):
    """(784,) pixels -> ((784,) per-pixel shares of the score, the rest of the score)."""
    w = np.asarray(params["weights"], dtype=np.float64)  # (784, k)
    b = np.asarray(params["bias"], dtype=np.float64)
    if "out_weights" not in params:  # the linear model: weights (784, 1)
        return x * w[:, 0], float(b[0])
    v, c = np.asarray(params["out_weights"], dtype=np.float64)[:, 0], float(params["out_bias"][0])
    active = (x @ w + b) > 0  # which hidden units fired for this image
    g = w[:, active] @ v[active]  # (784,): d score / d pixel with the firing pattern fixed
    return x * g, float(b[active] @ v[active] + c)


def classify(params, image, digits, mean3, mean7):
    """The verdict of a model (its parameters) and of the mean-image baseline on a (28, 28) image in 0..1."""
    x = np.asarray(image, dtype=np.float64).reshape(28 * 28)
    shares, rest = pixel_contributions(params, x)
    score = float(shares.sum() + rest)
    probability = float(1 / (1 + np.exp(-np.clip(score, -500, 500))))
    first, second = digits
    says_first = bool(is_first(torch.from_numpy(x.astype(np.float32)), mean3, mean7)[0])
    return Verdict(first if score > 0 else second, probability, score, shares.reshape(28, 28), rest,
                   first if says_first else second)
