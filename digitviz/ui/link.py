"""The page's address: a link's settings go into the widgets once, and the address bar always holds the page.
And the browser's own address, for the class board's and the rounds' per-client limits."""
import ipaddress

import streamlit as st

from digitviz.settings import DEFAULTS, PRESETS, from_query, matches_preset, open_presets, to_query
from digitviz.text import plain_markdown
from digitviz.ui.sidebar import apply_preset


def read_link_once(panels):
    """At a session's first run, put the link's settings into the widgets; keep its hidden controls and notes."""
    if "link" not in st.session_state:
        query = st.query_params.to_dict()
        values, hidden, notes = from_query(query)
        for name, value in {**DEFAULTS, **values}.items():
            st.session_state[name] = value
        preset = query.get("preset")
        if preset in open_presets(hidden):  # a teacher's link can open one experiment, its notice included
            apply_preset(preset, hidden)
            for name, value in values.items():  # what the link says explicitly still wins
                st.session_state[name] = value
        if query.get("panel") in panels:  # a teacher's link can open a panel; the class board, alone, to project
            st.session_state.panel = query["panel"]
            st.session_state.projected = query["panel"] == "board"
        st.session_state.link = (hidden, notes)
    for name, value in DEFAULTS.items():  # a control hidden by the link has no widget to keep its value
        st.session_state.setdefault(name, value)
    return st.session_state.link


def projected():
    """Whether this session shows the class board alone, as a teacher's `?panel=board` link projects it."""
    return st.session_state.get("projected", False)


def current_preset(values, hidden):
    """The preset chosen last, while the settings still are what it set up; else None."""
    name = st.session_state.get("preset")
    return name if name in PRESETS and matches_preset(name, values, hidden) else None


def notes_ui(link_notes, preset, trained):
    """What the link changed or dropped, and the preset in play with what to notice, until a setting moves."""
    for note in link_notes:  # they quote the link, which anyone could have written
        st.warning(plain_markdown(note), icon=":material/link:")
    if preset:
        then = "Check it against the run below." if trained else "Press **Train** to see it."
        st.info(f"**{PRESETS[preset].title}.** {PRESETS[preset].notice} {then}", icon=":material/school:")


def write_link(values, hidden, panel, preset, display):
    """Keep a shareable link in the address bar: the settings that differ from the defaults, the open panel,
    the preset in play and the display choices."""
    extra = ({"panel": panel} if panel else {}) | ({"preset": preset} if preset else {}) | display
    st.query_params.from_dict(to_query(values, hidden) | extra)


def client_key():
    """The browser's address, for the board's per-client limits. Behind a proxy (a loopback or private peer),
    the last X-Forwarded-For entry, which the proxy itself appended; a browser can only add entries before it."""
    peer = st.context.ip_address or ""
    forwarded = (st.context.headers.get("X-Forwarded-For") or "").split(",")[-1].strip()
    try:
        proxied = ipaddress.ip_address(peer).is_private
    except ValueError:
        proxied = False
    return forwarded if proxied and forwarded else peer or None
