"""What one epoch of training leaves behind: a frozen `EpochRecord`, and whether the run has blown up."""
import math
from dataclasses import dataclass, fields, replace
from types import MappingProxyType

import numpy as np

# A model that knows nothing scores 0.5 (mnist_loss) or 0.69 (bce); a loss this far from 0 has blown up.
EXPLODED_LOSS = 100.0


@dataclass(frozen=True, eq=False)
class EpochRecord:
    """What one epoch of training left behind. The arrays are read-only copies."""
    epoch: int  # 1-based, counting on across resumed runs
    train_loss: float  # mean over the epoch's training samples, each measured just before its batch's step
    train_acc: float  # likewise
    valid_loss: float  # on the whole validation set after the epoch
    valid_acc: float
    params: MappingProxyType  # name -> np.ndarray, all the model's parameters after the epoch
    seconds: float  # time spent training so far, excluding whatever the consumer did between epochs
    diverged: str = ""  # why the run blew up and stopped here, in words for a student; "" while it is fine

    @property
    def weights(self):
        return weight_map(self.params)

    @property
    def bias(self):
        b = self.params["bias"]
        return float(b[0]) if b.shape == (1,) else b

    def state(self):
        """Fresh tensors of the parameters, to classify with or to continue training from."""
        import torch  # here, not above: the page reads records (their maps, their curves) before torch is loaded
        return {k: torch.from_numpy(v.copy()) for k, v in self.params.items()}

    def as_row(self):
        """The scalar fields, for a CSV or a table."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "params"}

    def __reduce__(self):
        """Records travel between processes (digitviz.workers): send the arrays, freeze them again on arrival."""
        scalars = [getattr(self, f.name) for f in fields(self)]
        scalars[5] = dict(self.params)
        return _unpickle_record, tuple(scalars)


def _unpickle_record(epoch, train_loss, train_acc, valid_loss, valid_acc, params, seconds, diverged):
    for a in params.values():
        a.flags.writeable = False
    return EpochRecord(epoch, train_loss, train_acc, valid_loss, valid_acc, MappingProxyType(params), seconds, diverged)


def weight_map(params):
    """The weights as images: (28, 28) for a linear model, (hidden, 28, 28) for the two-layer net's first layer."""
    w = np.asarray(params["weights"])  # (784, k)
    return w[:, 0].reshape(28, 28) if w.shape[1] == 1 else w.T.reshape(-1, 28, 28)


def frozen_params(params):
    """Read-only numpy copies of the parameters (NumPy arrays, or torch tensors), safe to hand to any reader."""
    frozen = {}
    for name, t in params.items():
        a = np.array(t.detach().numpy() if hasattr(t, "detach") else t, order="C")  # a copy, laid out in rows
        a.flags.writeable = False
        frozen[name] = a
    return MappingProxyType(frozen)


def divergence(record, before):
    """Why this epoch shows the run has blown up ("" if it has not); `before` is the previous params."""
    losses = (record.train_loss, record.valid_loss)
    if not all(math.isfinite(v) for v in losses) or not all(np.isfinite(a).all() for a in record.params.values()):
        return "the loss overflowed: it is no longer a finite number"
    if max(abs(v) for v in losses) > EXPLODED_LOSS:
        return f"the loss exploded to {record.valid_loss:.3g}"
    # With every sigmoid at exactly 0 or 1 in float32 the gradient is zero: the weights can never move again.
    stuck = all(np.array_equal(record.params[k], before[k]) for k in before)
    if stuck and record.train_acc < 1:
        return "the weights stopped moving: every prediction is saturated at 0 or 1, so the gradient is zero"
    return ""


def checked_record(epoch, train_loss, train_acc, valid_loss, valid_acc, params, seconds, before):
    """The epoch's record, with `diverged` saying whether (and why) the run has blown up."""
    record = EpochRecord(epoch, train_loss, train_acc, valid_loss, valid_acc, frozen_params(params), seconds)
    return replace(record, diverged=divergence(record, before))
