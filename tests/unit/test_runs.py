"""A run's life without a page: start, train, interrupt, step, resume, finish; caps; which model classifies."""
import dataclasses
import json

import pytest

from digitviz import TrainConfig, train
from digitviz.runs import (
    FORGOTTEN,
    KEPT_RUNS,
    MAX_SAMPLE_EPOCHS,
    RunError,
    classifier,
    fitted_config,
    restore,
    saved,
    start_run,
)
from digitviz.training import Trainer


def trained(run, config, data):
    token = run.claim()
    for record in Trainer.of(data).records(run, config):
        assert run.add(record, token)
    run.finish()
    return run


def test_runs_are_numbered_in_the_sessions_history():
    runs = []
    first, second = start_run(runs, TrainConfig(epochs=3), (3, 7)), start_run(runs, TrainConfig(), (3, 7))
    assert (first.number, second.number) == (1, 2) and runs == [first, second]
    assert first.target == 3 and first.status == "running" and first.last is None


def test_a_finished_run_equals_the_engines_records(data):
    config = TrainConfig(epochs=3)
    run = trained(start_run([], config, (3, 7)), config, data)
    assert run.status == "done"
    assert [r.valid_acc for r in run.records] == [r.valid_acc for r in train(config, data)]


def test_step_then_resume_continue_the_same_run_at_a_new_rate(data):
    config = TrainConfig(epochs=2)
    run = trained(start_run([], config, (3, 7)), config, data)
    step = run.more("step", lr=0.1, epochs=2)
    assert (step.epochs, step.lr, run.target, run.status) == (1, 0.1, 3, "running")
    trained(run, step, data)
    assert [r.epoch for r in run.records] == [1, 2, 3] and run.status == "done"
    resume = run.more("resume", lr=1.0, epochs=4)
    assert resume.epochs == 4 and run.target == 7  # past its target, Resume trains the epochs setting again


def test_an_interrupted_run_is_paused_and_resumes_to_its_target(data):
    config = TrainConfig(epochs=5)
    run = start_run([], config, (3, 7))
    token = run.claim()
    for record in Trainer.of(data).records(run, dataclasses.replace(config, epochs=2)):
        run.add(record, token)
    run.interrupt("a setting changed")
    assert run.status == "paused" and run.owner is None and run.paused_because == "a setting changed"
    assert not run.add(run.last, token), "a script run that lost the run can't append to it"
    assert run.more("resume", lr=0.1, epochs=5).epochs == 3 and run.paused_because == ""
    assert run.lr_changes == [(3, 0.1)] and run.lr == 0.1 and run.current_config.lr == 0.1
    assert run.settings()["lr_changes"] == [[3, 0.1]] and run.settings()["lr"] == 1.0


def test_a_diverged_run_refuses_to_continue(data):
    config = TrainConfig(epochs=5, lr=1000.0)
    run = trained(start_run([], config, (3, 7)), config, data)
    assert run.status == "diverged"
    with pytest.raises(RunError, match="diverged"):
        run.more("resume", lr=1.0, epochs=5)


def test_fitted_config_caps_batch_and_cost_with_notes():
    config, notes = fitted_config(TrainConfig(batch_size=20_000, epochs=1000), 12_396)
    assert config.batch_size == 12_396 and config.epochs == 1000 and len(notes) == 1
    config, notes = fitted_config(TrainConfig(epochs=1000), 60_000)
    assert config.epochs == MAX_SAMPLE_EPOCHS // 60_000 == 206 and "Epochs capped at 206" in notes[0]
    assert fitted_config(TrainConfig(), 12_396) == (TrainConfig(), [])


def test_classifier_prefers_a_loaded_model_then_the_run(data):
    config = TrainConfig(epochs=1)
    run = trained(start_run([], config, (3, 7)), config, data)
    loaded = ({"weights": 0}, (3, 7), "mine.npz")
    assert classifier(run, (3, 7), loaded) == (loaded[0], "the model loaded from mine.npz")
    params, whose = classifier(run, (3, 7), ({}, (1, 8), "other.npz"))
    assert params is run.last.params and "run 1, 1 epochs" in whose
    assert classifier(run, (1, 8)) is None and classifier(None, (3, 7)) is None


def replayed(run, data):
    """A remembered run trained again as the page does it: stretch by stretch (Run.replay), in this thread."""
    while (config := run.replay()) is not None:
        trained(run, config, data)
    return run


def pair_size(digits):
    return 12_396 if tuple(digits) == (3, 7) else 60_000 if len(digits) == 10 else 11_263


def test_saved_runs_come_back_untrained_then_train_again_to_the_same_records(data):
    config = TrainConfig(epochs=4)
    runs = []
    first = trained(start_run(runs, config, (3, 7)), config, data)
    trained(first, first.more("resume", lr=0.1, epochs=3), data)  # epochs 5-7 at another rate
    trained(first, first.more("step", lr=3.0, epochs=3), data)  # epoch 8 at a third
    diverged = trained(start_run(runs, TrainConfig(lr=1000.0, epochs=5), (3, 7)), TrainConfig(lr=1000.0, epochs=5),
                       data)
    stopped = start_run(runs, TrainConfig(epochs=6, seed=2), (3, 7))
    trained(stopped, dataclasses.replace(stopped.config, epochs=2), data)  # Stop pressed at epoch 2 of 6
    again, note = restore(saved(runs), pair_size)
    assert note == "" and [r.number for r in again] == [1, 2, 3]
    assert all(r.status == "remembered" and r.records == [] and r.restoring for r in again)  # nothing trained here
    assert saved(again) == saved(runs)  # a refresh before they are trained again forgets nothing
    for run in again:
        replayed(run, data)
    assert again[0].lr_changes == [(5, 0.1), (8, 3.0)] and again[0].target == 8 and again[0].status == "done"
    assert again[1].status == "diverged" == diverged.status
    assert again[2].status == "paused" and again[2].last.epoch == 2 and again[2].target == 6
    for old, new in zip(runs, again):
        assert [(r.epoch, r.valid_acc, r.valid_loss) for r in old.records] == \
            [(r.epoch, r.valid_acc, r.valid_loss) for r in new.records]


def test_a_remembered_run_replays_its_first_stretch_with_its_own_settings():
    """The first stretch starts at epoch 1 at the run's own rate, so the page can take it from the run cache."""
    text = json.dumps([{"number": 4, "settings": {**SETTINGS, "lr_changes": [[11, 0.1]]}, "epochs": 15,
                        "target": 30}])
    (run,), _ = restore(text, pair_size)
    assert run.replay() == dataclasses.replace(run.config, epochs=10) and run.config.epochs == 30


def test_a_batch_capped_to_the_training_set_is_a_run_the_page_trains():
    settings = {**SETTINGS, "batch_size": 11_263, "digits": [4, 5]}
    runs, note = restore(json.dumps([{"number": 1, "settings": settings, "epochs": 3, "target": 3}]), pair_size)
    assert note == "" and runs[0].config.batch_size == 11_263 and runs[0].digits == (4, 5)
    ten = {**SETTINGS, "digits": list(range(10)), "loss": "cross_entropy", "model": "softmax", "shuffle": True,
           "epochs": 10}
    runs, note = restore(json.dumps([{"number": 1, "settings": ten, "epochs": 10, "target": 10}]), pair_size)
    assert note == "" and runs[0].config.model == "softmax"


SETTINGS = {**dataclasses.asdict(TrainConfig()), "digits": [3, 7]}  # as runs.saved writes the default run's


def entry(settings=None, epochs=3, target=3, **changes):
    return {"number": 1, "settings": {**SETTINGS, **(settings or {})}, "epochs": epochs, "target": target, **changes}


def nested(depth):
    return "[" * depth + "]" * depth


CRAFTED = {
    "not json": "not json",
    "not a list": "{}",
    "numbers": "[1, 2]",
    "deep nesting": nested(100_000),
    "deep nesting under the size cap": nested(20_000),
    "nesting in a value": json.dumps([entry({"lr": json.loads(nested(500))})]),
    "too long": json.dumps([entry()] * 1000),
    "a float that overflows": json.dumps([entry({"lr": 1e308})]),
    "an init std that overflows": json.dumps([entry({"init_std": 1e308})]),
    "a seed that overflows": json.dumps([entry({"seed": 1e308})]),
    "infinity": json.dumps([entry({"lr": float("inf")})]),
    "a huge whole number": json.dumps([entry({"seed": 10**400})]),
    "a negative rate": json.dumps([entry({"lr": -1.0})]),
    "a rate between the slider's": json.dumps([entry({"lr": 0.5})]),
    "an init std between steps": json.dumps([entry({"init_std": 0.25})]),
    "a string for a number": json.dumps([entry({"lr": "1"})]),
    "a number for a switch": json.dumps([entry({"shuffle": 1})]),
    "a bool for a number": json.dumps([entry({"seed": True})]),
    "a list for a number": json.dumps([entry({"epochs": [30]})]),
    "an unknown model": json.dumps([entry({"model": "evil"})]),
    "an unknown setting": json.dumps([entry({"evil": 1})]),
    "an unknown key": json.dumps([entry(extra=1)]),
    "a missing setting": json.dumps([{**entry(), "settings": {"digits": [3, 7]}}]),
    "the same digit twice": json.dumps([entry({"digits": [3, 3]})]),
    "a digit out of range": json.dumps([entry({"digits": [3, 10]})]),
    "digits as strings": json.dumps([entry({"digits": ["3", "7"]})]),
    "too many epochs": json.dumps([entry(epochs=99_999, target=99_999)]),
    "more epochs than the cost cap": json.dumps([entry({"epochs": 1000}, epochs=2000, target=2000)]),
    "epochs past the target": json.dumps([entry(epochs=5, target=3)]),
    "a rate change out of range": json.dumps([entry({"lr_changes": [[9, 1.0]]}, epochs=2, target=2)]),
    "rate changes out of order": json.dumps([entry({"lr_changes": [[3, 0.1], [2, 1.0]]}, epochs=5, target=5)]),
    "a huge list of rate changes": json.dumps([entry({"lr_changes": [[2, 0.1]] * 500}, epochs=5, target=5)]),
    "a rate change off the slider": json.dumps([entry({"lr_changes": [[2, 1e308]]}, epochs=5, target=5)]),
}


@pytest.mark.parametrize("name", CRAFTED)
def test_a_crafted_memory_restores_nothing_raises_nothing_and_says_so(name):
    runs, note = restore(CRAFTED[name], pair_size)
    assert runs == [] and note == FORGOTTEN.format("All")


def test_only_the_crafted_runs_are_left_out_and_the_sentence_counts_them():
    text = json.dumps([entry({"lr": 1e308}), {**entry(), "number": 2}, {**entry({"seed": "x"}), "number": 3}])
    runs, note = restore(text, pair_size)
    assert [r.number for r in runs] == [2] and note == FORGOTTEN.format(2)


def test_more_runs_than_a_session_keeps_brings_back_the_newest():
    text = json.dumps([{**entry(), "number": n} for n in range(1, KEPT_RUNS + 6)])
    runs, note = restore(text, pair_size)
    assert [r.number for r in runs] == list(range(6, KEPT_RUNS + 6)) and note == FORGOTTEN.format(5)


def test_an_empty_memory_is_no_news():
    assert restore("", pair_size) == ([], "") and restore(None, pair_size) == ([], "")
    assert restore("[]", pair_size) == ([], "")


def test_a_session_keeps_only_its_newest_runs():
    runs = []
    for _ in range(KEPT_RUNS + 5):
        start_run(runs, TrainConfig(), (3, 7))
    assert len(runs) == KEPT_RUNS and runs[-1].number == KEPT_RUNS + 5


def test_a_diverged_run_leaves_drawings_to_the_default_model(data):
    """A diverged run's weights are saturated nonsense: the page's default model classifies instead."""
    config = TrainConfig(lr=1000.0, epochs=5)
    run = trained(start_run([], config, (3, 7)), config, data)
    assert run.last.diverged and classifier(run, (3, 7)) is None


def test_a_memory_too_costly_to_replay_is_not_kept():
    """The up-front cost cap (epochs x training images) holds for a remembered run exactly at its edge: all ten
    digits trained to the cap come back to train again; one epoch more (a Resume past its epochs setting, which the
    settings' own cap can't see) is dropped before anything trains."""
    cap = MAX_SAMPLE_EPOCHS // 60_000
    ten = {"digits": list(range(10)), "shuffle": True, "model": "softmax", "loss": "cross_entropy", "epochs": cap}

    def memory(trained):
        return json.dumps([entry(ten, epochs=trained, target=trained)])
    (run,), note = restore(memory(cap), pair_size)
    assert run.target == cap and note == ""
    assert restore(memory(cap + 1), pair_size) == ([], FORGOTTEN.format("All"))
