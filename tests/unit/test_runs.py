"""A run's life without a page: start, train, interrupt, step, resume, finish; caps; which model classifies."""
import dataclasses
import json
from types import SimpleNamespace

import pytest

from digitviz import TrainConfig, train
from digitviz.runs import (
    KEPT_RUNS,
    MAX_SAMPLE_EPOCHS,
    RunError,
    classifier,
    fitted_config,
    records,
    restore,
    saved,
    start_run,
)


def trained(run, config, data):
    token = run.claim()
    for record in records(run, config, data):
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
    for record in records(run, dataclasses.replace(config, epochs=2), data):
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


def test_saved_runs_train_again_to_the_same_records(data):
    config = TrainConfig(epochs=2)
    runs = []
    first = trained(start_run(runs, config, (3, 7)), config, data)
    trained(first, first.more("resume", lr=0.1, epochs=3), data)  # epochs 3-5 at another rate
    diverged = trained(start_run(runs, TrainConfig(lr=1000.0, epochs=5), (3, 7)), TrainConfig(lr=1000.0, epochs=5),
                       data)
    again = restore(saved(runs), lambda digits: data)
    assert [r.number for r in again] == [1, 2] and again[1].status == "diverged" == diverged.status
    assert again[0].lr_changes == [(3, 0.1)] and again[0].target == 5 and again[0].status == "done"
    for old, new in zip(runs, again):
        assert [(r.epoch, r.valid_acc, r.valid_loss) for r in old.records] == \
            [(r.epoch, r.valid_acc, r.valid_loss) for r in new.records]


@pytest.mark.parametrize("text", ["", "not json", "{}", "[1, 2]", '[{"number": 1}]',
                                  '[{"number": 1, "settings": {"lr": -1, "digits": [3, 7]}, "epochs": 1, "target": 1}]',
                                  '[{"number": 1, "settings": {"digits": [3, 3]}, "epochs": 1, "target": 1}]',
                                  '[{"number": 1, "settings": {"digits": [3, 7]}, "epochs": 99999, "target": 99999}]',
                                  '[{"number": 1, "settings": {"digits": [3, 7], "lr_changes": [[9, 1]]}, '
                                  '"epochs": 2, "target": 2}]'])
def test_a_crafted_memory_restores_nothing_and_raises_nothing(text, data):
    from digitviz import load_digits
    assert restore(text, lambda digits: data if digits == (3, 7) else load_digits(digits)) == []


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


def test_a_memory_too_costly_to_replay_is_not_trained(monkeypatch):
    """The up-front cost cap: epochs x training images, checked before a single epoch trains. A crafted memory
    of 10,000 epochs of all ten digits would hold the server for hours; the cap itself still restores."""
    from digitviz import runs as runs_module
    trained_epochs = []
    monkeypatch.setattr(runs_module, "train", lambda config, data, start=None: trained_epochs.append(config.epochs)
                        or iter(()))
    ten = SimpleNamespace(train_x=range(60_000))  # all ten digits' training set, as restore measures it

    def memory(epochs):
        return json.dumps([{"number": 1, "settings": {"digits": list(range(10)), "epochs": epochs}, "epochs": epochs,
                            "target": epochs}])
    cap = MAX_SAMPLE_EPOCHS // 60_000
    assert restore(memory(10_000), lambda digits: ten) == [] and restore(memory(cap + 1), lambda digits: ten) == []
    assert trained_epochs == []
    restore(memory(cap), lambda digits: ten)
    assert trained_epochs == [cap]
