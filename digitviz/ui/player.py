"""The player: a custom component (Streamlit's components v2, no iframe) that animates a run in the browser.

The server sends the run's records (digitviz.player's bytes) whenever it has more; the browser plays them at the
student's pace, and play, pause, scrub and speed never rerun the script. The JS and CSS ship in `assets/`.
"""
import functools
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

ASSETS = Path(__file__).parent / "assets"
KEY = "player"


@functools.cache
def _component():
    """Registered once, at the first use: importing this module (as spawned workers may) registers nothing."""
    return st.components.v2.component("digitviz.player", js=(ASSETS / "player.js").read_text(),
                                      css=(ASSETS / "player.css").read_text(), isolate_styles=False)


def player_ui(payload):
    """Mount the player, or give it more of the run: training redraws it several times in one script run."""
    _forget_key(KEY)
    _component()(data=payload, key=KEY, width="stretch")


def _forget_key(key):
    """Let this script run use `key` once more. Each redraw must keep the element's id (made from the key): the
    browser mounts a new player for a new id, which blanks it for a frame and makes the page jump, several times
    a second while training. Streamlit refuses a key twice in a run, so forget the last redraw's registration.
    (Streamlit 1.67's private sets; tests/browser/test_player.py checks that one player lives through a run.)"""
    shared = get_script_run_ctx().shared
    for registered in (shared.widget_user_keys_this_run, shared.widget_ids_this_run):
        with registered._lock:
            registered._data -= {k for k in registered._data if k == key or k.endswith(f"-{key}")}
