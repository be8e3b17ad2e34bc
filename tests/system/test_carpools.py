"""A class with mixed settings on a real server: every student's run is the engine's own for their settings,
bit for bit, while the server trains the runs that share a data stream as carpools (and says how many)."""
import asyncio
import re

import pytest

from digitviz import load_digits, train
from digitviz.settings import DEFAULTS, PRESETS, config_of
from tools.classroom import link_query, student_values
from tools.server import Server
from tools.student import Student, run_async, trace
from tools.timing import engine_alone

STUDENTS = 20
EPOCHS = 30
TIMEOUT = 180


async def class_trains(url, values):
    """Every student opens their link, all press Train at the same moment, each waits for their run."""
    students = [Student(url, link_query(v), name=f"student {i}") for i, v in enumerate(values)]
    await asyncio.gather(*(s.connect(timeout=TIMEOUT) for s in students))
    await asyncio.gather(*(s.click("train") for s in students))
    await asyncio.gather(*(s.wait_until_finished(TIMEOUT) for s in students))
    curves = []
    for s in students:
        assert not s.exceptions_seen, s.exceptions_seen
        assert any(t.endswith(": done") for t in s.texts()), (s.name, s.texts())
        curves.append(trace(s.chart("Accuracy"), "validation accuracy")["y"])
    await asyncio.gather(*(s.close() for s in students))
    return values, curves


def carpools_formed(server):
    """(carpools, runs trained in them), as the pool says in the server's log when it closes."""
    server.stop()
    said = re.search(r"(\d+) carpools formed, (\d+) runs trained in them", server.log_text())
    assert said, server.log_text()[-2000:]
    return tuple(map(int, said.groups()))


def one_model_rides_carpools(values, data, model, shuffled):
    """A class of `model`'s runs (all shuffled, or none) on a real server: each student's curve is the engine's own
    run of their settings, and the pool formed carpools."""
    server = Server()
    try:
        values, curves = run_async(class_trains(server.url, values))
        for v, curve in zip(values, curves):
            config = config_of(v)
            assert config.model == model and config.shuffle == shuffled
            assert curve == [r.valid_acc for r in train(config, data)], f"{link_query(v)}: not the engine's run"
        carpools, runs = carpools_formed(server)
        assert carpools >= 1 and runs >= 2
        assert "Traceback" not in server.log_text()
    finally:
        server.cleanup()


@pytest.mark.slow
def test_a_mixed_class_gets_its_own_numbers_from_carpools(data):
    server = Server()
    try:
        values, curves = run_async(class_trains(server.url, [student_values(i, seed=1000 + i, epochs=EPOCHS)
                                                             for i in range(STUDENTS)]))
        for v, curve in zip(values, curves):
            _, alone = engine_alone(config_of(v), data)
            assert curve == [r.valid_acc for r in alone], f"{link_query(v)}: not the engine's run"
        carpools, runs = carpools_formed(server)
        assert carpools >= 1 and runs >= 2
        assert "Traceback" not in server.log_text()
    finally:
        server.cleanup()


@pytest.mark.slow
def test_ten_digit_runs_of_one_seed_share_carpools():
    """The ten-digit preset shuffles, so runs share a block when they share a seed (the default one here) and an
    epoch: six students, each their own learning rate and init std, each with the engine's own run. Six runs on two
    workers: four wait together at their first epoch (a shuffled run joins only a block at its own epoch)."""
    values = [{**DEFAULTS, **PRESETS["ten_digits"].values, "epochs": 3, "lr": (0.1, 0.3, 1.0)[i % 3],
               "init_std": (1.0, 0.5)[i // 3]} for i in range(6)]
    one_model_rides_carpools(values, load_digits(pair="all"), "softmax", shuffled=True)


@pytest.mark.slow
def test_two_layer_runs_share_carpools(data):
    """The two-layer preset does not shuffle, so its runs share a block whatever their seeds: eight students, each
    their own seed, learning rate and init std, each with the engine's own run (thirty rows and an output row a run
    in the block; a row shifted by another's leaving would show in the curves)."""
    values = [{**DEFAULTS, **PRESETS["two_layer"].values, "epochs": 8 + i % 3, "seed": 50 + i,
               "lr": (0.1, 0.3, 1.0)[i % 3], "init_std": (1.0, 0.5)[i // 4]} for i in range(8)]  # the slider's rates
    one_model_rides_carpools(values, data, "two_layer", shuffled=False)
