"""Helpers for driving the page through Streamlit's AppTest, shared by the tests in tests/app."""
import json

from streamlit.testing.v1 import AppTest

from digitviz.player import decode
from digitviz.ui.sidebar import PRESETS_OPEN
from tools import APP


def page(**query):
    """The page opened from a link with these query parameters, run once, with no exception."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({k: str(v) for k, v in query.items()})
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at):
    """Every Plotly chart on the page as its spec, by title ('' for the baseline's images, which have none)."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {s["layout"].get("title", {}).get("text", ""): s for s in specs}


def press(at, key):
    """Click the button with this key and run the page; no exception."""
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def open_presets(at):
    """Open the sidebar's list of lesson presets, as a click on it does: its buttons are drawn only while it is open."""
    at.session_state[PRESETS_OPEN] = True
    at.run()
    assert not at.exception, at.exception
    return at


def open_panel(at, name):
    """Open one of the classroom panels."""
    at.segmented_control(key="panel").set_value(name).run()
    assert not at.exception, at.exception
    return at


def train_run(at, epochs=3, **settings):
    """Set the epochs and any other settings by key, then press Train."""
    at.slider(key="epochs").set_value(epochs)
    for key, value in settings.items():
        {"lr": at.select_slider, "batch_size": at.select_slider}.get(key, at.selectbox)(key=key).set_value(value)
    at.button(key="train").click().run()
    assert not at.exception, at.exception
    return at


def player(at):
    """The player's payload as the browser gets it, (meta, arrays), or None when the page shows no run."""
    shown = player_frame(at)
    return shown if shown and shown[0]["count"] else None


def player_frame(at):
    """The player's last payload, (meta, arrays), the start frame included (count 0: no run yet); None without it."""
    sent = [e.proto for e in at.get("bidi_component") if e.proto.component_name == "digitviz.player"]
    return decode(sent[-1].bytes) if sent else None
