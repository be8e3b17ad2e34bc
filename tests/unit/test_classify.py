"""Classifying one digit: the verdict and its pixel-by-pixel breakdown against the models' own forward pass."""
import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from digitviz import TrainConfig, pixel_similarity, train
from digitviz.baselines import is_first
from digitviz.classify import classify
from digitviz.engine import Linear, TwoLayer
from digitviz.preprocess import prepare_upload


@pytest.fixture(scope="module")
def trained(data):
    return list(train(TrainConfig(epochs=30), data))[-1]


@pytest.fixture(scope="module")
def baseline(data):
    return pixel_similarity(data)


def png(array28):
    buf = io.BytesIO()
    Image.fromarray((np.asarray(array28) * 255).round().astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_linear_contributions_add_up_to_the_models_score(data, trained, baseline):
    x = data.valid_x[5]
    v = classify(trained.params, x.view(28, 28).numpy(), (3, 7), baseline.means)
    score = Linear(trained.state())(x.view(1, -1)).item()
    assert v.score == pytest.approx(score, abs=1e-4)
    assert v.contributions.sum() + v.bias == pytest.approx(score, abs=1e-4)
    np.testing.assert_allclose(v.contributions, (x.numpy() * trained.params["weights"][:, 0]).reshape(28, 28),
                               rtol=1e-6)
    assert v.probabilities[3] == pytest.approx(torch.sigmoid(torch.tensor(score)).item(), abs=1e-6)
    assert v.digit == (3 if score > 0 else 7)


def test_two_layer_contributions_add_up_to_the_nets_score(data, baseline):
    record = list(train(TrainConfig(model="two_layer", epochs=3), data))[-1]
    for i in (0, 1500):
        x = data.valid_x[i]
        v = classify(record.params, x.view(28, 28).numpy(), (3, 7), baseline.means)
        assert v.score == pytest.approx(TwoLayer(record.state())(x.view(1, -1)).item(), abs=1e-3)
        assert v.contributions.sum() + v.bias == pytest.approx(v.score, abs=1e-6)


def test_baseline_verdict_is_the_lessons_is_3(data, trained, baseline):
    for i in range(0, 2038, 97):
        x = data.valid_x[i]
        v = classify(trained.params, x.view(28, 28).numpy(), (3, 7), baseline.means)
        assert (v.baseline_digit == 3) == bool(is_first(x, baseline.mean3, baseline.mean7)[0])


def test_real_digits_through_preprocessing_keep_their_accuracy(data, trained, baseline):
    """MNIST's own validation digits, saved as PNG files and prepared as uploads, are still classified right."""
    idx = range(0, len(data.valid_x), 5)
    right = 0
    for i in idx:
        _, image = prepare_upload(png(data.valid_x[i].view(28, 28)))
        v = classify(trained.params, image, (3, 7), baseline.means)
        right += v.digit == (3 if data.valid_y[i].item() == 1 else 7)
    assert right / len(idx) >= trained.valid_acc - 0.02


def font_digit(digit, size=160, font_size=130, dark_on_light=False):
    """A digit typed in a font, drawn with Pillow: white on black, or like ink on paper."""
    ink, paper = (0, 255) if dark_on_light else (255, 0)
    im = Image.new("L", (size, size), paper)
    font = ImageFont.load_default(size=font_size)
    ImageDraw.Draw(im).text((size / 2, size / 2), str(digit), fill=ink, font=font, anchor="mm")
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_digits_from_a_font_are_mostly_right(trained, baseline):
    cases = [(d, size, dark) for d in (3, 7) for size in (90, 120, 150) for dark in (False, True)]
    right = 0
    for digit, size, dark in cases:
        _, image = prepare_upload(font_digit(digit, font_size=size, dark_on_light=dark))
        right += classify(trained.params, image, (3, 7), baseline.means).digit == digit
    assert right >= 0.8 * len(cases)
