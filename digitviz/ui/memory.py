"""The browser remembers a student's runs, so a refresh, a phone that slept or a discarded tab loses nothing.

The browser's localStorage holds `runs.saved(...)`: settings and seeds, not records. At a session's start the
component hands that back, and the page trains the runs again (the engine is deterministic). No account, no
cookie, nothing kept on the server once the session ends.
"""
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from digitviz import runs
from digitviz.failover import MOVED_MESSAGE, replaced_session
from digitviz.ui import resources

JS = """
export default function ({ data, setStateValue }) {
  const key = "digitviz-runs-v1";
  if (data.save === null) {
    setStateValue("saved", window.localStorage.getItem(key) || "");
  } else {
    window.localStorage.setItem(key, data.save);
  }
}
"""
_memory = st.components.v2.component("digitviz_memory", js=JS)


def memory_ui():
    """Restore the runs this browser saved, once per session; from then on, save them after every script run."""
    restored = st.session_state.get("restored")
    answer = _memory(key="memory", data={"save": runs.saved(st.session_state.get("runs", [])) if restored else None},
                     default={"saved": None}, on_saved_change=lambda: None, height=0)
    if not restored and answer.saved is not None:
        st.session_state.restored = True
        if answer.saved and not st.session_state.get("runs"):
            with st.spinner("Training your runs again from their settings…"):
                kept = runs.restore(answer.saved, lambda digits: resources.lesson_data(digits)[0])
            st.session_state.runs = kept
            if kept:
                st.session_state.run = kept[-1]
                st.rerun()


def moved_server_ui():
    """Say why the page started afresh when its server went away and the tab reconnected to another one."""
    if "moved_from" not in st.session_state:
        ctx = get_script_run_ctx()
        protocols = st.context.headers.get("Sec-WebSocket-Protocol") if ctx else None
        st.session_state.moved_from = replaced_session(protocols, ctx.session_id if ctx else None)
    if st.session_state.moved_from:
        st.warning(MOVED_MESSAGE, icon="🔁")
