"""Which runs can train together as one carpool block (digitviz.carpool), and what each adds to its work.

Plain rules about configs, without torch or numba: the server's worker pool (digitviz.workers) groups waiting runs
with them, and the trajectory cache keys runs by ARITHMETIC, in the page's process, which opens before torch is
loaded.
"""
from digitviz.init import HIDDEN

TEN = 10  # the softmax model's rows of weights, one per digit

# Which arithmetic made a run's numbers: part of the trajectory cache's key, so runs made another way never mix.
ARITHMETIC = ("digitviz.kernel 3: float32, logits summed in 16 pixel lanes, gradients in row order; softmax and "
              "the two-layer net too")
BLOCK_MODELS = ("linear", "softmax", "two_layer")  # the models with a block form; fastai's Learner trains alone


def carpool_key(config):
    """What runs must share to train in one block (None: this model has no block form).

    The same data (the Carpool's), loss and batch size, and the same batch order: no shuffle, or the same seed's.
    A shuffled run also needs the block's next epoch to be its own (Carpool.can_join checks)."""
    if config.model not in BLOCK_MODELS:
        return None
    return config.model, config.loss, config.batch_size, config.seed if config.shuffle else None


def block_rows(config):
    """The rows of a block's weights a run takes: one, ten for the softmax model (a row per digit), thirty for the
    two-layer net (a row per hidden unit)."""
    return {"softmax": TEN, "two_layer": HIDDEN}.get(config.model, 1)


def epoch_cost(config, digits):
    """What a run adds to a block's epoch, in rows times digits (each digit about 6,000 training images). Small
    batches cost more: each batch's step touches every weight (a two-layer run's epoch, measured: 0.1 s at batch
    size 1, 26 ms at 256)."""
    return block_rows(config) * len(digits) * (1 + 3 / config.batch_size)
