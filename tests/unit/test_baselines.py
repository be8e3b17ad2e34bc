"""The lesson's first idea, on hand-built images where the answer is known: a tie goes to the second digit."""
import torch

from digitviz.baselines import baseline_accuracy, is_first
from digitviz.data import DigitData


def grey(*levels):
    """(n, 784) images, each one flat grey level."""
    return torch.stack([torch.full((784,), float(v)) for v in levels])


def test_a_tie_goes_to_the_second_digit():
    """The lesson's is_3 is `mnist_distance(x, mean3) < mnist_distance(x, mean7)`: strictly closer to the 3."""
    mean3, mean7 = torch.zeros(28, 28), torch.ones(28, 28)
    x = grey(0.5, 0.4, 0.6)  # halfway (a tie), nearer the 3, nearer the 7
    for norm in ("l1", "l2"):
        assert is_first(x, mean3, mean7, norm).tolist() == [False, True, False], norm


def test_the_baseline_counts_a_tie_as_the_second_digit():
    """A validation 7 exactly halfway between the two mean images is scored right, a 3 there wrong."""
    means = torch.stack([torch.zeros(28, 28), torch.ones(28, 28)])
    data = DigitData(grey(0, 1), torch.tensor([[1.0], [0.0]]), grey(0.5, 0.5), torch.tensor([[0.0], [1.0]]),
                     digits=(3, 7), source="hand")
    accuracy = baseline_accuracy(data, means)
    assert accuracy.per_digit == {3: 0.0, 7: 1.0} and accuracy.overall == 0.5
