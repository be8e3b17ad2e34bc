"""The page's logic through Streamlit's AppTest, which runs the real script headless."""
import threading
import time

import numpy as np
import pytest
from streamlit.runtime import Runtime
from streamlit.testing.v1 import AppTest, app_test

from digitviz.models import initial_params
from digitviz.player import COLORSCALE, LEVELS, map_at
from digitviz.records import weight_map
from tools import APP
from tools.apptest import charts, player, press


def map_title(meta, epoch):
    return meta["map"]["title"].format(epoch=epoch)


def short_run(at, epochs=4, **settings):
    at.slider(key="epochs").set_value(epochs)
    for key, value in settings.items():
        widget = at.select_slider(key=key) if key in ("lr", "batch_size") else at.selectbox(key=key)
        widget.set_value(value)
    return press(at, "train")


def test_settings_show_the_lessons_defaults(at):
    assert at.select_slider(key="lr").value == 1.0
    assert at.slider(key="epochs").value == 30
    assert at.select_slider(key="batch_size").value == 256
    assert at.slider(key="init_std").value == 1.0
    assert at.number_input(key="seed").value == 0 and at.toggle(key="shuffle").value is False
    assert at.selectbox(key="loss").value == "mnist_loss" and at.selectbox(key="model").value == "linear"
    assert (at.selectbox(key="a").value, at.selectbox(key="b").value) == (3, 7)
    assert all(w.help for w in [at.select_slider(key="lr"), at.slider(key="epochs"), at.slider(key="init_std")])
    assert "press **Train**" in at.info[0].value and not at.error


def test_training_fills_the_records_and_draws_the_charts(at):
    short_run(at, epochs=4)
    run = at.session_state.run
    assert [r.epoch for r in run.records] == [1, 2, 3, 4] and run.status == "done"
    meta, arrays = player(at)
    accuracy, loss = meta["charts"]
    assert accuracy["title"] == "Accuracy" and accuracy["series"][0][0] == "validation accuracy"
    assert arrays["valid_acc"].tolist() == [r.valid_acc for r in run.records]
    assert arrays["epoch"].tolist() == [1, 2, 3, 4]
    assert meta["baseline"]["value"] == pytest.approx(0.9514, abs=1e-4) and meta["baseline"]["dash"] == "dash"
    assert loss["title"] == "Loss" and [s[0] for s in loss["series"]] == ["validation loss", "training loss"]
    assert map_title(meta, 4) == "Weights after epoch 4"
    assert meta["map"]["zmid"] == 0 and meta["map"]["colorscale"] == COLORSCALE  # diverging, white at 0
    assert np.array_equal(map_at(meta, arrays, 4), run.records[-1].weights.astype(np.float32))
    final = meta["final"]
    assert final["accuracy"] == f"{run.records[-1].valid_acc:.2%}" and "vs mean-image baseline" in final["delta"]
    assert "epoch 4 of 4" in final["progress"]


def test_touching_a_widget_keeps_a_finished_run(at):
    short_run(at, epochs=3)
    at.slider(key="init_std").set_value(2.0).run()
    meta, _ = player(at)
    assert len(at.session_state.run.records) == 3 and map_title(meta, meta["count"]) == "Weights after epoch 3"


def test_step_adds_one_epoch_and_resume_continues(at):
    short_run(at, epochs=3)
    press(at, "step")
    assert [r.epoch for r in at.session_state.run.records] == [1, 2, 3, 4]
    at.select_slider(key="lr").set_value(0.1)
    press(at, "resume")
    run = at.session_state.run
    assert run.records[-1].epoch == 7 and run.status == "done"
    assert run.records[-1].epoch == len(run.records)


def test_an_interrupted_run_is_paused_and_keeps_its_epochs(at):
    """Pressing Stop reruns the script mid-run: the records trained so far stay, the run is paused."""
    short_run(at, epochs=3)
    at.session_state.run.status = "running"  # as a run looks when a click interrupts its loop
    press(at, "stop")
    run = at.session_state.run
    assert run.status == "paused" and len(run.records) == 3
    assert "paused" in at.markdown[1].value or any("paused" in m.value for m in at.markdown)
    press(at, "step")
    assert len(at.session_state.run.records) == 4


def test_reset_clears_the_run(at):
    short_run(at, epochs=2)
    press(at, "reset")
    assert "run" not in at.session_state and player(at) is None and "Accuracy" not in charts(at)


def test_step_without_a_run_says_what_to_do(at):
    press(at, "step")
    assert any("Press **Train** first" in i.value for i in at.info)


def test_diverging_learning_rate_shows_the_note_not_a_traceback(at):
    short_run(at, epochs=20, lr=1000.0)
    assert at.session_state.run.status == "diverged"
    (note,) = at.error
    # 100, a tenth of 1000, diverges too (the "too high" preset shows it): the advice names a rate that trains
    assert "diverged at epoch 2" in note.value and "the lesson's **1**" in note.value
    assert "**100**" not in note.value and "(100)" not in note.value
    assert not at.exception


def test_the_player_can_replay_every_epoch(at):
    """Replaying is the browser's (tests/browser/test_player.py scrubs): the page sends every epoch's curves and
    weight map, each map within its quantisation step of the record's."""
    short_run(at, epochs=5)
    run = at.session_state.run
    meta, arrays = player(at)
    assert meta["map"]["epochs"] == [1, 2, 3, 4, 5] and map_title(meta, 2) == "Weights after epoch 2"
    assert arrays["valid_acc"][:2].tolist() == [r.valid_acc for r in run.records[:2]]
    second = run.records[1].weights
    assert np.abs(map_at(meta, arrays, 2) - second).max() <= np.abs(second).max() / LEVELS / 2 + 1e-6


def test_learned_change_hides_the_starting_noise(at):
    short_run(at, epochs=2)
    at.toggle(key="learned").set_value(True).run()
    meta, arrays = player(at)
    assert meta["change"]["title"].format(epoch=2) == "Change, epoch 0 → 2"
    run = at.session_state.run
    change = run.records[-1].weights - weight_map(initial_params(run.config))
    assert np.allclose(map_at(meta, arrays, 2, "change"), change, atol=1e-6)


def test_two_layer_net_shows_its_hidden_units(at):
    short_run(at, epochs=2, model="two_layer")
    assert map_title(player(at)[0], 2) == "Weights after epoch 2 (hidden units)"


def test_another_pair_of_digits(at):
    at.selectbox(key="a").set_value(1)
    at.selectbox(key="b").set_value(8)
    short_run(at, epochs=2)
    assert "1s from 8s" in at.title[0].value
    meta, _ = player(at)
    assert map_title(meta, 2) == "Weights after epoch 2" and meta["map"]["ends"] == ["→ 8", "0", "→ 1"]


def test_same_digit_twice_is_corrected_with_a_note(at):
    at.selectbox(key="b").set_value(3).run()
    assert any("two different digits" in w.value for w in at.warning) and not at.exception


def test_a_diverged_run_cannot_be_continued(at):
    short_run(at, epochs=5, lr=1000.0)
    press(at, "resume")
    assert any("This run diverged" in i.value for i in at.info)
    assert len(at.session_state.run.records) == 2


class _KeepsRuntime(type):
    """AppTest installs a mock Runtime for each run and removes it when that run ends, even while another AppTest's
    run in the same process still needs it (the second page below draws only after the first page's run is over)."""

    def __setattr__(cls, name, value):
        if name == "_instance" and value is None:
            return
        setattr(Runtime, name, value)


class _SharedRuntime(Runtime, metaclass=_KeepsRuntime):
    pass


def test_runs_beyond_the_servers_slots_wait_their_turn(monkeypatch):
    """With one slot, a run pressed while another trains has no epoch until the first is done: it waits its turn."""
    # first: a run nobody has computed yet, so that it trains here rather than coming from the server's cache
    monkeypatch.setenv("DIGITVIZ_TRAINING_SLOTS", "1")
    monkeypatch.setattr(app_test, "Runtime", _SharedRuntime)
    monkeypatch.setattr(Runtime, "_instance", None)  # restored, to None, when the test ends
    first, second = (AppTest.from_file(APP, default_timeout=300).run() for _ in range(2))
    first.slider(key="epochs").set_value(1000)
    first.number_input(key="seed").set_value(1234)
    second.slider(key="epochs").set_value(2)
    second.number_input(key="seed").set_value(4321)  # a run no other test has trained: not in the server's cache

    def epochs(at):
        return len(at.session_state.run.records) if "run" in at.session_state else 0

    workers = [threading.Thread(target=at.button(key="train").click().run) for at in (first, second)]
    workers[0].start()
    deadline = time.perf_counter() + 60
    while epochs(first) == 0:
        assert time.perf_counter() < deadline, "the first run never started"
        time.sleep(0.01)
    workers[1].start()
    time.sleep(0.5)
    assert 0 < epochs(first) < 1000, "the first run ended too soon to tell whether the second waited"
    assert epochs(second) == 0  # waiting, not sharing the slot
    for w in workers:
        w.join()
    assert epochs(first) == 1000 and epochs(second) == 2, (first.exception, second.exception)


def test_ten_digit_runs_are_capped_to_a_fair_share():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"digits": "all", "epochs": "1000"})
    at.run()
    assert any("Epochs capped at 206" in c.value for c in at.caption)


# Run in a process of its own that refuses to import torch or numba: the first page must not need them.
WITHOUT_TORCH = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "numba"):
            raise ImportError(f"the page imported {name}")
sys.meta_path.insert(0, Refuse())
from streamlit.testing.v1 import AppTest
for query in ({}, {"digits": "all"}, {"a": "0", "b": "9", "seed": "5", "init_std": "0.5"}):
    at = AppTest.from_file(sys.argv[1], default_timeout=120)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    print(at.title[0].value)
"""


def test_a_page_opens_without_torch():
    """A server's first page comes before its workers have imported torch (1.6-1.9 s here): its digits, baseline and
    start frame (a seed's random weights: digitviz.init) are NumPy's, and the page's modules import no torch."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, APP], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines() == ["Watch a model learn to tell 3s from 7s", "Watch a model learn all ten digits",
                                       "Watch a model learn to tell 0s from 9s"], out.stdout
