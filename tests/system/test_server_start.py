"""The server gets ready for a class when it starts (streamlit_app.py), not at a student's first click: its training
workers run before any page is opened, and a page's script imports nothing in the processes multiprocessing starts."""
import os
import subprocess
import sys
import time

import pytest

from tools import ROOT
from tools.processes import training_workers
from tools.server import Server
from tools.student import Student, run_async

pytestmark = pytest.mark.slow


def workers_within(server, seconds):
    """The server's training workers once there are two (the pool forks them a moment after its start), or those
    there are after `seconds`."""
    deadline = time.monotonic() + seconds
    while len(pids := training_workers(server.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids


def test_the_workers_are_ready_before_any_page_is_opened():
    with Server(extra_env={"DIGITVIZ_TRAINING_PROCESSES": "2"}) as server:
        pids = workers_within(server, 30)
        assert len(pids) == 2  # nobody has opened the page yet
        # the fork server imports at the lowest priority (digitviz.forkserver_preload), in a thread of its own: the
        # workers it forks, the class's training, keep the normal one
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids] == [0, 0]
        log = server.log_text()
        assert "ready for a class in" in log and "Traceback" not in log, log

        async def first_train():
            async with Student(server.url, "epochs=3") as student:
                await student.click("train")
                await student.wait_until_finished(60)
                return student.texts()
        assert any(": done" in t for t in run_async(first_train()))
        assert len(training_workers(server.pid)) == 2  # the same ones, or replacements: never more
        # neither the page server nor its workers loaded torch: the pages are NumPy's, and the workers train the
        # lesson's runs (the default model's too) with the kernel; torch's libraries would be in their memory maps
        for pid in (server.pid, *training_workers(server.pid)):
            assert "libtorch" not in open(f"/proc/{pid}/maps").read(), pid


def test_page_py_imports_nothing_unless_streamlit_runs_it():
    """multiprocessing imports the server's __main__ (page.py, while a page runs) in every process it starts, as
    __mp_main__: it must cost them nothing."""
    probe = ("import runpy, sys; runpy.run_path('page.py', run_name='__mp_main__'); "
             "print(sorted(m for m in ('torch', 'streamlit', 'pandas', 'digitviz') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out
