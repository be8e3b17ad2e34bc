"""Watching processes from a test: whether one has ended."""
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
