"""fastai's learning-rate finder, `Learner.lr_find`, on the lesson's model trained from scratch.

The same sweep as fastai's `LRFinder` callback: from the run's initial weights, one mini-batch per step with the
learning rate growing exponentially from 1e-7 to 10 over 100 steps, stopping once the smoothed loss passes 4 times
its best. The losses are smoothed as fastai's `Recorder` smooths them (an exponential moving average, beta 0.98,
debiased), trimmed as `Learner.lr_find` trims them, and handed to fastai's own suggestion functions.

The lesson's batches are not shuffled (all 3s, then all 7s), so the loss jumps when the first batch of 7s arrives,
whatever the learning rate: the finder then stops early and its suggestions mean little. The page says so.

The page imports this module for its names (it sends `lr_find` to a worker), and its server loads no torch: torch is
imported where the finder runs.
"""
import math
from dataclasses import dataclass, field

SUGGESTIONS = ("valley", "minimum", "steep", "slide")  # fastai's SuggestionMethod, in its own order
SMOOTHING = 0.98  # fastai's Recorder(beta=0.98)


@dataclass(frozen=True)
class LRFind:
    """What the finder recorded, one entry per step, and fastai's suggestions from it."""
    lrs: list  # the learning rate of each step
    losses: list  # the smoothed loss after each step, as fastai's Recorder.losses holds them
    suggestions: dict  # name -> suggested learning rate, None where fastai's function failed on these losses
    points: dict = field(default_factory=dict)  # name -> (lr, loss): where fastai's plot marks the suggestion
    failures: dict = field(default_factory=dict)  # name -> what went wrong, in fastai's own words

    @property
    def stopped_early(self):
        return len(self.lrs) < 100


def lr_find(config, data, start_lr=1e-7, end_lr=10, num_it=100, stop_div=True):
    """fastai's `Learner.lr_find(start_lr, end_lr, num_it, stop_div)` from the run's initial weights."""
    lrs, losses = sweep(config, data, start_lr, end_lr, num_it, stop_div)
    return LRFind(lrs, losses, *suggest(lrs, losses, num_it))


def sweep(config, data, start_lr=1e-7, end_lr=10, num_it=100, stop_div=True):
    """(lrs, smoothed losses): SGD one batch at a time with an exponentially growing learning rate."""
    import torch

    from digitviz.data import as_tensors
    from digitviz.engine import tensor_order
    from digitviz.losses import LOSS_FUNCS, loss_grad, signed_targets
    from digitviz.models import SCRATCH_MODELS, Linear, initial_params
    data = as_tensors(data)  # a worker holds the digits as NumPy arrays
    model = SCRATCH_MODELS.get(config.model, Linear)(initial_params(config))  # fresh: the run's own stay put
    loss_func, bs, n = LOSS_FUNCS[config.loss], config.batch_size, len(data.train_x)
    smooth, best = torch.tensor(0.0), math.inf
    lrs, losses = [], []
    for epoch in range(1, num_it // -(-n // bs) + 2):  # fastai fits num_it // len(dls.train) + 1 epochs
        order = tensor_order(config, epoch, n)
        x, y = (data.train_x, data.train_y) if order is None else (data.train_x[order], data.train_y[order])
        signed = signed_targets(y, bs) if y.is_floating_point() else y
        for i in range(0, n, bs):
            lr = start_lr * (end_lr / start_lr) ** (len(lrs) / num_it)  # fastai's SchedExp at pos = train_iter/num_it
            with torch.no_grad():
                zb = model(x[i:i + bs])
                loss = loss_func(zb, y[i:i + bs])
                model.sgd_step(x[i:i + bs], loss_grad(config.loss, zb, y[i:i + bs], signed[i:i + bs]), lr)
            smooth = torch.lerp(loss, smooth, SMOOTHING)  # fastai's AvgSmoothLoss
            value = (smooth / (1 - SMOOTHING ** (len(lrs) + 1))).item()
            lrs.append(lr)
            losses.append(value)
            best = min(best, value)
            if (stop_div and value > 4 * best) or len(lrs) >= num_it:
                return lrs, losses
    return lrs, losses


def trimmed(lrs, losses, num_it=100):
    """Learner.lr_find's trimming: drop the first tenth and the last 5 steps, and everything from the first NaN."""
    import torch
    lrs, losses = torch.tensor(lrs[num_it // 10:-5]), torch.tensor(losses[num_it // 10:-5])
    nan_idxs = torch.nonzero(torch.isnan(losses.view(-1)))
    if len(nan_idxs) > 0:
        drop = min(nan_idxs)
        lrs, losses = lrs[:drop], losses[:drop]
    return lrs, losses


def suggest(lrs, losses, num_it=100):
    """(suggestions, points, failures) from fastai's own suggestion functions, on the trimmed losses."""
    from fastai.callback import schedule  # fastai takes seconds to import: only when the finder runs
    trim_lrs, trim_losses = trimmed(lrs, losses, num_it)
    suggestions, points, failures = {}, {}, {}
    for name in SUGGESTIONS:
        try:
            lr, (x, y) = getattr(schedule, name)(trim_lrs, trim_losses, num_it)
            suggestions[name], points[name] = float(lr), (float(x), float(y))
        except Exception as e:  # noqa: BLE001 (fastai's own functions fail on some curves: report, not crash)
            suggestions[name], failures[name] = None, f"{type(e).__name__}: {e}"
    return suggestions, points, failures
