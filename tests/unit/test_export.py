"""Files out and back in: every download decodes to the run it came from, and bad model files are refused."""
import csv
import io
import json
import re
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from digitviz import TrainConfig, train
from digitviz.export import (
    ModelFileError,
    load_model,
    model_npz,
    records_csv,
    settings_json,
    weight_map_png,
    weights_npy,
)
from tools.crafted import CRAFTED, GOOD, npy


@pytest.fixture(scope="module")
def run(data):
    config = TrainConfig(epochs=3, lr=0.5)
    return config, list(train(config, data))


def test_records_csv_has_a_row_per_epoch(run):
    _, records = run
    rows = list(csv.DictReader(io.StringIO(records_csv(records))))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["valid_acc"]) == pytest.approx(records[-1].valid_acc)


def test_settings_json_rebuilds_the_config(run):
    config, _ = run
    saved = json.loads(settings_json(config, (3, 7)))
    assert saved.pop("digits") == [3, 7] and TrainConfig(**saved) == config


def test_weights_npy_is_the_weight_matrix(run):
    _, records = run
    np.testing.assert_array_equal(np.load(io.BytesIO(weights_npy(records[-1].params))), records[-1].params["weights"])


def test_model_npz_round_trip(run):
    config, records = run
    params, digits = load_model(model_npz(records[-1].params, config, (3, 7)))
    assert digits == (3, 7)
    for k in ("weights", "bias"):
        np.testing.assert_array_equal(params[k], records[-1].params[k])


def test_two_layer_and_ten_digit_models_round_trip(data):
    record = list(train(TrainConfig(model="two_layer", epochs=1), data))[-1]
    params, digits = load_model(model_npz(record.params, TrainConfig(model="two_layer"), (1, 8)))
    assert digits == (1, 8) and set(params) == {"weights", "bias", "out_weights", "out_bias"}
    ten = {"weights": np.ones((784, 10), np.float32), "bias": np.zeros(10, np.float32)}
    assert load_model(weights_npy(ten))[1] == tuple(range(10))


def test_a_bare_weights_file_gets_zero_bias():
    w = np.arange(784, dtype=np.float32).reshape(28, 28)
    buf = io.BytesIO()
    np.save(buf, w)
    params, digits = load_model(buf.getvalue())
    assert params["weights"].shape == (784, 1) and params["bias"].tolist() == [0.0] and digits == (3, 7)


def test_weight_map_png_colours_positive_blue_and_negative_red():
    w = np.zeros((28, 28))
    w[0, 0], w[0, 1] = 1.0, -1.0
    image = np.asarray(Image.open(io.BytesIO(weight_map_png(w, scale=2))))
    assert image.shape == (56, 56, 3)
    (r1, _, b1), (r2, _, b2), centre = image[0, 0], image[0, 2], image[10, 10]
    assert b1 > r1 and r2 > b2 and min(centre) > 240  # blue, red, near-white at zero


@pytest.mark.parametrize("content, words", [
    (b"just some text", "not a saved model"),
    (npy(np.array([{"a": 1}], dtype=object), allow_pickle=True), "not a saved model"),
    (npy(np.zeros((10, 10))), "must hold a (784, 1)"),
    (npy(np.full((784, 1), np.nan)), "not all finite"),
    (b"x" * (3 * 1024 * 1024), "too large"),
])
def test_bad_model_files_are_refused_with_a_reason(content, words):
    with pytest.raises(ModelFileError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_model(content)


def test_npz_with_wrong_shapes_or_missing_arrays():
    def npz(**arrays):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()
    with pytest.raises(ModelFileError, match="lacks bias"):
        load_model(npz(weights=np.zeros((784, 1))))
    with pytest.raises(ModelFileError, match="wrong shapes"):
        load_model(npz(weights=np.zeros((784, 1)), bias=np.zeros(3)))
    with pytest.raises(ModelFileError, match="digits that don't fit"):
        load_model(npz(weights=np.zeros((784, 1)), bias=np.zeros(1), digits=np.array([3, 3])))


@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_model_files_are_refused_quickly_and_cheaply(name):
    """Each gets its own clear ModelFileError within a second and a few MB, whatever sizes the file claims."""
    content, words = CRAFTED[name]
    content = content() if callable(content) else content  # the bombs are made only when their test runs
    assert len(content) <= 2 * 1024 * 1024  # each fits under the upload limit: the reader itself must refuse it
    tracemalloc.start()
    began = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match=re.escape(words)):
            load_model(content)
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < 1.0, f"{name}: {seconds:.2f} s"
    assert peak < 4 * 1024 * 1024 + 2 * len(content), f"{name}: peak {peak / 1e6:.1f} MB"


def test_a_good_model_loads_cheaply_too():
    tracemalloc.start()
    try:
        params, digits = load_model(GOOD)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digits == (3, 7) and params["weights"].shape == (784, 1)
    assert peak < 1024 * 1024
