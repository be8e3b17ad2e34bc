"""What a teacher found trying the page (issue 13), through AppTest: each test failed before its fix."""
import json

import pytest
import streamlit as st

from digitviz.settings import PRESETS
from digitviz.settings import open_presets as presets_shown
from tools.apptest import open_panel, open_presets, page, player, press


def texts(at, kind):
    return " ".join(e.value for e in getattr(at, kind))


def test_a_ten_digit_link_shuffles_and_an_unshuffled_one_says_why():
    at = page(digits="all", epochs=2)
    assert at.toggle(key="shuffle").value is True and "Shuffle is off" not in texts(at, "warning")
    press(at, "train")
    assert at.session_state.run.config.shuffle and at.session_state.run.last.valid_acc > 0.8
    off = page(digits="all", shuffle=0, epochs=2)
    assert off.toggle(key="shuffle").value is False and "Shuffle is off" in texts(off, "warning")
    assert off.query_params["shuffle"] == "0"  # the page's own link keeps saying so


def test_the_weight_map_shows_the_change_beside_the_raw_weights_by_default():
    at = press(page(epochs=3), "train")
    meta, _ = player(at)
    assert meta["map"]["title"].format(epoch=3) == "Weights after epoch 3"
    assert meta["change"]["title"].format(epoch=3) == "Change, epoch 0 → 3"
    assert meta["map"]["ends"] == meta["change"]["ends"] == ["→ 7", "0", "→ 3"]


def test_hidden_units_are_not_labelled_with_digits():
    at = page(model="two_layer", epochs=2)
    meta, _ = player(press(at, "train"))
    assert meta["map"]["ends"] == ["inhibits", "0", "excites"]
    assert meta["change"]["title"].format(epoch=2) == "Change, epoch 0 → 2 (hidden units)"


def test_resuming_at_another_rate_says_so_everywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITVIZ_DATA_DIR", str(tmp_path))
    st.cache_resource.clear()
    at = press(page(epochs=2, panel="compare"), "train")
    at.select_slider(key="lr").set_value(0.1)
    press(at, "resume")
    run = at.session_state.run
    assert run.lr_changes == [(3, 0.1)] and len(run.records) == 4
    assert any("lr **1 → 0.1 at epoch 3**" in m.value for m in at.markdown)
    (table,) = [d for d in at.dataframe if "run" in d.value.columns]
    assert list(table.value["lr"]) == [1.0] and list(table.value["lr changes"]) == ["→ 0.1 at epoch 3"]
    at.segmented_control(key="panel").set_value("board").run()
    at.text_input(key="board_name").input("Ada").run()
    press(at, "post")
    (newest, *_) = [d.value for d in at.dataframe if "name" in d.value.columns]
    assert "lr 1 → 0.1 at epoch 3" in newest["settings"][0]
    assert run.settings()["lr_changes"] == [[3, 0.1]]  # the saved JSON is made from these settings
    st.cache_resource.clear()


def test_the_preset_buttons_are_drawn_only_while_their_list_is_open():
    """Eleven messages of every script run before; a closed list is one."""
    at = page()
    assert not [b for b in at.button if b.key and b.key.startswith("preset-")]
    assert {b.key for b in open_presets(at).button if b.key and b.key.startswith("preset-")} == {
        f"preset-{name}" for name in PRESETS}


def test_a_link_that_hides_controls_locks_them_against_presets():
    at = open_presets(page(only="lr", epochs=7))
    offered = {b.key for b in at.button if b.key and b.key.startswith("preset-")}
    assert offered == {f"preset-{name}" for name in presets_shown({"epochs", "model", "digits", "a", "b", "loss",
                                                                   "batch_size", "init_std", "seed", "shuffle"})}
    assert offered == {"preset-lr_high"}  # the only preset that changes nothing but the learning rate
    press(at, "preset-lr_high")
    assert at.session_state.epochs == 7 and at.session_state.model == "linear" and at.session_state.lr == 100.0


def test_a_link_can_open_one_preset_with_its_notice():
    at = page(preset="two_layer")
    assert at.selectbox(key="model").value == "two_layer"
    assert any(PRESETS["two_layer"].notice[:40] in i.value for i in at.info)
    assert at.query_params["preset"] == "two_layer"
    press(at, "train")
    assert any(PRESETS["two_layer"].notice[:40] in i.value for i in at.info), "the notice stays beside the result"
    at.select_slider(key="lr").set_value(0.1).run()
    assert not any(PRESETS["two_layer"].notice[:40] in i.value for i in at.info), "gone once the settings change"


def test_a_setting_touched_during_a_run_says_the_run_paused():
    at = press(page(epochs=3), "train")
    at.session_state.run.status = "running"  # as a run looks when a widget's change interrupts its loop
    at.slider(key="init_std").set_value(2.0).run()
    run = at.session_state.run
    assert run.status == "paused" and "a setting changed while it trained" in texts(at, "warning")
    assert "**Resume**" in texts(at, "warning")




def test_charts_hide_the_mode_bar_that_covers_their_titles():
    at = open_panel(press(page(epochs=2), "train"), "inside")  # the page's first view has no Plotly chart at all
    at.segmented_control(key="inside_view").set_value("threshold").run()
    configs = [json.loads(c.proto.config) if c.proto.config else {} for c in at.get("plotly_chart")]
    assert configs and all(c.get("displayModeBar") is False for c in configs)


def test_a_diverged_run_keeps_its_loss_axis_from_zero():
    at = press(page(epochs=20, lr=1000), "train")
    (loss,) = [c for c in player(at)[0]["charts"] if c["title"] == "Loss"]
    assert loss["from_zero"] is True  # the player's loss axis keeps 0 in view


def test_wording_fits_the_page():
    at = page(only="lr")
    assert "Set the learning rate under **Settings**, then press **Train**." in texts(at, "info")
    at = page(a=1, b=8)
    assert any("Draw a 1 or an 8" in c.value for c in at.caption)
    notes = " ".join(w.value for w in page(seed="1e20").warning)
    assert "2147483647" in notes and "e+09" not in notes
    ten = page(digits="all")
    assert "12,396" not in ten.select_slider(key="batch_size").help


def test_a_wrong_passphrase_keeps_the_teachers_box_open(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITVIZ_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DIGITVIZ_BOARD_PASSPHRASE", "owl")
    st.cache_resource.clear()
    at = page(panel="board")
    at.text_input(key="board_passphrase").input("guess").run()
    press(at, "clear-board")
    (box,) = [e for e in at.expander if e.label.startswith("Teacher")]
    assert box.proto.expanded and "Wrong passphrase" in texts(at, "error")
    st.cache_resource.clear()


@pytest.mark.parametrize("digits", [{"a": 1, "b": 8}, {"digits": "all"}])
def test_the_confusion_matrix_reads_on_a_projector(digits):
    at = press(page(epochs=2, panel="mistakes", **digits), "train")
    (matrix,) = [s for s in (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
                 if s["data"][0].get("texttemplate")]
    assert matrix["data"][0]["textfont"]["size"] >= 15
