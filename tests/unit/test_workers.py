"""Training in worker processes gives exactly the records of training in one go."""
import dataclasses
import pickle

import numpy as np
import pytest
import torch

from digitviz import TrainConfig, train
from digitviz.workers import TrainingPool

FIELDS = ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "diverged")


@pytest.fixture(scope="module")
def pool():
    pool = TrainingPool(2)
    yield pool
    pool.close()


@pytest.fixture(autouse=True)
def one_thread():
    """Workers train on one thread; float sums depend on how the work is split, so compare like with like."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_records_survive_pickling_frozen(data):
    record = next(train(TrainConfig(epochs=1), data))
    back = pickle.loads(pickle.dumps(record))
    assert [getattr(back, f) for f in FIELDS] == [getattr(record, f) for f in FIELDS]
    np.testing.assert_array_equal(back.weights, record.weights)
    with pytest.raises(ValueError):
        back.params["weights"][0] = 1.0
    with pytest.raises(TypeError):
        back.params["weights"] = None


@pytest.mark.parametrize("config", [TrainConfig(epochs=12, shuffle=True, seed=3),
                                    TrainConfig(epochs=6, model="two_layer", lr=0.5)])
def test_chunked_in_workers_equals_one_go(pool, data, config):
    here = list(train(config, data))
    there = list(pool.train(config, (3, 7), chunk_seconds=0.005))  # tiny chunks: many hand-overs
    assert [[getattr(r, f) for f in FIELDS] for r in there] == [[getattr(r, f) for f in FIELDS] for r in here]
    for a, b in zip(here, there):
        np.testing.assert_array_equal(a.params["weights"], b.params["weights"])
    assert there[-1].seconds > 0


def test_a_continued_run_and_a_diverging_one(pool, data):
    first = list(train(TrainConfig(epochs=3), data))
    more = list(pool.train(dataclasses.replace(TrainConfig(), epochs=2), (3, 7), start=first[-1]))
    assert [r.epoch for r in more] == [4, 5]
    assert [r.valid_acc for r in more] == [r.valid_acc for r in list(train(TrainConfig(epochs=5), data))[3:]]
    blown = list(pool.train(TrainConfig(lr=1000.0, epochs=50), (3, 7)))
    assert len(blown) == 2 and "gradient is zero" in blown[-1].diverged
