"""Watching processes from a test (whether one has ended, which are a server's training workers), and holding a
training worker for as long as it needs."""
import os
import time

import psutil


def gone(pid, timeout):
    """True once the process `pid` has ended (a zombie counts as ended) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def training_workers(server_pid):
    """The pids of a server's training workers: its descendants that name themselves so (digitviz.workers forks them
    from multiprocessing's fork server, whose command line they share)."""
    from digitviz.workers import WORKER_NAME
    workers = []
    for process in psutil.Process(server_pid).children(recursive=True):
        try:
            if process.name() == WORKER_NAME:
                workers.append(process.pid)
        except psutil.Error:  # ended meanwhile
            pass
    return workers


def hold_until(path, limit=60.0, data=None):
    """Keep the process computing until the file `path` exists (at most `limit` seconds): run in a training worker
    by `pool.call`, it holds that worker for as long as a test needs, on any machine. It spins rather than sleeps
    because the pool takes a worker that uses no CPU for its chunk as stuck. `data` is what pool.call passes."""
    deadline = time.monotonic() + limit
    spins = 0
    while not os.path.exists(path) and time.monotonic() < deadline:
        spins += sum(range(10_000))  # some arithmetic between looks at the file
    return os.path.exists(path)
