"""The page's address: a link's settings go into the widgets once, and the address bar always holds the page."""
import streamlit as st

from digitviz.settings import DEFAULTS, PRESETS, from_query, to_query


def read_link_once(panels):
    """At a session's first run, put the link's settings into the widgets; keep its hidden controls and notes."""
    if "link" not in st.session_state:
        query = st.query_params.to_dict()
        values, hidden, notes = from_query(query)
        for name, value in {**DEFAULTS, **values}.items():
            st.session_state[name] = value
        if query.get("panel") in panels:  # a teacher's link can open the class board, ready to project
            st.session_state.panel = query["panel"]
        st.session_state.link = (hidden, notes)
    for name, value in DEFAULTS.items():  # a control hidden by the link has no widget to keep its value
        st.session_state.setdefault(name, value)
    return st.session_state.link


def notes_ui(link_notes):
    """What the link changed or dropped, and the preset just chosen with what to notice."""
    for note in link_notes:
        st.warning(note, icon=":material/link:")
    preset = PRESETS.get(st.session_state.get("preset"))
    if preset:
        st.info(f"**{preset.title}.** {preset.notice} Press **Train** to see it.", icon=":material/school:")


def write_link(values, hidden, panel):
    """Keep a shareable link in the address bar: the settings that differ from the defaults, and the open panel."""
    st.query_params.from_dict(to_query(values, hidden) | ({"panel": panel} if panel else {}))
