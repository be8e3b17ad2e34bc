"""digitviz's lr_find against fastai's own Learner.lr_find on the fastai model from the same weights."""
import math

import pytest
import torch

from digitviz import TrainConfig, lr_find
from digitviz.figures_sgd import lr_find_figure
from digitviz.lr_finder import SUGGESTIONS, LRFind, trimmed
from digitviz.models import initial_params

CONFIGS = {"lesson": TrainConfig(), "slide fails": TrainConfig(seed=1), "small init": TrainConfig(seed=2, init_std=0.1)}


def fastais_lr_find(config, data, tmp_path):
    """(lrs, losses, {name: suggestion or the exception}) from fastai's Learner.lr_find, one suggestion at a time."""
    from fastai.callback import schedule

    from digitviz.fastai_model import linear_learner
    learn, _ = linear_learner(config, data, initial_params(config))
    learn.path = tmp_path  # fastai saves the weights there for the finder and loads them back after
    with learn.no_bar():
        learn.lr_find(show_plot=False, suggest_funcs=None)
    lrs, losses = learn.recorder.lrs, [float(v) for v in learn.recorder.losses]
    suggestions = {}
    for name in SUGGESTIONS:  # through lr_find itself, so its trimming is fastai's, not ours
        learn, _ = linear_learner(config, data, initial_params(config))
        learn.path = tmp_path
        try:
            with learn.no_bar():
                suggestions[name] = learn.lr_find(show_plot=False, suggest_funcs=(getattr(schedule, name),))[0]
        except Exception as e:  # noqa: BLE001
            suggestions[name] = e
    return lrs, losses, suggestions, learn


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_lr_find_is_fastais(data, tmp_path, name):
    config = CONFIGS[name]
    ours = lr_find(config, data)
    lrs, losses, suggestions, learn = fastais_lr_find(config, data, tmp_path)
    assert len(ours.lrs) == len(lrs)
    assert ours.lrs == pytest.approx(lrs, rel=1e-12)
    assert ours.losses == pytest.approx(losses, abs=2e-5)
    for key in SUGGESTIONS:
        if isinstance(suggestions[key], Exception):
            assert ours.suggestions[key] is None and type(suggestions[key]).__name__ in ours.failures[key]
        else:
            assert ours.suggestions[key] == pytest.approx(suggestions[key], rel=1e-6), key
    start = initial_params(config)  # fastai put its weights back; ours never moved
    torch.testing.assert_close(learn.model.weight.detach().T, start["weights"])


def test_the_lessons_unshuffled_batches_stop_the_finder_early(data):
    """All 3s first: the loss jumps when the 7s arrive, whatever the learning rate, and the finder gives up."""
    found = lr_find(TrainConfig(), data)
    assert found.stopped_early and found.lrs[-1] < 1e-3
    assert found.losses[-1] > 4 * min(found.losses)
    shuffled = lr_find(TrainConfig(shuffle=True, init_std=0.1), data)
    assert len(shuffled.lrs) > len(found.lrs)


def test_the_sweep_is_fastais_schedule(data):
    found = lr_find(TrainConfig(init_std=0.1, seed=2), data)
    assert len(found.lrs) == 100 and found.lrs[0] == 1e-7
    assert math.log(found.lrs[1] / found.lrs[0]) == pytest.approx(math.log(1e8) / 100)


def test_trimming_drops_the_ends_and_everything_after_a_nan():
    lrs, _ = trimmed(list(range(100)), [1.0] * 50 + [math.nan] + [1.0] * 49)
    assert lrs[0] == 10 and len(lrs) == 40


def test_suggestions_at_one_point_share_one_label():
    """The finder's plot: two suggestions marked at the same point print one label, not two on top of each other."""
    found = LRFind(lrs=[1e-7, 1e-6, 1e-5], losses=[0.2, 0.1, 0.3], suggestions={"valley": 1e-6, "minimum": 1e-7,
                                                                                 "slide": 1e-6},
                   points={"valley": (1e-6, 0.1), "minimum": (1e-6, 0.1), "slide": (1e-5, 0.3)})
    marks = lr_find_figure(found).to_dict()["data"][1:]
    labels = {t["name"].split()[0]: (t["text"][0], t["textposition"]) for t in marks}
    assert labels == {"valley": ("valley, minimum", "top center"), "minimum": ("", "top center"),
                      "slide": ("slide", "bottom center")}  # the next label to the right goes below the curve
