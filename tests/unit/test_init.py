"""digitviz.init against torch itself: a run's starting weights, made in NumPy so that the page needs no torch, are
torch.randn's own numbers to the bit, for many seeds, every shape a model has, and each model's init."""
import math

import numpy as np
import pytest
import torch

from digitviz.config import TrainConfig
from digitviz.init import Generator, initial_arrays
from digitviz.models import initial_params

SHAPES = [(784, 1), 1, (784, 10), 10, (784, 30), 30, (30, 1), 17, 5, 33, 16, 15, 2]  # the models', and the edges
SEEDS = [*range(60), 1234, 99_999, 2**31 - 1]


def same_bits(ours, theirs):
    return ours.shape == theirs.shape and ours.dtype == theirs.dtype and np.array_equal(
        ours.view(np.uint32), theirs.view(np.uint32))


@pytest.mark.parametrize("seed", SEEDS)
def test_randn_is_torchs_to_the_bit(seed):
    """One generator drawn from shape after shape, as a model's init does: the double-precision pairs of the small
    shapes carry their spare number over to the next small shape."""
    ours, theirs = Generator(seed), torch.Generator().manual_seed(seed)
    for size in SHAPES:
        assert same_bits(ours.randn(size), torch.randn(size, generator=theirs).numpy()), (seed, size)


@pytest.mark.parametrize("std", [1.0, 0.5, 3.0, 0.1, 1 / 28, 1 / math.sqrt(30), 0.0])
def test_scaled_as_torch_scales(std):
    ours = Generator(7).randn((784, 1)) * np.float32(std)
    assert same_bits(ours, (torch.randn((784, 1), generator=torch.Generator().manual_seed(7)) * std).numpy())


@pytest.mark.parametrize("config", [TrainConfig(), TrainConfig(seed=3, init_std=0.5),
                                    TrainConfig(model="softmax", loss="cross_entropy", seed=11, init_std=0.1),
                                    TrainConfig(model="two_layer", seed=5, init_std=2.0)], ids=str)
def test_each_models_start_is_the_lessons_init_params_in_order(config):
    """The reference: torch.randn(size)*std for each parameter in turn from one seeded generator, as the engine
    made a run's start before it was made without torch."""
    g = torch.Generator().manual_seed(config.seed)
    std = config.init_std
    if config.model == "two_layer":
        shapes = [((784, 30), std / 28), (30, std / 28), ((30, 1), std / math.sqrt(30)), (1, std / math.sqrt(30))]
    else:
        k = 10 if config.ten_digits else 1
        shapes = [((784, k), std), (k, std)]
    reference = [torch.randn(size, generator=g) * s for size, s in shapes]
    ours = initial_arrays(config)
    assert len(ours) == len(reference)
    for (name, a), t in zip(ours.items(), reference):
        assert same_bits(a, t.numpy()), name
    assert all(same_bits(initial_params(config)[name].numpy(), a) for name, a in ours.items())
