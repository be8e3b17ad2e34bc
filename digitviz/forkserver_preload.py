"""What every training worker needs, imported once by the training pool's fork server before it forks any worker
(digitviz.forking): torch, set to one thread before any computation (so that no OpenMP thread pool
exists to be lost in a fork), the workers' code, the carpool kernel compiled or loaded from numba's cache, and the
lesson's digits."""
import torch

torch.set_num_threads(1)

from digitviz import workers  # noqa: E402 (after the thread setting)
from digitviz.carpool import warm_up  # noqa: E402

try:
    warm_up()
    workers.preload_lesson_data()
except Exception:  # noqa: BLE001 (a fork server that fails its preload would start no worker at all; each warms up)
    workers.log.exception("the fork server could not warm the carpool kernel up, or load the lesson's digits; each "
                          "worker will")
