"""What every training worker needs, imported once by the training pool's fork server before it forks any worker
(digitviz.forking): the workers' code, the carpool kernel compiled or loaded from numba's cache, and the lesson's
digits. Not torch: the kernel's models train without it, and a worker imports it only for a task that needs it
(digitviz.workers), so a cold start's workers are ready about 2 s of CPU sooner.

It is done in a thread of its own at the lowest CPU priority (Linux sets a nice value per thread). At a cold start
these seconds of work run beside the page server's own imports and the first visitor's page, on the same cores, and
those should come first; the fork server's own thread, which forks the workers (they inherit its priority), keeps
the normal one."""
import os
import sys
import threading


def _preload():
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    from digitviz import workers
    from digitviz.carpool import warm_up
    try:
        warm_up()
        workers.preload_lesson_data()
    except Exception:  # noqa: BLE001 (a fork server that fails its preload would start no worker at all)
        workers.log.exception("the fork server could not warm the carpool kernel up, or load the lesson's digits; "
                              "each worker will")


_thread = threading.Thread(target=_preload, name="digitviz-preload")
_thread.start()
_thread.join()
