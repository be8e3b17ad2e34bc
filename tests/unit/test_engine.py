"""The engine against references: autograd for the gradients, the lesson's own loop for training."""
import dataclasses

import numpy as np
import pytest
import torch

from digitviz import TrainConfig, lesson, load_digits, pixel_similarity, train
from digitviz.engine import epoch_order
from digitviz.losses import LOSS_FUNCS, batch_accuracy, loss_grad, mnist_loss, signed_targets
from digitviz.models import TwoLayer, initial_params

SCALARS = ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "diverged")


def same_records(a, b):
    """Equal in everything but the wall-clock seconds."""
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert [getattr(ra, f) for f in SCALARS] == [getattr(rb, f) for f in SCALARS]
        for k in ra.params:
            np.testing.assert_array_equal(ra.params[k], rb.params[k])


def test_public_api_imports():
    import digitviz
    assert {"load_digits", "TrainConfig", "train"} <= set(digitviz.__all__)


@pytest.mark.parametrize("field, value, words", [
    ("lr", 0, "lr must be a finite number > 0"), ("lr", -1, "lr must be"), ("lr", float("nan"), "lr must"),
    ("lr", float("inf"), "lr must"), ("lr", "1", "lr must"),
    ("epochs", 0, "epochs must be a whole number from 1 to 10,000"), ("epochs", 10_001, "from 1 to 10,000"),
    ("epochs", 2.5, "epochs must"), ("epochs", True, "epochs must"),
    ("batch_size", 0, "batch_size must be a whole number >= 1"),
    ("init_std", -0.1, "init_std must be a finite number >= 0"), ("init_std", float("inf"), "init_std"),
    ("seed", -1, "seed must"), ("shuffle", "yes", "shuffle must be True or False"),
    ("loss", "mse", "loss must be one of mnist_loss, first_attempt, bce"),
    ("model", "cnn", "model must be one of linear, fastai, two_layer"),
])
def test_bad_config_names_field_and_range(field, value, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**{field: value})


def test_batch_size_checked_against_training_set(data):
    config = TrainConfig(batch_size=len(data.train_x) + 1)
    with pytest.raises(ValueError, match=r"batch_size must be from 1 to 12,396 \(the training set's size\)"):
        next(train(config, data))
    assert next(train(dataclasses.replace(config, batch_size=len(data.train_x)), data)).epoch == 1


@pytest.fixture(scope="module")
def ten():
    return load_digits(pair="all")


def test_ten_digits_need_the_softmax_model(data, ten):
    with pytest.raises(ValueError, match="load a pair of digits, or use model='softmax'"):
        next(train(TrainConfig(), ten))
    with pytest.raises(ValueError, match="pair='all'"):
        next(train(TrainConfig(model="softmax", loss="cross_entropy"), data))
    for model, loss in (("softmax", "mnist_loss"), ("linear", "cross_entropy")):
        with pytest.raises(ValueError, match="go together"):
            TrainConfig(model=model, loss=loss)


@pytest.mark.slow
def test_softmax_on_ten_digits_beats_the_nearest_mean_image(ten):
    config = TrainConfig(model="softmax", loss="cross_entropy", epochs=3, shuffle=True, lr=1.0)
    records = list(train(config, ten))
    assert records[-1].weights.shape == (10, 28, 28) and records[-1].bias.shape == (10,)
    assert records[-1].valid_acc > pixel_similarity(ten).l1.overall + 0.1
    assert not records[-1].diverged


@pytest.mark.parametrize("loss", LOSS_FUNCS)
def test_loss_gradient_matches_autograd(loss):
    torch.manual_seed(1)
    if loss == "cross_entropy":
        z, y = (torch.randn(50, 10) * 3).requires_grad_(), torch.randint(0, 10, (50,))
    else:
        z, y = (torch.randn(50, 1) * 3).requires_grad_(), (torch.rand(50, 1) > 0.5).float()
    LOSS_FUNCS[loss](z, y).backward()
    torch.testing.assert_close(loss_grad(loss, z.detach(), y, signed_targets(y, 50)), z.grad, rtol=1e-5, atol=1e-7)


def test_signed_targets_divide_by_each_batchs_size():
    y = torch.tensor([[1.0], [0.0], [1.0], [0.0], [0.0]])
    expected = torch.tensor([[-1 / 2], [1 / 2], [-1 / 2], [1 / 2], [1.0]])  # batches of 2, 2 and a last one of 1
    torch.testing.assert_close(signed_targets(y, 2), expected)


def test_two_layer_step_matches_autograd(data):
    params = initial_params(TrainConfig(model="two_layer", seed=3))
    ref = {k: v.clone().requires_grad_() for k, v in params.items()}
    xb, yb = data.train_x[:64], data.train_y[:64]
    h = (xb @ ref["weights"] + ref["bias"]).relu()
    LOSS_FUNCS["mnist_loss"](h @ ref["out_weights"] + ref["out_bias"], yb).backward()
    model = TwoLayer(params)
    model.sgd_step(xb, loss_grad("mnist_loss", model(xb), yb, signed_targets(yb, 64)), lr=0.5)
    for k in params:
        torch.testing.assert_close(params[k], ref[k].detach() - 0.5 * ref[k].grad, rtol=1e-5, atol=1e-6)


def test_engine_matches_the_lessons_loop(data):
    """Same start, no shuffle: every epoch the weights, accuracy and loss agree with the notebook's loop."""
    config = TrainConfig(lr=1.0, epochs=4, batch_size=256, init_std=1.0, seed=42)
    start = initial_params(config)
    params = lesson.lesson_params(start["weights"], start["bias"])
    dl, valid_dl = lesson.lesson_dataloaders(data, config.batch_size)
    model = lesson.linear1(params)
    for record in train(config, data):
        lesson.train_epoch(dl, model, config.lr, params)
        ours = lesson.linear1((record.state()["weights"], record.state()["bias"]))
        assert lesson.validate_epoch(valid_dl, ours) == lesson.validate_epoch(valid_dl, model)
        with torch.no_grad():
            theirs_loss = LOSS_FUNCS["mnist_loss"](model(data.valid_x), data.valid_y).item()
        assert abs(record.valid_loss - theirs_loss) < 1e-4
        np.testing.assert_allclose(record.params["weights"], params[0].detach().numpy(), atol=1e-4)


def shuffled_lesson_run(data, config):
    """The lesson's loop with autograd, shuffling each epoch by randperm seeded with seed * 10,000 + epoch.
    Yields (training loss, training accuracy, weights) per epoch, the first two scored in the epoch's order."""
    start = initial_params(config)
    weights, bias = lesson.lesson_params(start["weights"], start["bias"])
    n, bs = len(data.train_x), config.batch_size
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed * 10_000 + epoch))
        x, y = data.train_x[order], data.train_y[order]
        loss_sum = correct = 0.0
        for i in range(0, n, bs):
            xb, yb = x[i:i + bs], y[i:i + bs]
            preds = xb @ weights + bias
            loss = mnist_loss(preds, yb)
            loss_sum += loss.item() * len(xb)
            correct += ((preds.sigmoid() > 0.5) == yb).sum().item()
            loss.backward()
            for p in (weights, bias):
                p.data -= p.grad * config.lr
                p.grad.zero_()
        yield loss_sum / n, correct / n, weights.detach().numpy().copy()


def test_shuffled_run_matches_the_lessons_loop_in_each_epochs_order(data):
    """A new order every epoch, and training loss and accuracy scored against the targets in that order."""
    config = TrainConfig(epochs=3, shuffle=True, seed=3, batch_size=64)
    for record, (loss, acc, weights) in zip(train(config, data), shuffled_lesson_run(data, config), strict=True):
        assert abs(record.train_loss - loss) < 1e-4 and abs(record.train_acc - acc) <= 2 / len(data.train_x)
        np.testing.assert_allclose(record.params["weights"], weights, atol=1e-4)
    assert record.train_acc > 0.9  # scored against the unshuffled targets it would sit near 0.5


def test_each_epoch_has_its_own_order(data):
    n = len(data.train_x)
    config = TrainConfig(shuffle=True, seed=1)
    one, two = epoch_order(config, 1, n), epoch_order(config, 2, n)
    assert sorted(one.tolist()) == list(range(n)) and not np.array_equal(one, two)
    assert np.array_equal(one, epoch_order(config, 1, n))
    assert not np.array_equal(one, epoch_order(dataclasses.replace(config, seed=2), 1, n))
    assert epoch_order(dataclasses.replace(config, shuffle=False), 1, n) is None


def test_an_output_of_exactly_zero_is_the_second_digit():
    """sigmoid(0) is 0.5, and the lesson says 3 only when the sigmoid is over 0.5."""
    zeros = torch.zeros(4, 1)
    assert batch_accuracy(zeros, torch.zeros(4, 1)).item() == 1.0
    assert batch_accuracy(zeros, torch.ones(4, 1)).item() == 0.0


def test_tiny_init_std_starts_by_calling_every_image_the_second_digit(data):
    """init_std 0 starts every output at exactly 0: one batch of the whole set scores the share of 7s."""
    config = TrainConfig(init_std=0.0, epochs=1, batch_size=len(data.train_x))
    record = next(train(config, data))
    assert record.train_acc == pytest.approx(data.counts()[7] / len(data.train_x), abs=1e-7)
    assert record.train_loss == pytest.approx(0.5)


def test_same_seed_same_records(data):
    config = TrainConfig(epochs=5, shuffle=True, seed=7)
    same_records(list(train(config, data)), list(train(config, data)))


def test_different_seed_different_start(data):
    a = next(train(TrainConfig(epochs=1, seed=1), data))
    b = next(train(TrainConfig(epochs=1, seed=2), data))
    assert not np.array_equal(a.weights, b.weights)


def test_resume_equals_one_uninterrupted_run(data):
    """Stop after 3 epochs, continue for 3: the same records as 6 in a row, shuffle included."""
    config = TrainConfig(epochs=6, shuffle=True, seed=5, lr=0.5)
    whole = list(train(config, data))
    first = list(train(dataclasses.replace(config, epochs=3), data))
    rest = list(train(dataclasses.replace(config, epochs=3), data, start=first[-1]))
    same_records(whole, first + rest)
    assert rest[-1].seconds > first[-1].seconds


def test_records_are_frozen(data):
    record = next(train(TrainConfig(epochs=1), data))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.valid_acc = 1.0
    with pytest.raises(ValueError):
        record.params["weights"][0] = 0.0
    assert record.weights.shape == (28, 28) and isinstance(record.bias, float)


def test_default_run_beats_the_mean_image_baseline(data):
    records = list(train(TrainConfig(epochs=30), data))
    assert [r.epoch for r in records] == list(range(1, 31))
    baseline = pixel_similarity(data).l1.overall
    assert records[-1].valid_acc > baseline + 0.01
    assert records[-1].valid_loss < records[0].valid_loss
    assert records[-1].seconds > 0 and not any(r.diverged for r in records)


@pytest.mark.parametrize("loss, lr, words", [
    ("mnist_loss", 1000, "gradient is zero"), ("bce", 1000, "exploded"),
])
def test_divergence_is_an_outcome(data, loss, lr, words):
    records = list(train(TrainConfig(lr=lr, loss=loss, epochs=50), data))
    assert len(records) < 50
    assert words in records[-1].diverged and not any(r.diverged for r in records[:-1])


def test_first_attempt_loss_runs_off(data):
    """Without the sigmoid the loss has no floor: the lesson's reason to add one."""
    records = list(train(TrainConfig(loss="first_attempt", lr=0.01, epochs=100), data))
    assert records[-1].valid_loss < 0 and "exploded" in records[-1].diverged


def test_two_layer_net_learns(data):
    records = list(train(TrainConfig(model="two_layer", epochs=8), data))
    assert records[-1].weights.shape == (30, 28, 28)
    assert records[-1].valid_acc > pixel_similarity(data).l1.overall


@pytest.mark.slow
def test_fastai_learner_matches_scratch_model(data):
    """fastai's Learner with nn.Linear and SGD does the same arithmetic as the from-scratch loop."""
    config = TrainConfig(epochs=2, seed=4)
    scratch = list(train(config, data))
    library = list(train(dataclasses.replace(config, model="fastai"), data))
    for a, b in zip(scratch, library, strict=True):
        assert abs(a.valid_loss - b.valid_loss) < 1e-4 and abs(a.train_loss - b.train_loss) < 1e-4
        assert abs(a.valid_acc - b.valid_acc) <= 2 / len(data.valid_x)
        np.testing.assert_allclose(a.weights, b.weights, atol=1e-4)
