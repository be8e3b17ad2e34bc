import os

import pytest

# AppTest runs the page in this process: train in its thread, as a server without worker processes would.
# The worker processes are tested on their own (test_workers.py) and through the real server (browser tests).
os.environ.setdefault("DIGITVIZ_TRAINING_PROCESSES", "0")

from digitviz import load_digits


@pytest.fixture(scope="session")
def data():
    """The lesson's 3s and 7s from the bundled file, shared read-only by every test."""
    return load_digits()
