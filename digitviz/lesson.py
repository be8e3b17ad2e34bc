"""The lesson's own training loop, kept as the notebook wrote it: the reference the engine is checked against.

It builds fastai's DataLoader over a list of (x, y) tuples and steps with `loss.backward()`, exactly as
chapter 4 does, so tests and benchmarks can compare the engine with the real thing. Only the global
`weights`/`bias` of the notebook became a `params` tuple passed in.
"""
import torch

from digitviz.losses import batch_accuracy, mnist_loss


def lesson_dataloaders(data, batch_size=256):
    """dl and valid_dl as the notebook builds them."""
    from fastai.data.load import DataLoader  # fastai takes seconds to import: only when the lesson runs
    dset = list(zip(data.train_x, data.train_y))
    valid_dset = list(zip(data.valid_x, data.valid_y))
    return DataLoader(dset, batch_size=batch_size), DataLoader(valid_dset, batch_size=batch_size)


def linear1(params):
    """The notebook's linear1, closed over the parameters it uses."""
    weights, bias = params
    return lambda xb: xb @ weights + bias


def calc_grad(xb, yb, model):
    preds = model(xb)
    loss = mnist_loss(preds, yb)
    loss.backward()


def train_epoch(dl, model, lr, params):
    for xb, yb in dl:
        calc_grad(xb, yb, model)
        for p in params:
            p.data -= p.grad * lr
            p.grad.zero_()


def validate_epoch(valid_dl, model):
    """The notebook's accuracy: the mean of per-batch accuracies, rounded to 4 places."""
    accs = [batch_accuracy(model(xb), yb) for xb, yb in valid_dl]
    return round(torch.stack(accs).mean().item(), 4)


def lesson_params(weights, bias):
    """Leaf tensors that require grad, from given starting values (so both loops start alike)."""
    return weights.clone().requires_grad_(), bias.clone().requires_grad_()
