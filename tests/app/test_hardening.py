"""What a shared classroom server must never do, whatever a browser sends it."""
import builtins
import io
import os
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitviz.export import load_model, model_npz
from digitviz.preprocess import prepare_upload
from tools import APP, ROOT


def test_server_settings_keep_the_protections_on():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["client"]["showErrorDetails"] == "none"  # tracebacks stay in the server's log
    assert config["server"]["maxUploadSize"] <= 10 and config["server"]["maxMessageSize"] <= 50
    assert config["browser"]["gatherUsageStats"] is False and config["server"]["headless"] is True


@pytest.fixture
def no_disk_writes(monkeypatch):
    """Fail the test if anything opens a file for writing."""
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        assert not set(mode) & set("wax+"), f"wrote to {file}"
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        assert not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT), f"wrote to {path}"
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)


def test_uploads_are_read_in_memory_never_written(no_disk_writes, data):
    buf = io.BytesIO()
    Image.fromarray((data.valid_x[0].view(28, 28).numpy() * 255).astype(np.uint8)).save(buf, "PNG")
    _, image = prepare_upload(buf.getvalue())
    assert image.shape == (28, 28)
    params = {"weights": np.zeros((784, 1), np.float32), "bias": np.zeros(1, np.float32)}
    from digitviz import TrainConfig
    assert load_model(model_npz(params, TrainConfig(), (3, 7)))[1] == (3, 7)


def test_no_browser_input_names_a_server_path():
    """Data folders come only from the CLI or a script: the page loads the bundled digits and nothing else."""
    source = "".join(p.read_text() for p in [Path(APP), *sorted((ROOT / "digitviz" / "ui").rglob("*.py"))])
    assert re.findall(r"(?:load_digits|digit_arrays)\(([^)]*)\)", source) == ["digits"]
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"source": "/etc", "path": "../../etc/passwd", "folder": "/"})
    at.run()
    assert not at.exception and not at.warning  # unknown link keys are ignored, silently
    assert at.session_state.get("source") is None


def test_clearing_the_caches_costs_only_a_reload():
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.slider(key="epochs").set_value(2)
    at.button(key="train").click().run()
    st.cache_resource.clear()
    st.cache_data.clear()
    at.button(key="step").click().run()
    assert not at.exception and len(at.session_state.run.records) == 3
