"""Where the model goes wrong: predictions, mistakes and the confusion matrix, for a pair and for all ten digits."""
import numpy as np
import pytest
import torch

from digitviz import TrainConfig, load_digits, pixel_similarity, train
from digitviz.classify import classify, confusion_matrix, mistakes, predictions
from digitviz.models import TwoLayer

N_VALID = 2038  # 1010 threes and 1028 sevens


def _numpy_params(params):
    return {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}


# --- a pair ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def linear(data):
    """The lesson's linear model after 10 epochs: good, but still wrong on a few dozen images."""
    return list(train(TrainConfig(epochs=10), data))[-1]


@pytest.fixture(scope="module")
def pair_matrix(linear, data):
    return confusion_matrix(linear.params, data)


def test_pair_confusion_matrix_counts_every_validation_image(pair_matrix, data):
    assert pair_matrix.shape == (2, 2)
    assert pair_matrix.sum() == N_VALID
    assert pair_matrix.sum(1).tolist() == [1010, 1028]
    assert pair_matrix.sum(1).tolist() == list(data.counts("valid").values())


def test_pair_confusion_diagonal_is_the_records_accuracy(pair_matrix, linear):
    assert np.trace(pair_matrix) / N_VALID == pytest.approx(linear.valid_acc, abs=1e-6)
    assert np.trace(pair_matrix) < N_VALID, "10 epochs should still leave some mistakes to show"


def test_pair_predictions_match_a_direct_numpy_forward(linear, data):
    said, confidence = predictions(linear.params, data)
    p = _numpy_params(linear.params)
    z = data.valid_x.double().numpy() @ p["weights"][:, 0] + p["bias"][0]
    clear = np.abs(z) > 1e-4  # away from the 0.5 boundary, where float32 and float64 could disagree
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(said[clear], np.where(z > 0, 0, 1)[clear])  # index 0 = the first digit
    np.testing.assert_allclose(confidence, 1 / (1 + np.exp(-np.abs(z))), atol=1e-5)


def test_mistakes_are_exactly_the_off_diagonal_images(linear, data, pair_matrix):
    found = mistakes(linear.params, data, limit=10_000)
    assert len(found) == pair_matrix.sum() - np.trace(pair_matrix)
    assert sum(m.true_digit == 3 for m in found) == pair_matrix[0, 1]  # a 3 called a 7
    assert sum(m.true_digit == 7 for m in found) == pair_matrix[1, 0]
    assert len({m.index for m in found}) == len(found)


def test_mistakes_are_wrong_and_name_the_true_digit(linear, data):
    found = mistakes(linear.params, data, limit=10_000)
    for m in found:
        assert {m.true_digit, m.said} == {3, 7}
        assert m.true_digit != m.said
        assert (3 if data.valid_y[m.index].item() == 1 else 7) == m.true_digit
        assert 0.5 < m.confidence <= 1
        assert isinstance(m.index, int) and isinstance(m.confidence, float)


def test_mistakes_most_confident_first(linear, data):
    confidences = [m.confidence for m in mistakes(linear.params, data, limit=10_000)]
    assert confidences == sorted(confidences, reverse=True)


def test_mistakes_confidence_is_the_models_own(linear, data):
    """A mistake's confidence is the sigmoid of its logit's size, computed directly from the weights."""
    p = _numpy_params(linear.params)
    for m in mistakes(linear.params, data, limit=10):
        z = data.valid_x[m.index].double().numpy() @ p["weights"][:, 0] + p["bias"][0]
        assert m.confidence == pytest.approx(1 / (1 + np.exp(-abs(z))), abs=1e-5)
        assert m.said == (3 if z > 0 else 7)


@pytest.mark.parametrize("limit", [0, 1, 5, 24])
def test_mistakes_limit_is_respected(linear, data, limit):
    everything = mistakes(linear.params, data, limit=10_000)
    top = mistakes(linear.params, data, limit=limit)
    assert len(top) == min(limit, len(everything))
    assert [m.confidence for m in top] == [m.confidence for m in everything[:limit]]


def test_default_limit_is_24(linear, data):
    assert len(mistakes(linear.params, data)) == min(24, len(mistakes(linear.params, data, limit=10_000)))


# --- the two-layer net -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_layer(data):
    return list(train(TrainConfig(model="two_layer", epochs=3), data))[-1]


def test_two_layer_predictions_agree_with_its_forward_pass(two_layer, data):
    said, confidence = predictions(two_layer.params, data)
    with torch.no_grad():
        p = TwoLayer(two_layer.state())(data.valid_x)[:, 0].sigmoid()
    np.testing.assert_array_equal(said, (p <= 0.5).long().numpy())
    np.testing.assert_allclose(confidence, torch.maximum(p, 1 - p).numpy(), atol=1e-5)


def test_two_layer_predictions_match_a_direct_numpy_forward(two_layer, data):
    said, confidence = predictions(two_layer.params, data)
    p = _numpy_params(two_layer.params)
    hidden = np.maximum(data.valid_x.double().numpy() @ p["weights"] + p["bias"], 0)
    z = (hidden @ p["out_weights"] + p["out_bias"])[:, 0]
    clear = np.abs(z) > 1e-4
    np.testing.assert_array_equal(said[clear], np.where(z > 0, 0, 1)[clear])
    np.testing.assert_allclose(confidence, 1 / (1 + np.exp(-np.abs(z))), atol=1e-5)


def test_two_layer_confusion_matches_its_accuracy(two_layer, data):
    matrix = confusion_matrix(two_layer.params, data)
    assert matrix.sum() == N_VALID
    assert np.trace(matrix) / N_VALID == pytest.approx(two_layer.valid_acc, abs=1e-6)
    assert len(mistakes(two_layer.params, data, limit=10_000)) == N_VALID - np.trace(matrix)


# --- all ten digits --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ten():
    return load_digits(pair="all")


@pytest.fixture(scope="module")
def softmax(ten):
    return list(train(TrainConfig(model="softmax", loss="cross_entropy", shuffle=True, epochs=2), ten))[-1]


@pytest.fixture(scope="module")
def ten_baseline(ten):
    return pixel_similarity(ten)


def test_ten_digit_confusion_matrix(softmax, ten):
    matrix = confusion_matrix(softmax.params, ten)
    assert matrix.shape == (10, 10)
    assert matrix.sum() == 10_000
    assert matrix.sum(1).tolist() == list(ten.counts("valid").values())
    assert np.trace(matrix) / 10_000 == pytest.approx(softmax.valid_acc, abs=1e-6)


def test_ten_digit_confusion_matches_numpy_argmax(softmax, ten):
    p = _numpy_params(softmax.params)
    said = (ten.valid_x.double().numpy() @ p["weights"] + p["bias"]).argmax(1)
    expected = np.zeros((10, 10), dtype=int)
    np.add.at(expected, (ten.valid_y.numpy(), said), 1)
    np.testing.assert_array_equal(confusion_matrix(softmax.params, ten), expected)


def test_ten_digit_mistakes(softmax, ten):
    matrix = confusion_matrix(softmax.params, ten)
    found = mistakes(softmax.params, ten, limit=100_000)
    assert len(found) == matrix.sum() - np.trace(matrix)
    for m in found[:200]:
        assert m.true_digit != m.said
        assert ten.valid_y[m.index].item() == m.true_digit
        assert 0.1 <= m.confidence <= 1
    confidences = [m.confidence for m in found]
    assert confidences == sorted(confidences, reverse=True)


@pytest.mark.parametrize("i", [0, 1234, 5000, 7777, 9999])
def test_ten_digit_verdict(softmax, ten, ten_baseline, i):
    x = ten.valid_x[i].double().numpy()
    v = classify(softmax.params, x.reshape(28, 28), ten.digits, ten_baseline.means)
    p = _numpy_params(softmax.params)
    scores = x @ p["weights"] + p["bias"]

    assert set(v.probabilities) == set(range(10))
    assert sum(v.probabilities.values()) == pytest.approx(1, abs=1e-9)
    assert v.digit == max(v.probabilities, key=v.probabilities.get) == int(scores.argmax())
    expected = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    np.testing.assert_allclose([v.probabilities[d] for d in range(10)], expected, atol=1e-9)

    d = v.digit
    assert v.score == pytest.approx(scores[d], abs=1e-9)
    assert v.contributions.shape == (28, 28)
    assert v.contributions.sum() + v.bias == pytest.approx(x @ p["weights"][:, d] + p["bias"][d], abs=1e-9)
    np.testing.assert_allclose(v.contributions.reshape(-1), x * p["weights"][:, d], atol=1e-12)
    assert v.bias == pytest.approx(p["bias"][d])

    # the verdict agrees with predictions() over the whole set
    said, confidence = predictions(softmax.params, ten)
    assert ten.digits[said[i]] == v.digit
    assert v.confidence == pytest.approx(confidence[i].item(), abs=1e-5)


@pytest.mark.parametrize("i", [0, 1234, 5000, 7777, 9999])
def test_ten_digit_baseline_is_the_nearest_mean_image(softmax, ten, ten_baseline, i):
    x = ten.valid_x[i].double().numpy().reshape(28, 28)
    v = classify(softmax.params, x, ten.digits, ten_baseline.means)
    means = ten_baseline.means.astype(np.float64)
    distances = np.abs(x[None] - means).mean((1, 2))  # L1, the lesson's mnist_distance
    assert distances[v.baseline_digit] == pytest.approx(distances.min(), abs=1e-6)
    if np.sort(distances)[1] - distances.min() > 1e-5:  # no near tie: the answer is unambiguous
        assert v.baseline_digit == int(distances.argmin())
