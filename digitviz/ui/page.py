"""The page, as a table of contents: page.py runs `main()` for every script run.

The page reads top-down like the lesson: the link and the sidebar give the settings, Train runs the engine
live into the dashboard, a drawn digit gets a verdict, and the classroom panels open below. Each piece lives in
`digitviz/ui/`; this file only wires them. Everything below the settings that a run changes is one fragment
(`lesson_ui`), so that the run's buttons rerun it alone (digitviz/ui/fragment.py).

pandas is imported here, whole, before any page draws: plotly looks it up in sys.modules without the import lock,
and a class's first page loads at once found it half-imported by another session's thread ("partially
initialized module 'pandas' has no attribute 'Series'", a traceback on the page).
"""
import pandas  # noqa: F401 (see below)
import streamlit as st

from digitviz.runs import fitted_config
from digitviz.settings import CONTROLS, config_of, digits_of
from digitviz.text import title
from digitviz.ui import appearance, dashboard, fragment, link, memory, resources, rounds, sidebar
from digitviz.ui.classify import classify_ui
from digitviz.ui.panels import PANELS, board, panels_ui


def main():
    st.set_page_config(page_title="digitviz: watch a model learn", page_icon="🔢", layout="wide")
    appearance.page_css_ui()  # the phone's controls, the projected board: what depends on the screen
    resources.let_scripts_end_at_exit()  # before any torch: an exit meanwhile would abort
    resources.log_to_server_log()
    server = resources.server_config()
    resources.trainer(server)  # its workers start with the server (streamlit_app.py); here too, for AppTest
    hidden, link_notes = link.read_link_once(PANELS)
    if link.projected():  # ?panel=board: the class board alone, for the projector
        memory.moved_server_ui()
        board.projected_ui(server)
        return
    joined = rounds.joined_round(server)  # ?round=CODE: the class predicts one experiment, with no controls
    if joined is None:
        buttons = st.sidebar.container()  # the run's buttons, at the sidebar's top: lesson_ui draws them
        values = sidebar.settings_ui(hidden)
    else:
        values, hidden = joined.question.settings(), frozenset(CONTROLS)
    digits = digits_of(values)
    data, baseline = resources.lesson_data(digits)
    resources.collect_garbage_regularly()
    config, caps = fitted_config(config_of(values), len(data.train_x))
    for cap in caps:
        st.sidebar.caption(cap)
    st.title(title(digits))
    st.caption("The fastai book's chapter 4: a linear model trained from scratch by SGD, against the lesson's "
               "first idea, comparing each digit with the average image of each digit.")
    if joined is None:
        lesson_ui(buttons, values, hidden, link_notes, config, digits, baseline, server)
    else:
        round_page_ui(joined, values, hidden, link_notes, config, digits, baseline, server)


@st.fragment
def lesson_ui(buttons, values, hidden, link_notes, config, digits, baseline, server):
    """Everything a run changes: its buttons, the dashboard, the classifier, the panels and what the browser
    remembers. A fragment: Train, Stop, Step, Resume and Reset rerun this alone, not the settings above it,
    which were most of what a class's hundred clicks sent (a changed setting still reruns the whole page)."""
    fragment.keep_settings(values)
    action = sidebar.buttons_ui(buttons)
    action = sidebar.phone_ui(hidden) or action
    run, preset = run_and_notes(action, values, hidden, link_notes)
    view = dashboard.dashboard_ui(digits, baseline, config)
    run = dashboard.act(action, run, config, digits, view, server)
    dashboard.show_run(run, view, hidden, config, digits, server)
    classify_ui(run, digits, baseline)
    st.divider()
    panel = panels_ui(run, server)
    link.write_link(values, hidden, panel, preset, appearance.appearance_ui())
    memory.memory_ui()


def run_and_notes(action, values, hidden, link_notes):
    """The session's run after the click `action`, and the preset in play; above the dashboard, what the page has
    to say first: the server it moved from, runs it could not remember, the link's notes, the preset's notice."""
    run = dashboard.current_run(action)
    preset = link.current_preset(values, hidden)
    memory.moved_server_ui()
    memory.forgotten_ui(action)
    link.notes_ui(link_notes, preset, trained=run is not None)
    return run, preset


def round_page_ui(joined, values, hidden, link_notes, config, digits, baseline, server):
    """A class round's page: the round alone, no controls, no classifier, no panels, no remembered runs."""
    action = rounds.reveal_action(joined)
    run, preset = run_and_notes(action, values, hidden, link_notes)
    results = rounds.round_ui(joined, server, config, digits)
    view = dashboard.dashboard_ui(digits, baseline, config)
    run = dashboard.act(action, run, config, digits, view, server)
    rounds.show_run(run, view, hidden)
    rounds.reveal_ui(results, joined, run)
    link.write_link(values, hidden, None, preset, appearance.appearance_ui() | rounds.round_link(joined))
