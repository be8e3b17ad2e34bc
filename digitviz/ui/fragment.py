"""What the run's fragment (page.lesson_ui) needs from Streamlit that a fragment does not do by itself.

A click on Train or Stop reruns the fragment alone, not the page (a class's hundred clicks each sent the sidebar's
settings again). Two things a whole-page rerun did come with it for free:

- A click interrupted the script run in progress: Stop stopped a run as it trained. Streamlit 1.67 lets a widget's
  fragment rerun wait for the run in progress, because a full run it cut short would leave the rest of the page
  undrawn. When the run in progress is that same fragment's, nothing is left undrawn: `let_clicks_interrupt` marks
  the waiting request as one that may interrupt (as `st.rerun(scope="fragment")` marks its own), and Streamlit
  stops this run at its next element, as it did for a whole-page rerun. (Private: ScriptRequests' state, under
  its lock; tests/browser/test_page.py's Stop tests fail without it.)
- A fragment's rerun reuses the values its last full run passed it, and reads the settings from session state. A
  session whose state was cleared (a "clear caches" message) has none: `keep_settings` puts back the values the
  fragment was given (the settings' widgets are not drawn again until the next full run), so the click that
  reran it still counts.
"""
from dataclasses import replace

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType

from digitviz.settings import CONTROLS


def let_clicks_interrupt():
    """If the browser asked to rerun only the fragments this script run is running (a click on Stop while Train
    trains), let that request end this run at its next element, as a click did when it reran the whole page."""
    ctx = get_script_run_ctx()
    running = set(ctx.fragment_ids_this_run or ()) if ctx else set()
    if not running:  # a full run: a fragment's rerun must wait for the rest of the page to be drawn
        return
    requests = ctx.script_requests
    with requests._lock:
        waiting = requests._rerun_data
        if (requests._state == ScriptRequestType.RERUN and waiting.fragment_id_queue
                and set(waiting.fragment_id_queue) <= running):
            requests._rerun_data = replace(waiting, is_fragment_scoped_rerun=True)


def keep_settings(values):
    """Put the settings `values` back in session state if they are gone from it (cleared)."""
    if any(name not in st.session_state for name in CONTROLS):  # (listing the state's keys costs a class more)
        st.session_state.update({name: values[name] for name in CONTROLS})
