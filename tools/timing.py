"""The engine alone, run as the page's training runs, for benchmarks and tests that compare against it."""
import threading
import time

import torch

from digitviz import train


def engine_alone(config, data):
    """(seconds, records) of the engine alone, on a fresh thread with one torch thread, as the page trains."""
    out = {}

    def work():
        torch.set_num_threads(1)
        began = time.perf_counter()
        out["records"] = list(train(config, data))
        out["seconds"] = time.perf_counter() - began

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return out["seconds"], out["records"]
