import pytest

from digitviz import load_digits


@pytest.fixture(scope="session")
def data():
    """The lesson's 3s and 7s from the bundled file, shared read-only by every test."""
    return load_digits()
