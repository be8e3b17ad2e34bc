"""The player's payload read back against the records it was built from, as the browser reads it."""
import concurrent.futures
import dataclasses
import time

import numpy as np
import pytest

from digitviz import TrainConfig, load_digits, player, train
from digitviz.figures import accuracy_range, tile
from digitviz.models import initial_params
from digitviz.player import (
    LEVELS,
    decode,
    dequantise,
    frame_epochs,
    map_at,
    map_image,
    quantise,
    run_payload,
    start_payload,
)
from digitviz.records import weight_map
from digitviz.runs import start_run


def run_of(config, data, digits=(3, 7), status="done"):
    run = start_run([], config, digits)
    run.records, run.status = list(train(config, data)), status
    return run


@pytest.fixture(scope="module")
def run(data):
    return run_of(TrainConfig(epochs=6), data)


def step(a):
    """Half a quantisation step of a map: the most its one-byte form may be off by."""
    return np.abs(a[np.isfinite(a)]).max() / LEVELS / 2 + 1e-6


def test_curves_and_times_come_back_exactly(run):
    meta, arrays = decode(run_payload(run, 0.9514))
    assert arrays["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    for field in ("valid_acc", "train_acc", "valid_loss", "train_loss", "seconds"):
        assert arrays[field].tolist() == [getattr(r, field) for r in run.records], field
    assert meta["run"] == run.number and meta["status"] == "done" and meta["target"] == 6 and meta["count"] == 6
    assert meta["baseline"] == {"value": 0.9514, "label": "mean-image baseline 95.1%", "dash": "dash"}
    assert meta["accuracy_range"] == accuracy_range(run.records, 0.9514)  # the player draws this range


def test_every_weight_map_comes_back_within_half_a_step_and_the_last_exactly(run):
    meta, arrays = decode(run_payload(run, 0.9514))
    assert meta["map"]["epochs"] == [1, 2, 3, 4, 5, 6] and meta["map"]["shape"] == [28, 28]
    for r in run.records[:-1]:
        error = np.abs(map_at(meta, arrays, r.epoch) - r.weights).max()
        assert 0 < error <= step(r.weights), r.epoch
    assert np.array_equal(map_at(meta, arrays, 6), run.records[-1].weights.astype(np.float32))


def test_final_text_is_the_pages_wording(run):
    last = run.records[-1]
    meta, _ = decode(run_payload(run, 0.9514))
    assert meta["final"] == {"accuracy": f"{last.valid_acc:.2%}",
                             "delta": f"{(last.valid_acc - 0.9514) * 100:+.2f} pts vs mean-image baseline",
                             "loss": f"{last.valid_loss:.4f}", "time": f"{last.seconds:.2f} s",
                             "per_epoch": f"{1000 * last.seconds / 6:.1f} ms an epoch", "progress": "epoch 6 of 6"}


def test_learned_maps_subtract_the_random_start(run):
    meta, arrays = decode(run_payload(run, 0.9514, learned=True))
    change = run.records[2].weights - weight_map(initial_params(run.config))
    assert meta["change"]["title"] == "Change, epoch 0 → {epoch}"
    assert np.abs(map_at(meta, arrays, 3, "change") - change).max() <= step(change)
    assert meta["map"]["title"] == "Weights after epoch {epoch}"  # the raw weights stay beside the change
    assert np.abs(map_at(meta, arrays, 3) - run.records[2].weights).max() <= step(run.records[2].weights)
    assert "change" not in decode(run_payload(run, 0.9514))[0]


@pytest.mark.parametrize("model", ["linear", "two_layer"])
def test_a_run_redrawn_as_it_grows_sends_the_bytes_of_one_drawn_afresh(model, data):
    """Each record's maps are quantised once, when first drawn, and kept: the redraws of a growing run must send
    what drawing it whole, from nothing, sends."""
    run = run_of(TrainConfig(epochs=5, seed=3, model=model), data, status="running")
    records = run.records
    for k in (1, 2, 5):  # the player is sent the run as its epochs come
        run.records = records[:k]
        redrawn = run_payload(run, 0.95, learned=True)
    player._made.clear()
    assert run_payload(run, 0.95, learned=True) == redrawn


def test_a_part_holds_the_whole_curves_and_only_the_later_maps(run):
    whole_meta, whole = decode(run_payload(run, 0.9514, learned=True))
    meta, part = decode(run_payload(run, 0.9514, learned=True, after=4))
    assert meta["part"] == 4 and whole_meta["part"] is None
    for field in ("epoch", "valid_acc", "train_acc", "valid_loss", "train_loss", "seconds"):
        assert part[field].tolist() == whole[field].tolist(), field
    for which in ("map", "change"):
        assert meta[which]["epochs"] == [5, 6]
        assert np.array_equal(part[f"{which}_codes"], whole[f"{which}_codes"][4:])  # the same bytes as the whole
        assert np.array_equal(part[f"{which}_limits"], whole[f"{which}_limits"][4:])
        assert f"{which}_last" not in part  # the exact last map comes with the whole run, once it stops


def test_parts_send_a_long_run_in_a_quarter_of_the_bytes(data):
    """Redrawn four times a second as it trains, a 1,000-epoch run sent its every map again each time."""
    config = TrainConfig(epochs=1000)
    some = list(train(dataclasses.replace(config, epochs=3), data))
    records = [dataclasses.replace(some[i % 3], epoch=i + 1) for i in range(1000)]  # bytes depend on shapes only
    run = start_run([], config, (3, 7))
    run.status, whole, parts, after = "running", 0, 0, None
    for count in [*range(1, 1000, 60), 1000]:  # a redraw every 60 epochs: a quarter of a second's training
        run.records = records[:count]
        whole += len(run_payload(run, 0.95, learned=True))
        parts += len(run_payload(run, 0.95, learned=True, after=after))
        after = count
    assert whole > 4 * parts, (whole, parts)  # measured: 14.4 MB against 2.8


def test_quantise_keeps_zero_white_and_gaps_blank():
    maps = np.array([[[0.0, 2.0], [-2.0, np.nan]], [[0.0, 0.0], [0.0, 0.0]]])
    codes, limits = quantise(maps)
    assert codes.tolist() == [[[128, 255], [1, 0]], [[128, 128], [128, 128]]] and limits.tolist() == [2.0, 1.0]
    back = dequantise(codes, limits)
    assert back[0, 0, 1] == 2.0 and back[0, 1, 0] == -2.0 and np.isnan(back[0, 1, 1])


def test_ten_digit_maps_are_tiled_and_labelled(data):
    ten = load_digits("all")
    config = TrainConfig(epochs=1, model="softmax", loss="cross_entropy", shuffle=True)
    run = run_of(config, ten, digits=ten.digits)
    meta, arrays = decode(run_payload(run, 0.8))
    assert meta["map"]["shape"] == list(tile(run.records[0].weights, 5).shape)
    assert [label[2] for label in meta["map"]["labels"]] == [str(d) for d in range(10)]
    assert meta["map"]["ends"] == ["against", "0", "for"]
    assert np.allclose(map_at(meta, arrays, 1), tile(run.records[0].weights, 5), equal_nan=True)


def test_big_maps_are_sent_every_few_epochs_and_always_the_last():
    chosen = frame_epochs(list(range(1, 1001)), 29_088)  # a two-layer net's 30 tiled maps, 1,000 epochs
    assert chosen[0] == 1 and chosen[-1] == 1000 and len(chosen) * 29_088 <= 1_500_000 + 29_088
    assert frame_epochs([1, 2, 3], 784) == [1, 2, 3]


def test_a_diverged_run_encodes(data):
    config = TrainConfig(epochs=5, lr=1000.0)
    run = run_of(config, data, status="diverged")
    meta, arrays = decode(run_payload(run, 0.95))
    assert arrays["epoch"].tolist() == [r.epoch for r in run.records]
    assert meta["final"]["loss"] in (f"{run.records[-1].valid_loss:.4f}", "not a number")


def test_a_resumed_run_counts_on(run, data):
    more = dataclasses.replace(run.config, epochs=2)
    resumed = dataclasses.replace(run, records=run.records + list(train(more, data, start=run.records[-1])),
                                  target=8)
    meta, arrays = decode(run_payload(resumed, 0.95))
    assert arrays["epoch"].tolist() == list(range(1, 9)) and meta["final"]["progress"] == "epoch 8 of 8"


@pytest.mark.parametrize("settings, digits", [({"seed": 5, "init_std": 0.5}, (3, 7)),
                                              ({"model": "two_layer"}, (3, 7)),
                                              ({"model": "softmax", "loss": "cross_entropy"}, tuple(range(10)))])
def test_the_start_frame_is_the_runs_own_start(settings, digits):
    """Before Train, the player shows the weights the run will start from, in the frame the run's player has."""
    config = TrainConfig(epochs=2, **settings)
    meta, arrays = decode(start_payload(config, digits, 0.9514, learned=True))
    start = map_image(weight_map(initial_params(config)), digits)
    assert np.array_equal(arrays["map_last"], start.astype(np.float32), equal_nan=True)
    assert meta["count"] == 0 and arrays["epoch"].size == 0 and arrays["valid_acc"].size == 0
    assert meta["target"] == 2 and meta["accuracy_range"] == accuracy_range([], 0.9514)
    assert meta["baseline"] == {"value": 0.9514, "label": "mean-image baseline 95.1%", "dash": "dash"}
    assert np.nan_to_num(map_at(meta, arrays, 0, "change")).max() == 0  # nothing has changed yet
    data = load_digits(digits)
    run = run_of(dataclasses.replace(config, epochs=1), data, digits)
    trained, _ = decode(run_payload(run, 0.9514, learned=True))
    for which in ("map", "change"):  # the frame the run fills: same size, colour bar and labels
        assert {k: meta[which][k] for k in ("shape", "ends", "labels", "colorscale")} == \
            {k: trained[which][k] for k in ("shape", "ends", "labels", "colorscale")}
    assert meta["charts"] == trained["charts"]


def test_a_class_drawing_one_run_at_once_makes_its_maps_once(data, monkeypatch):
    """A round's reveal: many sessions draw the same fresh run at the same moment. One makes its maps; the others
    wait for them (before, each made them all: 300 sessions, 300 times the work)."""
    run = run_of(TrainConfig(epochs=8, seed=41), data)
    made, quantise, initial_arrays = [], player.quantise, player.initial_arrays

    def slow_quantise(maps):  # slow enough that, unguarded, every thread would find the maps missing
        made.append(len(maps))
        time.sleep(0.05)
        return quantise(maps)

    def slow_initial_arrays(config):  # and every thread would make its own start map, for its own change maps
        time.sleep(0.05)
        return initial_arrays(config)

    monkeypatch.setattr(player, "quantise", slow_quantise)
    monkeypatch.setattr(player, "initial_arrays", slow_initial_arrays)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(lambda _: run_payload(run, 0.95, learned=True), range(8)))
    assert made == [8, 8]  # the map and the change since the start, each of the 8 epochs once
    assert all(s == sent[0] for s in sent)
