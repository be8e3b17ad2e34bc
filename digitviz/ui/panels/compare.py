"""Compare runs: every run of this session in a table; overlay any of them; delete some or all."""
import streamlit as st

from digitviz.figures import compare_figure
from digitviz.settings import differences
from digitviz.text import run_row
from digitviz.ui import CHART
from digitviz.ui.dashboard import restore_live


def compare_ui(run, server):
    """The session's runs as a table and an overlay of the chosen ones' curves."""
    restore_remembered(server)
    runs = [r for r in st.session_state.get("runs", []) if r.records]
    if not runs:
        st.caption("Each run you train is kept here, so you can overlay their curves.")
        return
    st.dataframe([run_row(r) for r in runs], hide_index=True, width="stretch")
    names = {r.number: r for r in runs}
    version = "-".join(str(n) for n in names)  # a new widget when the runs change, so no stale choice survives
    chosen = st.multiselect("Overlay runs", list(names), default=list(names)[-2:], format_func=lambda n: f"Run {n}",
                            key=overlay_key(runs))
    if chosen:
        labels = differences([names[n].settings() for n in chosen])
        curves = {f"Run {n}" + (f": {label}" if label else ""): names[n].records for n, label in zip(chosen, labels)}
        st.plotly_chart(compare_figure(curves), key="compare-chart", **CHART)
    left, right = st.columns(2)
    doomed = left.multiselect("Delete runs", list(names), format_func=lambda n: f"Run {n}", key=f"delete-{version}")
    if left.button("Delete", key="delete-runs", disabled=not doomed):
        forget_runs(set(doomed))
        st.rerun()
    if right.button("Clear all runs", key="clear-runs"):
        forget_runs(set(names))
        st.rerun()


def restore_remembered(server):
    """The runs the browser remembered, trained again when this panel first lists them: newest first, one at a
    time, each in line like any run (and from the server's run cache when it has their settings)."""
    place = st.empty()

    def progress(r):
        place.caption(f"Bringing back run {r.number} from this browser's memory: epoch {r.last.epoch} of "
                      f"{r.remembered_epochs}…")

    for run in reversed(st.session_state.get("runs", [])):
        if run.restoring and not restore_live(run, {"status": place, "problem": place}, server, show=progress):
            return  # stopped: the panel lists what it has, and says why
    place.empty()


def overlay_key(runs):
    """The overlay picker's key: new whenever the runs change, so another panel can preset it for these runs."""
    return "compare-" + "-".join(str(r.number) for r in runs if r.records)


def forget_runs(numbers):
    st.session_state.runs = [r for r in st.session_state.runs if r.number not in numbers]
    if st.session_state.get("run") is not None and st.session_state.run.number in numbers:
        st.session_state.pop("run")
