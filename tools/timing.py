"""What the benchmark scripts share. Importing it also puts the repository on sys.path, so each script runs
as `python benchmarks/NAME.py` from a fresh clone, with nothing installed but the requirements."""
import importlib.util
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digitviz import train  # noqa: E402


def engine_alone(config, data):
    """(seconds, records) of the engine alone, on a fresh thread with one torch thread, as the page trains."""
    out = {}

    def work():
        torch.set_num_threads(1)
        began = time.perf_counter()
        out["records"] = list(train(config, data))
        out["seconds"] = time.perf_counter() - began

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return out["seconds"], out["records"]


def browser_helpers():
    """The browser tests' helpers (start_server, wait_ready, ...), loaded by path: one way to drive the page."""
    path = ROOT / "tests" / "browser" / "conftest.py"
    spec = importlib.util.spec_from_file_location("digitviz_browser_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
