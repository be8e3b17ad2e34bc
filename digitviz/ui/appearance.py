"""Light or dark, and larger text for a projector: chosen on the page, kept in the link, for this browser only.

Streamlit picks its theme when a page loads, from the `embed_options=dark_theme|light_theme` query parameter
before the device's own setting, so a choice here reloads the page with that parameter (the settings are in the
link and the runs in the browser's memory, so nothing is lost). Projector text scales the page's root font.
"""
from pathlib import Path

import streamlit as st

from digitviz.settings import DISPLAY, display_from_query

JS = """
export default function ({ data }) {
  const url = new URL(window.location.href);
  const wanted = {dark: "dark_theme", light: "light_theme"}[data.theme] || null;
  if ((url.searchParams.get("embed_options") || null) !== wanted) {
    if (wanted) url.searchParams.set("embed_options", wanted); else url.searchParams.delete("embed_options");
    window.location.replace(url.toString());
    return;
  }
  let style = document.getElementById("digitviz-projector-text");
  if (data.projector && !style) {
    style = document.createElement("style");
    style.id = "digitviz-projector-text";
    style.textContent = "html { font-size: 22px !important; }";
    document.head.appendChild(style);
  } else if (!data.projector && style) {
    style.remove();
  }
}
"""
_appearance = st.components.v2.component("digitviz_appearance", js=JS)
# The page's rules for what depends on the screen (the phone's controls, the projected board), in a component
# rather than st.html: Streamlit sends a style-only st.html to its event container, which a fragment's rerun
# empties, so a projected board lost its large type for a moment every 5 s.
_page_css = st.components.v2.component("digitviz_page", css=(Path(__file__).parent / "assets" / "page.css").read_text(),
                                       isolate_styles=False)


def page_css_ui():
    """Mount the page's own CSS (assets/page.css); it takes no room."""
    _page_css(key="page-css", height=0)


def appearance_ui():
    """The sidebar's display choices, applied in this browser; returns them for the link."""
    if "display" not in st.session_state:  # the link's choices, once per session
        st.session_state.update({f"display-{k}": v for k, v in display_from_query(st.query_params.to_dict()).items()})
        st.session_state.display = True
    theme, text = DISPLAY["theme"], DISPLAY["text"]
    with st.sidebar.expander("Display", expanded=False):
        st.segmented_control(theme.label, theme.choices, key="display-theme", required=True, help=theme.help,
                             format_func=theme.labels.get)
        projector = st.toggle(text.label, value=st.session_state["display-text"] == "projector",
                              help=text.help, key="display-projector")
    st.session_state["display-text"] = "projector" if projector else "normal"
    values = {"theme": st.session_state["display-theme"], "text": st.session_state["display-text"]}
    _appearance(key="appearance", data={"theme": values["theme"], "projector": projector}, height=0)
    return {k: v for k, v in values.items() if v != DISPLAY[k].default}
