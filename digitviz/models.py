"""The from-scratch models: the lesson's linear1 and the book's simple_net, each with its SGD step written out.

They compute their gradients by hand instead of with `loss.backward()`. It is the same arithmetic (tests check
it against autograd and against the lesson's own loop), but it skips autograd's bookkeeping, which costs more
than the maths on batches this small.
"""
import torch

from digitviz.init import initial_arrays


class Linear:
    """The lesson's linear1: xb@weights + bias, with its SGD step written out; k outputs for k digits' scores."""

    def __init__(self, params):
        self.params = params  # {"weights": (784, k), "bias": (k,)}; k = 1 for the lesson

    def __call__(self, xb, out=None):
        return torch.addmm(self.params["bias"], xb, self.params["weights"], out=out)  # (n, 784) -> (n, k)

    def sgd_step(self, xb, dz, lr):
        self.params["weights"].addmm_(xb.T, dz, alpha=-lr)  # w -= lr * (784, n) @ (n, k), in one call
        self.params["bias"].sub_(dz.sum(0), alpha=lr)


class TwoLayer:
    """The book's simple_net, Linear(784, 30) -> ReLU -> Linear(30, 1), with backprop written out."""

    def __init__(self, params):
        self.params = params  # weights (784, h), bias (h,), out_weights (h, 1), out_bias (1,)
        self.hidden = None

    def __call__(self, xb, out=None):
        p = self.params
        self.hidden = torch.addmm(p["bias"], xb, p["weights"]).relu_()  # (n, 784) -> (n, h)
        return torch.addmm(p["out_bias"], self.hidden, p["out_weights"], out=out)  # (n, h) -> (n, 1)

    def sgd_step(self, xb, dz, lr):
        p, h = self.params, self.hidden
        dh = (dz @ p["out_weights"].T) * (h > 0)  # (n, 1) -> (n, h), zero where the ReLU was off
        p["out_weights"].addmm_(h.T, dz, alpha=-lr)
        p["out_bias"].sub_(dz.sum(0), alpha=lr)
        p["weights"].addmm_(xb.T, dh, alpha=-lr)
        p["bias"].sub_(dh.sum(0), alpha=lr)


SCRATCH_MODELS = {"linear": Linear, "two_layer": TwoLayer, "softmax": Linear}


def initial_params(config):
    """The parameters a run starts from, fixed by the seed (digitviz.init), as tensors to train."""
    return {name: torch.from_numpy(a) for name, a in initial_arrays(config).items()}
