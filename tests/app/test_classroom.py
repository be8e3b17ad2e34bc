"""The classroom features through AppTest: links, presets, comparing runs, mistakes, ten digits, files, board."""
import io
import json
import re

import numpy as np
import pytest
import streamlit as st

from digitviz import TrainConfig, load_digits, train
from digitviz.export import model_npz
from digitviz.figures import weight_map_figure
from digitviz.player import decode
from digitviz.settings import PRESETS, preset_values
from tools.apptest import charts, open_panel, open_presets, page, press, train_run


def test_a_link_sets_the_controls_and_the_page_writes_its_own_link():
    at = page(lr=10, epochs=50, shuffle=1, loss="bce", a=1, b=8)
    assert at.select_slider(key="lr").value == 10.0 and at.slider(key="epochs").value == 50
    assert at.toggle(key="shuffle").value is True and at.selectbox(key="loss").value == "bce"
    assert (at.selectbox(key="a").value, at.selectbox(key="b").value) == (1, 8)
    assert not at.warning
    at.select_slider(key="lr").set_value(0.1).run()
    assert at.query_params["lr"] == "0.1" and at.query_params["epochs"] == "50"
    assert "seed" not in at.query_params  # defaults stay out of the link


def test_a_garbled_link_is_clamped_or_dropped_with_notes():
    at = page(lr="abc", epochs=5000, batch_size=0, model="cnn", init_std=9)
    notes = " ".join(w.value for w in at.warning)
    assert "Ignored lr=abc" in notes and "epochs=5000 in the link is above the largest allowed" in notes
    assert "Ignored batch_size=0" in notes and "Ignored model=cnn" in notes and "init_std=9" in notes
    assert at.slider(key="epochs").value == 1000 and at.select_slider(key="lr").value == 1.0
    assert at.slider(key="init_std").value == 3.0 and not at.exception


def test_a_link_can_leave_only_the_learning_rate():
    at = page(only="lr", epochs=7)
    assert [s.key for s in at.select_slider] == ["lr"] and not [s for s in at.slider if s.key == "epochs"]
    assert not at.selectbox and not [t for t in at.toggle if t.key == "shuffle"]
    at.button(key="train").click().run()
    assert len(at.session_state.run.records) == 7  # the hidden epochs setting from the link still counts


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_sets_its_values_and_explains_them(name):
    at = open_presets(page())
    at.button(key=f"preset-{name}").click().run()
    expected = preset_values(name)
    for key in ("lr", "epochs", "batch_size", "init_std", "shuffle", "digits"):
        assert at.session_state[key] == expected[key], key
    assert any(PRESETS[name].notice[:40] in i.value for i in at.info)


def test_overlay_of_two_runs_labelled_by_what_differs():
    at = page()
    train_run(at, epochs=3)
    train_run(at, epochs=3, lr=10.0)
    open_panel(at, "compare")
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (compare,) = [s for s in specs if any(t.get("legendgroup", "").startswith("Run ") for t in s["data"])]
    names = sorted({t["name"] for t in compare["data"]})
    assert names == ["Run 1: lr=1", "Run 2: lr=10"] and len(compare["data"]) == 4


def test_runs_table_delete_and_clear():
    at = page()
    train_run(at, epochs=2)
    train_run(at, epochs=2, lr=0.1)
    train_run(at, epochs=2, lr=10.0)
    open_panel(at, "compare")
    (table,) = [d for d in at.dataframe if "run" in d.value.columns]
    assert list(table.value["run"]) == [1, 2, 3] and list(table.value["lr"]) == [1.0, 0.1, 10.0]
    delete = [m for m in at.multiselect if m.label == "Delete runs"][0]
    delete.set_value([2]).run()
    at.button(key="delete-runs").click().run()
    assert [r.number for r in at.session_state.runs] == [1, 3]
    at.button(key="clear-runs").click().run()
    assert at.session_state.runs == [] and "run" not in at.session_state


def test_mistakes_gallery_is_most_confident_first():
    at = page()
    train_run(at, epochs=5)
    open_panel(at, "mistakes")
    (gallery,) = [i for i in at.get("image") if len(i.captions) > 5]
    percents = [float(re.search(r"\(([\d.]+)%\)", c).group(1)) for c in gallery.captions]
    assert percents == sorted(percents, reverse=True) and len(percents) == 24
    assert all(re.match(r"a ([37]), said (?!\1)[37]", c) for c in gallery.captions)
    confusion = [json.loads(c.proto.spec) for c in at.get("plotly_chart")
                 if json.loads(c.proto.spec)["data"][0].get("colorscale") and
                 json.loads(c.proto.spec)["layout"].get("xaxis", {}).get("title", {}).get("text") == "the model said"]
    matrix = np.array(confusion[0]["data"][0]["z"])
    assert matrix.shape == (2, 2) and matrix.sum() == 2038
    assert np.trace(matrix) / 2038 == pytest.approx(at.session_state.run.last.valid_acc, abs=1e-6)


def test_ten_digits_beat_the_nearest_mean_image():
    at = page(digits="all", shuffle=1, epochs=2)
    at.button(key="train").click().run()
    run = at.session_state.run
    assert run.digits == tuple(range(10)) and run.config.model == "softmax"
    baseline = 0.6685
    assert run.last.valid_acc > baseline + 0.15
    (player,) = [e.proto for e in at.get("bidi_component") if e.proto.component_name == "digitviz.player"]
    meta, _ = decode(player.bytes)
    assert meta["map"]["title"].format(epoch=2) == "Weights after epoch 2"
    # each digit's map labelled in its tile's corner, where the Plotly weight map puts its annotations
    labels = weight_map_figure(run.last.weights, run.digits).layout.annotations
    assert meta["map"]["labels"] == [[a.x, a.y, a.text.removeprefix("<b>").removesuffix("</b>")] for a in labels]
    assert [text for *_, text in meta["map"]["labels"]] == [str(d) for d in range(10)]
    assert "all ten digits" in at.title[0].value.lower()


def test_ten_digit_verdict_shows_ten_probabilities():
    at = page(digits="all", shuffle=1, epochs=1)
    at.button(key="train").click().run()
    data = load_digits(pair="all")
    i = int((data.valid_y == 0).nonzero()[0])
    buf = io.BytesIO()
    from PIL import Image
    Image.fromarray((data.valid_x[i].view(28, 28).numpy() * 255).astype(np.uint8)).save(buf, "PNG")
    at.file_uploader(key="upload").upload("zero.png", buf.getvalue(), "image/png").run()
    assert not at.exception
    bars = charts(at)["The model's probabilities"]["data"][0]
    assert bars["x"] == [str(d) for d in range(10)] and sum(bars["y"]) == pytest.approx(1, abs=1e-6)


def test_downloads_are_offered_for_a_run():
    at = open_panel(page(), "files")
    assert not at.get("download_button")
    train_run(at, epochs=2)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Records (CSV)", "Settings (JSON)", "Weights (.npy)", "Model (.npz)", "Weight map (PNG)"]


def test_a_saved_model_loads_back_and_classifies(data):
    record = list(train(TrainConfig(epochs=4, seed=9), data))[-1]
    at = open_panel(page(), "files")
    at.file_uploader(key="model_file").upload("mine.npz", model_npz(record.params, TrainConfig(epochs=4), (3, 7)),
                                              "application/octet-stream").run()
    assert any("Loaded mine.npz" in s.value for s in at.success)
    buf = io.BytesIO()
    from PIL import Image
    Image.fromarray((data.valid_x[0].view(28, 28).numpy() * 255).astype(np.uint8)).save(buf, "PNG")
    at.file_uploader(key="upload").upload("three.png", buf.getvalue(), "image/png").run()
    assert any("the model loaded from mine.npz" in m.value for m in at.markdown)


def test_a_bad_model_file_gets_a_message():
    at = open_panel(page(), "files")
    at.file_uploader(key="model_file").upload("notes.npz", b"not a model", "application/octet-stream").run()
    assert any("not a saved model" in e.value for e in at.error) and not at.exception


@pytest.fixture
def board_dir(tmp_path, monkeypatch):
    """A fresh SQLite board for each test: the page keeps one board per process, so drop the cached one."""
    monkeypatch.setenv("DIGITVIZ_DATA_DIR", str(tmp_path))
    st.cache_resource.clear()
    yield tmp_path
    st.cache_resource.clear()


def test_posting_a_run_to_the_class_board(board_dir):
    at = open_panel(page(), "board")
    train_run(at, epochs=3)
    at.text_input(key="board_name").input("Ada **bold**").run()
    at.button(key="post").click().run()
    assert any("Posted" in s.value for s in at.success)
    newest = [d.value for d in at.dataframe if "name" in d.value.columns]
    assert list(newest[0]["name"]) == ["Ada **bold**"] and list(newest[1]["name"]) == ["Ada **bold**"]
    at.button(key="post").click().run()  # again at once: refused by the rate limit, with the wait time
    assert any("Please wait" in e.value for e in at.error)
    other = open_panel(page(), "board")
    assert [d.value for d in other.dataframe if "name" in d.value.columns][0]["name"].tolist() == ["Ada **bold**"]


def test_teacher_clears_the_board_only_with_the_passphrase(board_dir):
    at = open_panel(page(), "board")
    train_run(at, epochs=2)
    at.text_input(key="board_name").input("Grace").run()
    at.button(key="post").click().run()
    at.text_input(key="board_passphrase").input("guess").run()
    at.button(key="clear-board").click().run()
    assert any("No teacher passphrase is set" in e.value for e in at.error)


def test_closed_panels_build_nothing():
    """A student who never opens a panel costs the server no tables, galleries or files."""
    at = page()
    train_run(at, epochs=2)
    assert not at.get("download_button") and not at.dataframe and not at.get("image")


def test_a_link_opens_the_class_board_alone_for_projecting(board_dir):
    at = page(panel="board")
    assert at.title[0].value == "Class board" and len(at.table) == 2  # the board, in plain (large) tables
    assert not any(e.proto.component_name == "digitviz.player" for e in at.get("bidi_component"))
    assert len(at.sidebar) == 0 and not [b for b in at.button if b.key in ("train", "train-phone")]
    assert at.query_params["panel"] == "board"
    press(at, "leave-board")  # a student who followed the link: the training page, with the board open below
    assert at.sidebar.button(key="train") and at.segmented_control(key="panel").value == "board"
    assert at.text_input(key="board_name") and at.query_params["panel"] == "board"
