"""The sidebar: the run's buttons, the lesson presets, and one widget per row of settings.CONTROLS."""
import functools

import streamlit as st

from digitviz.settings import CONTROLS, PRESETS, open_presets, preset_changes

BUTTONS = [("stop", "Stop", "pause", "Pause the run; everything trained so far stays on the page."),
           ("step", "Step", "skip_next", "Train one more epoch."),
           ("resume", "Resume", "play_arrow", "Continue the run with the current learning rate."),
           ("reset", "Reset", "restart_alt", "Clear the run and start fresh.")]


def buttons_ui(where, suffix=""):
    """The run's buttons in `where`, keyed by name + `suffix`: returns which was pressed, or None. In the sidebar,
    two rows of two under Train; at the top of a phone's page (a suffix), one row that wraps."""
    pressed = None
    if where.button("Train", type="primary", key="train" + suffix, width="stretch",
                    help="Start a fresh run with these settings."):
        pressed = "train"
    # Rows are horizontal containers, not columns: one block a row instead of three (a row and two columns), and
    # every block is a message a class's hundred clicks each send.
    rows = [where.container(horizontal=True, gap="small")] * 4 if suffix else [
        row for row in (where.container(horizontal=True, gap="small", key=f"run-buttons-{i}") for i in range(2))
        for _ in range(2)]
    for row, (name, label, icon, tip) in zip(rows, BUTTONS):
        if row.button(label, key=name + suffix, icon=f":material/{icon}:", help=tip, width="stretch"):
            pressed = name
    return pressed


def phone_ui(hidden):
    """The run's buttons at the top of the main area, and a Settings button that opens the sidebar, for a screen
    too narrow for the sidebar (Streamlit starts it collapsed there, behind a small `>>`). Both are always sent:
    the server cannot know the screen's width, so assets/page.css shows these only where the sidebar starts
    collapsed. The settings stay the sidebar's own widgets, so nothing has two copies to keep in step."""
    with st.container(key="phone-controls"):
        pressed = buttons_ui(st, PHONE)
        labels = [c.label for c in shown_controls(hidden)]
        _open_settings()(key="open-settings", data={"label": settings_label(labels)})
    return pressed


def settings_label(labels, most=3):
    """The Settings button's words: what it opens, as far as a phone's line allows."""
    return "Settings" + (f": {', '.join(labels[:most])}{', …' if len(labels) > most else ''}" if labels else "")


PHONE = "-phone"  # the key suffix of the main area's copies of the run's buttons
OPEN_SETTINGS_JS = """
export default function ({ data, parentElement }) {
  let button = parentElement.querySelector("button");
  if (!button) {
    button = document.createElement("button");
    button.type = "button";
    button.className = "dv-open-settings";
    // Streamlit's own `>>`: the sidebar it opens holds the settings (and Train again, at its top)
    button.addEventListener("click", () => document.querySelector("[data-testid=stExpandSidebarButton]")?.click());
    parentElement.append(button);
  }
  button.textContent = data.label;
  button.setAttribute("aria-label", data.label); // the ☰ before it is decoration
}
"""
OPEN_SETTINGS_CSS = """
.dv-open-settings { width: 100%; min-height: 2.5rem; padding: 0.4rem 0.75rem; text-align: left; cursor: pointer;
  font: inherit; font-family: var(--st-font); color: var(--st-text-color); background: var(--st-background-color);
  border: 1px solid var(--st-border-color, rgba(128, 128, 128, 0.4)); border-radius: var(--st-button-radius, 0.5rem); }
.dv-open-settings::before { content: "☰"; margin-right: 0.6rem; }
.dv-open-settings:focus-visible { outline: 2px solid var(--st-primary-color); outline-offset: 2px; }
"""


@functools.cache
def _open_settings():
    """Registered at the first use, as the player is: importing this module (as workers may) registers nothing."""
    return st.components.v2.component("digitviz_open_settings", js=OPEN_SETTINGS_JS, css=OPEN_SETTINGS_CSS)


def settings_ui(hidden):
    """The sidebar's settings (all but those a link hides) as the page's plain values."""
    sb = st.sidebar
    # The ten buttons only once a student opens the list (opening it reruns the page): closed, it is one message of
    # a script run's eighty instead of eleven, at every page load and every change of a setting.
    with sb.expander("Lesson presets", expanded=False, key=PRESETS_OPEN, on_change="rerun") as presets:
        for name in open_presets(hidden) if presets.open else ():
            st.button(PRESETS[name].title, key=f"preset-{name}", on_click=apply_preset, args=(name, hidden),
                      width="stretch")
    sb.header("Settings")
    ten = st.session_state.digits == "all"
    halves = []
    for control in shown_controls(hidden):
        if control.half:  # pairs of half-width controls (the two digits) share a row
            halves = halves or sb.columns(2)
            control_ui(control, halves.pop(0), ten)
        else:
            control_ui(control, sb, ten)
    if ten:
        sb.caption("All ten digits: a **softmax** model (ten linear models side by side) with **cross-entropy**.")
    values = {name: st.session_state[name] for name in CONTROLS}
    if values["a"] == values["b"]:
        sb.warning("Pick two different digits; using 3 and 7 for now.")
        values.update(a=3, b=7)
    return values


PRESETS_OPEN = "presets-open"  # the preset list's expander: True while a student has it open


def shown_controls(hidden):
    """The rows of settings.CONTROLS that get a widget: all but those a link hides (and, for ten digits, those
    that only a pair has)."""
    ten = st.session_state.digits == "all"
    return [c for c in CONTROLS.values() if c.name not in hidden and not (ten and c.pair_only)]


def control_ui(control, where, ten=False):
    """The widget a row of the settings table asks for, keyed by the setting's name."""
    common = dict(key=control.name, help=control.help_ten if ten and control.help_ten else control.help)
    if control.widget == "segmented":
        where.segmented_control(control.label, control.choices, format_func=control.labels.get, required=True,
                                on_change=CHANGED.get(control.name), **common)
    elif control.widget == "select_slider":
        where.select_slider(control.label, control.choices, **common)
    elif control.widget == "slider":
        where.slider(control.label, control.lo, control.hi, step=control.step, **common)
    elif control.widget == "number_input":
        where.number_input(control.label, control.lo, control.hi, **common)
    elif control.widget == "toggle":
        where.toggle(control.label, **common)
    else:
        where.selectbox(control.label, control.choices, **common)


def apply_preset(name, hidden=frozenset()):
    """A preset button's callback: set every control the link shows, then say what to notice."""
    for key, value in preset_changes(name, hidden).items():
        st.session_state[key] = value
    st.session_state.preset = name


def digits_changed():
    """Ten digits sorted by label make every batch a single digit: shuffle, as the ten-digit preset does, unless
    a link locked shuffle (then the page says why the run does badly)."""
    if st.session_state.digits == "all" and "shuffle" not in st.session_state.link[0]:
        st.session_state.shuffle = True


CHANGED = {"digits": digits_changed}  # what else a control's change sets
