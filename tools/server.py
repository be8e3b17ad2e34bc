"""The real server as the tests, benchmarks and scripts start it: `streamlit run streamlit_app.py` on a free
loopback port, with a throwaway data folder."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path

from tools import ROOT, free_port
from tools.student import http_get


def production_env():
    """This environment, less the tests' switch to in-thread training: a real server trains as it would in use,
    with malloc's arenas capped as the README's command and the Dockerfile run it."""
    env = {k: v for k, v in os.environ.items() if k != "DIGITVIZ_TRAINING_PROCESSES"}
    return {"MALLOC_ARENA_MAX": "2", **env}


def streamlit_command(port, *extra_args):
    """The command line of one loopback server on `port`, as every test, benchmark and script starts it."""
    return [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false", *extra_args]


def healthy(url, timeout=2):
    try:
        return http_get(f"{url}/_stcore/health", timeout=timeout)[2].strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


# How a server ends on SIGTERM (docker stop, systemd) after its graceful shutdown: uvicorn, which serves the st.App in
# streamlit_app.py, raises the signal again with its default action once it has shut down (since uvicorn 0.29), so
# that a supervisor sees what ended it: exit status -SIGTERM (143 in a shell), never an abort's -6.
SIGTERM_EXIT_CODES = (0, -signal.SIGTERM)


class Server:
    """`streamlit run streamlit_app.py` on a free loopback port, as the tests start it, with its own data
    folder (so the class board's SQLite file is a throwaway one) and its output in a log file; by default it is
    returned once it has got ready for a class (its workers started, the shared data made).

        with Server(extra_args=["--server.maxMessageSize", "2"]) as server:
            ... server.url, server.pid, server.log_text()
    """

    def __init__(self, extra_args=(), timeout=90, attempts=3, extra_env=None, ready_for_class=True):
        self.data_dir = tempfile.TemporaryDirectory(prefix="digitviz-students-")
        for attempt in range(attempts):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.log = open(Path(self.data_dir.name) / f"server-{attempt}.log", "w+")
            self.cmd = streamlit_command(self.port, *extra_args)
            env = {**production_env(), **(extra_env or {}), "PYTHONUNBUFFERED": "1",
                   "DIGITVIZ_DATA_DIR": self.data_dir.name}
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if healthy(self.url):
                    if ready_for_class:  # as a teacher's server is before the class: tests measure a class, not
                        self._ready_or_stop(timeout)  # the server's own start (imports, workers forking)
                    return
                time.sleep(0.2)
            text, exited = self.log_text(), self.proc.poll() is not None
            self.stop()
            if exited and "is not available" in text and attempt + 1 < attempts:
                continue  # another process took the port between free_port() and the bind
            why = f"exited with code {self.proc.returncode}" if exited else f"not healthy after {timeout} s"
            raise RuntimeError(f"`{' '.join(self.cmd)}` {why}. Its log:\n{text}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def _ready_or_stop(self, timeout):
        try:
            self.wait_ready_for_class(timeout)
        except RuntimeError:
            self.cleanup()
            raise

    def wait_ready_for_class(self, timeout=60):
        """Wait until the server has made what a class needs at start (its log says so: digitviz.ui.resources.
        get_ready), as it has long before a class when the teacher starts it; seconds waited, or RuntimeError."""
        began = time.monotonic()
        while "ready for a class in" not in (log := self.log_text()):
            if time.monotonic() - began > timeout or not self.alive() or "getting ready for a class" in log:
                raise RuntimeError(f"the server did not get ready for a class in {timeout} s:\n{log}")
            time.sleep(0.1)
        return time.monotonic() - began

    def stop(self):
        """Stop the server (SIGTERM, then SIGKILL after 10 s); its log stays readable until cleanup()."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def cleanup(self):
        self.stop()
        self.log.close()
        self.data_dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
