"""The player: a custom component (Streamlit's components v2, no iframe) that animates a run in the browser.

The server sends the run's records (digitviz.player's bytes) whenever it has more; the browser plays them at the
student's pace, and play, pause, scrub and speed never rerun the script. The JS and CSS ship in `assets/`.
"""
import functools
from pathlib import Path

import streamlit as st

ASSETS = Path(__file__).parent / "assets"


@functools.cache
def _component():
    """Registered once, at the first use: importing this module (as spawned workers may) registers nothing."""
    return st.components.v2.component("digitviz.player", js=(ASSETS / "player.js").read_text(),
                                      css=(ASSETS / "player.css").read_text(), isolate_styles=False)


def player_ui(payload, key):
    """Mount (or feed) the player with a run's payload; each call in one script run needs its own key."""
    _component()(data=payload, key=key, width="stretch")
