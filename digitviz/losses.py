"""The lesson's losses and accuracy, and the closed forms of their gradients that the SGD step uses."""
import torch


def mnist_loss(predictions, targets):
    """The lesson's loss: how far the sigmoid of each prediction is from its target."""
    predictions = predictions.sigmoid()
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def first_attempt_loss(predictions, targets):
    """The lesson's first attempt, without the sigmoid: nothing stops predictions running off."""
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def bce_loss(predictions, targets):
    """Binary cross-entropy on logits: -log of the probability given to the right digit."""
    return torch.nn.functional.binary_cross_entropy_with_logits(predictions, targets)


def cross_entropy_loss(predictions, targets):
    """-log of the softmax probability given to the right digit; predictions (n, 10), targets (n,) digits."""
    return torch.nn.functional.cross_entropy(predictions, targets)


LOSS_FUNCS = {"mnist_loss": mnist_loss, "first_attempt": first_attempt_loss, "bce": bce_loss,
              "cross_entropy": cross_entropy_loss}


def signed_targets(y, batch_size):
    """(1 - 2y) / (size of each sample's batch): the part of every gradient that only the data decides."""
    sizes = torch.full_like(y, batch_size)
    last = len(y) % batch_size
    if last:
        sizes[-last:] = last
    return (1 - 2 * y) / sizes  # -1/n where the target is 1: pushing z up lowers the loss there


def loss_grad(name, z, y, signed):
    """d(loss)/dz for a batch of logits z (n, 1), or (n, 10): the closed forms of the losses above."""
    if name == "mnist_loss":
        p = z.sigmoid()
        return p.mul(1 - p).mul_(signed)
    if name == "first_attempt":
        return signed
    if name == "bce":
        return (z.sigmoid() - y).div_(len(z))
    p = z.softmax(1)
    p[torch.arange(len(z)), y] -= 1  # softmax minus the one-hot target
    return p.div_(len(z))


def batch_accuracy(xb, yb):
    """The lesson's accuracy: a prediction says 3 when its sigmoid is over 0.5."""
    preds = xb.sigmoid()
    correct = (preds > 0.5) == yb
    return correct.float().mean()


def accuracy(z, y):
    """batch_accuracy for one output; for ten, the digit with the largest output is the prediction."""
    return batch_accuracy(z, y) if z.shape[1] == 1 else (z.argmax(1) == y).float().mean()
