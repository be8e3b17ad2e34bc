"""A class with mixed settings on a real server: every student's run is the engine's own for their settings,
bit for bit, while the server trains the runs that share a data stream as carpools (and says how many)."""
import asyncio
import re

import pytest

from digitviz.settings import config_of
from tools.classroom import link_query, student_values
from tools.server import Server
from tools.student import Student, run_async, trace
from tools.timing import engine_alone

STUDENTS = 20
EPOCHS = 30
TIMEOUT = 180


async def class_trains(url):
    """Every student opens their link, all press Train at the same moment, each waits for their run."""
    values = [student_values(i, seed=1000 + i, epochs=EPOCHS) for i in range(STUDENTS)]
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


@pytest.mark.slow
def test_a_mixed_class_gets_its_own_numbers_from_carpools(data):
    server = Server()
    try:
        values, curves = run_async(class_trains(server.url))
        for v, curve in zip(values, curves):
            _, alone = engine_alone(config_of(v), data)
            assert curve == [r.valid_acc for r in alone], f"{link_query(v)}: not the engine's run"
        server.stop()  # the pool says at its close how many carpools it formed
        said = re.search(r"(\d+) carpools formed, (\d+) runs trained in them", server.log_text())
        assert said, server.log_text()[-2000:]
        carpools, runs = map(int, said.groups())
        assert carpools >= 1 and runs >= 2
        assert "Traceback" not in server.log_text()
    finally:
        server.cleanup()
