"""A server's settings come from its secrets file, else its environment, else the defaults."""
from pathlib import Path

from digitviz.server_config import ServerConfig


def test_defaults_train_one_worker_per_core_and_keep_the_board_in_the_data_folder(tmp_path):
    config = ServerConfig.read({}, {"DIGITVIZ_DATA_DIR": str(tmp_path)})
    assert config.processes >= 1 and config.slots == config.processes
    assert config.board_url == f"sqlite:///{tmp_path / 'board.sqlite3'}" and config.passphrase is None


def test_the_environment_sets_each_value():
    env = {"DIGITVIZ_TRAINING_PROCESSES": "0", "DIGITVIZ_TRAINING_SLOTS": "3", "DIGITVIZ_BOARD_URL": "postgresql://x/y",
           "DIGITVIZ_BOARD_PASSPHRASE": "owl", "DIGITVIZ_DATA_DIR": "/srv/dv"}
    config = ServerConfig.read({}, env)
    assert (config.processes, config.slots, config.board_url, config.passphrase) == (0, 3, "postgresql://x/y", "owl")
    assert config.data_dir == Path("/srv/dv")
    assert ServerConfig.read({}, {"DIGITVIZ_TRAINING_PROCESSES": "0"}).slots == 1  # in-thread training: one at a time


def test_the_secrets_file_wins_over_the_environment():
    env = {"DIGITVIZ_BOARD_URL": "sqlite:///env.db", "DIGITVIZ_BOARD_PASSPHRASE": "env"}
    config = ServerConfig.read({"board": {"url": "sqlite:///secret.db", "passphrase": "secret"}}, env)
    assert (config.board_url, config.passphrase) == ("sqlite:///secret.db", "secret")
