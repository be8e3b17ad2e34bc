"""What the server sets up once per process (digitviz/ui/resources.py), checked against Streamlit's own behaviour."""
import threading

import pytest
from streamlit import config

from digitviz.ui import resources


@pytest.fixture
def lock_free(monkeypatch):
    """Streamlit's get_option as the server runs it, Streamlit's own put back afterwards."""
    locked = config.get_option
    monkeypatch.setattr(config, "get_option", locked)
    resources.read_config_without_lock()
    return locked


def test_every_option_reads_as_streamlits_own_get_option_reads_it(lock_free):
    """What Streamlit's get_option returns, by its source: the parsed option's value, under the lock. (Compared
    with that, not with `lock_free`: after an AppTest, config.get_option may still be AppTest's mock.)"""
    assert config.get_option is not lock_free and config.get_option.without_lock
    for key, option in config.get_config_options().items():
        with config._config_lock:
            expected = option.value
        assert config.get_option(key) == expected, key
    installed = config.get_option
    resources.read_config_without_lock()  # once per process: a second call wraps nothing
    assert config.get_option is installed


def test_an_unknown_key_raises_streamlits_own_error(lock_free):
    with pytest.raises(RuntimeError, match='Config key "global.noSuchOption" not defined'):
        config.get_option("global.noSuchOption")


def test_a_set_option_is_read_at_once_even_while_the_config_lock_is_held(lock_free):
    was = config.get_option("global.minCachedMessageSize")
    read = []
    reader = threading.Thread(target=lambda: read.append(config.get_option("global.minCachedMessageSize")))
    try:
        config.set_option("global.minCachedMessageSize", was + 1)
        with config._config_lock:  # as during a reparse elsewhere: Streamlit's own get_option would wait here
            reader.start()
            reader.join(2)
            assert read == [was + 1]
    finally:
        reader.join(5)
        config.set_option("global.minCachedMessageSize", was)
