"""Save and load: the run as files to download, and a saved model loaded back to classify with."""
from functools import partial

import streamlit as st

from digitviz import export
from digitviz.text import digits_label, plain_markdown


def files_ui(run, server):
    """Download buttons that make each file only when pressed; the model uploader and what it loaded."""
    if run is not None and run.records:
        st.markdown(f"**Run {run.number}** at epoch {run.last.epoch}:")
        stem, last, binary = f"digitviz-run{run.number}", run.last, "application/octet-stream"
        files = [
            ("Records (CSV)", partial(export.records_csv, list(run.records)), f"{stem}.csv", "text/csv"),
            ("Settings (JSON)", partial(export.settings_json, run.config, run.digits, run.lr_changes), f"{stem}.json",
             "application/json"),
            ("Weights (.npy)", partial(export.weights_npy, last.params), f"{stem}-weights.npy", binary),
            ("Model (.npz)", partial(export.model_npz, last.params, run.config, run.digits), f"{stem}.npz", binary),
            ("Weight map (PNG)", partial(export.weight_map_png, last.weights), f"{stem}-weights.png", "image/png")]
        for col, (label, make, name, mime) in zip(st.columns(len(files)), files):
            col.download_button(label, make, name, mime, key=f"dl-{name.rsplit('.', 1)[1]}")
    st.file_uploader("Load a saved model to classify with (.npz, or a .npy of weights)", type=["npz", "npy"],
                     key="model_file", on_change=load_model_file)
    loaded = st.session_state.get("loaded_model")
    if st.session_state.get("model_file_error"):
        st.error(st.session_state.model_file_error)
    elif loaded is not None:
        st.success(f"Loaded {plain_markdown(loaded[2])} ({digits_label(loaded[1])}):"
                   " the classifier above uses it while those digits are selected.")


def load_model_file():
    """The model uploader's callback: runs before the page, so the classifier above already uses the model."""
    st.session_state.pop("loaded_model", None)
    st.session_state.pop("model_file_error", None)
    upload = st.session_state.get("model_file")
    if upload is None:
        return
    try:
        params, digits = export.load_model(upload.getvalue())
        st.session_state.loaded_model = (params, digits, upload.name)
    except export.ModelFileError as e:
        st.session_state.model_file_error = str(e)
