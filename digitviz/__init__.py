"""digitviz: watch a digit classifier learn. The engine behind the page, usable from any script.

    from digitviz import load_digits, TrainConfig, train
    data = load_digits()                       # the lesson's 3s and 7s, bundled: no download
    for record in train(TrainConfig(epochs=30), data):
        print(record.epoch, record.valid_acc)
"""
from digitviz.baselines import pixel_similarity
from digitviz.config import TrainConfig
from digitviz.data import DataError, DigitData, load_digits
from digitviz.engine import train
from digitviz.lr_finder import lr_find
from digitviz.records import EpochRecord

__all__ = ["load_digits", "DigitData", "DataError", "pixel_similarity", "TrainConfig", "EpochRecord", "train",
           "lr_find"]
