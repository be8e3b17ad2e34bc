"""digitviz: watch a digit classifier learn. The engine behind the page, usable from any script.

    from digitviz import load_digits, TrainConfig, train
    data = load_digits()                       # the lesson's 3s and 7s, bundled: no download
    for record in train(TrainConfig(epochs=30), data):
        print(record.epoch, record.valid_acc)
"""
import importlib

# What `from digitviz import ...` offers, and where each lives. Imported when first asked for (PEP 562): the engine
# brings torch (2-3 s), and a process that needs one small module (the server starting the workers' fork server
# before anything else, digitviz.forking) must not wait for it.
_EXPORTS = {"load_digits": "digitviz.data", "DigitData": "digitviz.data", "DataError": "digitviz.data",
            "pixel_similarity": "digitviz.baselines", "TrainConfig": "digitviz.config",
            "EpochRecord": "digitviz.records", "train": "digitviz.engine", "lr_find": "digitviz.lr_finder"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'digitviz' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
