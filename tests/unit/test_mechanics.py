"""The lesson's mechanics against references: the engine's predictions, mnist_loss, and autograd."""
import dataclasses

import numpy as np
import pytest
import torch

from digitviz import TrainConfig, train
from digitviz.losses import batch_accuracy, mnist_loss
from digitviz.mechanics import (
    batches_per_epoch,
    forgotten_zero,
    next_batch,
    raw_outputs,
    sgd_step,
    steepest_pixel,
    threshold_view,
    weight_sweep,
)
from digitviz.models import initial_params

TOL = 1e-6


def torch_outputs(params, x):
    """The reference raw outputs: the lesson's `xb@weights + bias` in torch, (n,)."""
    return (x @ torch.from_numpy(np.array(params["weights"])) + torch.from_numpy(np.array(params["bias"])))[:, 0]


def test_raw_outputs_are_the_lessons_model(data, trained):
    np.testing.assert_allclose(raw_outputs(trained.params, data.valid_x), torch_outputs(trained.params, data.valid_x),
                               atol=1e-5)


@pytest.fixture(scope="module")
def trained(data):
    """Params after 3 epochs of the lesson's settings: far enough from the start that every number is lively."""
    *_, last = train(TrainConfig(epochs=3), data)
    return last


def lesson_grad(params, xb, yb, lr=None):
    """The notebook's calc_grad on fresh tensors: loss.backward() gives weights.grad and bias.grad."""
    weights = torch.tensor(np.array(params["weights"]), requires_grad=True)
    bias = torch.tensor(np.array(params["bias"]), requires_grad=True)
    loss = mnist_loss(xb @ weights + bias, yb)
    loss.backward()
    return loss.item(), weights.grad[:, 0].numpy(), bias.grad.item()


def test_histograms_count_every_validation_image_by_its_digit(data, trained):
    view = threshold_view(trained.params, data)
    y = data.valid_y[:, 0] == 1
    assert view.first_counts.sum() == int(y.sum()) == len(view.first) == 1010
    assert view.second_counts.sum() == int((~y).sum()) == len(view.second) == 1028
    z = torch.from_numpy(np.concatenate([view.first, view.second]))
    manual = np.histogram(z.numpy(), view.edges)[0]
    np.testing.assert_array_equal(view.first_counts + view.second_counts, manual)


def test_threshold_zero_is_the_engines_accuracy_and_moving_it_changes_it(data, trained):
    at_zero = threshold_view(trained.params, data, 0.0).accuracy
    assert at_zero == pytest.approx(trained.valid_acc, abs=TOL)  # the record's batch_accuracy, sigmoid > 0.5
    z = torch_outputs(trained.params, data.valid_x)
    assert at_zero == pytest.approx(batch_accuracy(z[:, None], data.valid_y).item(), abs=TOL)
    far = threshold_view(trained.params, data, float(z.max()) + 1).accuracy  # everything called the second digit
    assert far == pytest.approx(1028 / 2038)
    t = 2.0
    assert threshold_view(trained.params, data, t).accuracy == pytest.approx(
        ((z > t) == (data.valid_y[:, 0] == 1)).float().mean().item(), abs=TOL)


@pytest.mark.parametrize("epoch,batch", [(4, 0), (4, 30), (4, 48)])  # a 3s batch, a 7s batch, the short last one
def test_the_ledger_sums_to_the_batch_loss_and_the_gradient_is_autograds(data, trained, epoch, batch):
    config = TrainConfig(epochs=3)
    step, after = sgd_step(trained.params, data, config, epoch, batch)
    xb, yb = data.train_x[step.index], data.train_y[step.index]
    loss, grad, bias_grad = lesson_grad(trained.params, xb, yb)
    assert step.share.sum() == pytest.approx(loss, abs=TOL) and step.loss == pytest.approx(loss, abs=TOL)
    np.testing.assert_allclose(step.grad, grad, atol=TOL)
    assert step.bias_grad == pytest.approx(bias_grad, abs=TOL)
    np.testing.assert_allclose(sum(step.push(i) for i in range(len(step.index))).ravel(), -config.lr * grad, atol=TOL)
    np.testing.assert_allclose(after["weights"][:, 0], trained.params["weights"][:, 0] - config.lr * grad, atol=TOL)
    assert set(step.branch[step.yb == 1]) <= {"1-p"} and set(step.branch[step.yb == 0]) <= {"p"}
    assert len(step.index) == (12396 - 48 * 256 if batch == 48 else 256)


def test_stepping_through_an_epoch_is_the_engines_epoch(data):
    """Every batch of epoch 1 stepped one at a time from the initial weights ends where train() ends."""
    for shuffle in (False, True):
        config = TrainConfig(epochs=1, shuffle=shuffle, seed=3)
        params = {k: v.numpy() for k, v in initial_params(config).items()}
        at = (1, 0)
        for _ in range(batches_per_epoch(config, len(data.train_x))):
            _, params = sgd_step(params, data, config, *at)
            at = next_batch(*at, config, len(data.train_x))
        (record,) = train(config, data)
        assert at == (2, 0)
        np.testing.assert_allclose(params["weights"], record.params["weights"], atol=1e-4)
        np.testing.assert_allclose(params["bias"], record.params["bias"], atol=1e-4)


def test_forgetting_zero_piles_the_gradients_up(data, trained):
    config = TrainConfig()
    first, after = sgd_step(trained.params, data, config, 4, 0)
    second, _ = sgd_step(after, data, config, 4, 1, carried=(first.grad, first.bias_grad))
    _, own, _ = lesson_grad(after, data.train_x[second.index], data.train_y[second.index])
    np.testing.assert_allclose(second.batch_grad, own, atol=TOL)
    np.testing.assert_allclose(second.grad, own + first.grad, atol=TOL)  # what .grad holds without zero_()
    curves = forgotten_zero(trained.params, data, config, 4, 20)
    assert len(curves["zeroed"]) == len(curves["forgotten"]) == 20
    assert curves["grad_norm_forgotten"][-1] > 3 * curves["grad_norm_zeroed"][-1]


def test_the_weight_sweep_measures_the_real_model(data, trained):
    pixel = steepest_pixel(trained.params, data)
    sweep = weight_sweep(trained.params, data, pixel)
    assert sweep.accuracy_now == pytest.approx(trained.valid_acc, abs=0.05)  # training, not validation, accuracy
    now = int(np.argmin(np.abs(sweep.values - sweep.current)))
    for i in (0, 57, now, 333, len(sweep.values) - 1):  # the model itself, with the one weight set to each value
        params = {k: np.array(v) for k, v in trained.params.items()}
        params["weights"][pixel, 0] = sweep.values[i]
        z = torch_outputs(params, data.train_x)[:, None]
        assert sweep.loss[i] == pytest.approx(mnist_loss(z, data.train_y).item(), abs=1e-5)
        assert sweep.accuracy[i] == pytest.approx(batch_accuracy(z, data.train_y).item(), abs=1e-5)
    weights = torch.tensor(np.array(trained.params["weights"]), requires_grad=True)
    mnist_loss(data.train_x @ weights + torch.tensor(np.array(trained.params["bias"])), data.train_y).backward()
    assert sweep.slope == pytest.approx(weights.grad[pixel, 0].item(), rel=1e-4)
    assert sweep.slope != 0 and sweep.inked > 0


def test_accuracy_is_flat_where_the_loss_is_not(data, trained):
    """The point of the view: between its steps accuracy has zero slope, while the loss always has some."""
    sweep = weight_sweep(trained.params, data, steepest_pixel(trained.params, data), span=0.1)
    flat = np.mean(np.diff(sweep.accuracy) == 0)
    assert flat > 0.8, f"accuracy changed between {1 - flat:.0%} of neighbouring values"
    assert np.all(np.diff(sweep.loss) != 0)
    assert len(np.unique(sweep.accuracy)) > 3  # and it does move, in steps


def test_a_blank_pixel_does_nothing(data, trained):
    sweep = weight_sweep(trained.params, data, 0)  # the top-left corner: no ink in any MNIST digit
    assert sweep.inked == 0 and sweep.slope == 0
    assert np.ptp(sweep.loss) == 0 and np.ptp(sweep.accuracy) == 0


def test_steps_do_not_change_the_record(data, trained):
    before = np.array(trained.params["weights"])
    sgd_step(trained.params, data, dataclasses.replace(TrainConfig(), lr=10), 4, 0)
    np.testing.assert_array_equal(trained.params["weights"], before)
