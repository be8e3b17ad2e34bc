"""The browser remembers a student's runs, so a refresh, a phone that slept or a discarded tab loses nothing.

The browser's localStorage holds `runs.saved(...)`: settings and seeds, not records. At a session's start the
component hands that back, checked as a link is, as remembered runs; each is trained again (the engine is
deterministic) like any run, in the worker pool and in line, from the server's run cache when it has the settings:
the shown run at once, the others when Compare runs shows them. No account, no cookie, nothing kept on the server
once the session ends.
"""
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from digitviz import runs
from digitviz.failover import MOVED_MESSAGE, replaced_session
from digitviz.ui import resources

# The browser reads its memory once per session (a reload, or a server that went away, starts a new one). Only when it
# remembers runs and the session has none of its own yet does it hand them back, which reruns the page; otherwise it
# writes the session's runs at once. A first visit used to hand back "" all the same: a second script run for every
# new page, 0.35 s of a cold start.
JS = """
let readFor = null;
export default function ({ data, setStateValue }) {
  const key = "digitviz-runs-v1";
  if (readFor !== data.session) {
    readFor = data.session;
    const remembered = window.localStorage.getItem(key) || "[]";
    if (data.fresh && remembered !== "[]") {
      setStateValue("saved", remembered);
      return;  // written once the page has taken them back: nothing is lost to an early write
    }
  }
  window.localStorage.setItem(key, data.save);
}
"""
_memory = st.components.v2.component("digitviz_memory", js=JS)


def memory_ui():
    """Restore the runs this browser saved, once per session, if it has any; save the session's after every script
    run."""
    save = runs.saved(st.session_state.get("runs", []))
    restored = st.session_state.get("restored")
    ctx = get_script_run_ctx()
    answer = _memory(key="memory", data={"save": save, "fresh": not restored and save == "[]",
                                         "session": ctx.session_id if ctx else ""},
                     default={"saved": None}, on_saved_change=lambda: None, height=0)
    if not restored and answer.saved is not None:
        st.session_state.restored = True
        if answer.saved and not st.session_state.get("runs"):
            kept, st.session_state.forgotten = runs.restore(answer.saved, train_size)
            st.session_state.runs = kept
            if kept or st.session_state.forgotten:
                st.session_state.run = kept[-1] if kept else None
                st.rerun()


def train_size(digits):
    return len(resources.lesson_data(digits)[0].train_x)


def forgotten_ui(action):
    """The one sentence saying that some remembered runs were left out, until the student's next click."""
    if action:
        st.session_state.pop("forgotten", None)
    if st.session_state.get("forgotten"):
        st.info(st.session_state.forgotten, icon=":material/history:")


def moved_server_ui():
    """Say why the page started afresh when its server went away and the tab reconnected to another one."""
    if "moved_from" not in st.session_state:
        ctx = get_script_run_ctx()
        protocols = st.context.headers.get("Sec-WebSocket-Protocol") if ctx else None
        st.session_state.moved_from = replaced_session(protocols, ctx.session_id if ctx else None)
    if st.session_state.moved_from:
        st.warning(MOVED_MESSAGE, icon="🔁")
