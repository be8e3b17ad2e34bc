"""The sidebar: the run's buttons, the lesson presets, and one widget per row of settings.CONTROLS."""
import streamlit as st

from digitviz.settings import CONTROLS, PRESETS, open_presets, preset_changes

BUTTONS = [("stop", "Stop", "pause", "Pause the run; everything trained so far stays on the page."),
           ("step", "Step", "skip_next", "Train one more epoch."),
           ("resume", "Resume", "play_arrow", "Continue the run with the current learning rate."),
           ("reset", "Reset", "restart_alt", "Clear the run and start fresh.")]


def controls_ui():
    """Train, Stop, Step, Resume, Reset: returns which was pressed, or None."""
    sb = st.sidebar
    pressed = None
    if sb.button("Train", type="primary", key="train", width="stretch", help="Start a fresh run with these settings."):
        pressed = "train"
    for col, (name, label, icon, tip) in zip(sb.columns(2) + sb.columns(2), BUTTONS):
        if col.button(label, key=name, icon=f":material/{icon}:", help=tip, width="stretch"):
            pressed = name
    return pressed


def settings_ui(hidden):
    """The sidebar's settings (all but those a link hides) as the page's plain values."""
    sb = st.sidebar
    with sb.expander("Lesson presets", expanded=False):
        for name in open_presets(hidden):
            st.button(PRESETS[name].title, key=f"preset-{name}", on_click=apply_preset, args=(name, hidden),
                      width="stretch")
    sb.header("Settings")
    ten = st.session_state.digits == "all"
    shown = [c for c in CONTROLS.values() if c.name not in hidden and not (ten and c.pair_only)]
    halves = []
    for control in shown:
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
