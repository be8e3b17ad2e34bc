"""A learning-rate sweep: the same settings trained at every learning rate of the slider's scale, one run each.

Each rate is an ordinary Run (digitviz.runs), appended to the session's history, so any point of the sweep's
U-curve can be opened in Compare runs. The sweep's runs share everything but the rate, so they see the same batches
in the same order: a short sweep (the linear model's) trains as one carpool (digitviz.carpool), in one worker at
one turn, each run with the same numbers as alone. A longer one (the two-layer net's: ten seconds of a worker at
the lesson's 30 epochs; the ten-digit model's) trains one run after another, in turns with the class like any run,
because nothing can cut a worker's one turn short. Nothing here imports Streamlit.
"""
import contextlib
import dataclasses
import math

from digitviz import runs
from digitviz.blocks import block_rows, carpool_key
from digitviz.settings import LEARNING_RATES, nearest
from digitviz.workers import TrainingError, Waiting

# What a sweep should take, for its place in the workers' line: a student-epoch of the lesson's pair in a carpool of
# 12 costs about 3 ms here (benchmarks/bench_engine.py), 12,396 images: a quarter of a microsecond an image.
SECONDS_PER_IMAGE_EPOCH = 2.5e-7
SWEEP_TURN_SECONDS = 2.0  # a sweep that should take longer than this trains run by run, in turns


def sweep_configs(config, train_size, rates=LEARNING_RATES):
    """(configs, note): one config per rate; epochs capped so the whole sweep costs what one capped run may."""
    epochs = min(config.epochs, max(1, runs.MAX_SAMPLE_EPOCHS // (train_size * len(rates))))
    note = "" if epochs == config.epochs else (f"Each run of the sweep trains {epochs} epochs (not {config.epochs}), "
                                               "so that the whole sweep costs one run's share of the server.")
    return [dataclasses.replace(config, lr=float(lr), epochs=epochs) for lr in rates], note


def lr_sweep(configs, digits, history, trainer, train_size, done=None, waiting=None, session=None):
    """Train each config to its end as a Run appended to `history`, through the server's way in to training
    (digitviz.training); returns the runs. A short sweep is one carpool, computed at one turn; a long one, or one of
    a model with no block form, trains its runs one after another, `done(run)` after each. `waiting(Waiting)` while
    the sweep waits its turn (the page's chance to say so, and to be stopped). `session`: whose share of the workers
    it draws on. Raises TrainingError (its message is for the student) if the carpool could not be trained."""
    rows = block_rows(configs[0])  # the softmax model's ten rows of weights cost ten times one
    guess = sum(c.epochs for c in configs) * train_size * rows * SECONDS_PER_IMAGE_EPOCH
    if carpool_key(configs[0]) is None or guess > SWEEP_TURN_SECONDS:
        return _one_by_one(configs, digits, history, trainer, done, waiting, session)
    trained = trainer.call(sweep_records, digits, {"configs": configs}, guess=guess, waiting=waiting)
    swept = []
    for config, records in zip(configs, trained):
        run = runs.start_run(history, config, digits)
        token = run.claim()
        for record in records:
            run.add(record, token)
        run.finish()
        swept.append(run)
    return swept


def sweep_records(configs, data):
    """Each config's records, all trained as one carpool (in a worker: digitviz.training.Trainer.call)."""
    from digitviz.carpool import train_carpool  # the kernel (numba): a worker's, not the page server's
    trained = [[] for _ in configs]
    for i, record in train_carpool(configs, data):
        trained[i].append(record)
    return trained


def _one_by_one(configs, digits, history, trainer, done, waiting, session):
    """A sweep too long for one turn, or of a model with no carpool: one run after another, each in line like any
    run."""
    swept = []
    for config in configs:
        run = runs.start_run(history, config, digits)
        token = run.claim()
        try:
            with contextlib.closing(trainer.records(run, config, session)) as records:  # stopped: let go at once
                for record in records:
                    if isinstance(record, Waiting):  # the server's turns: this sweep waits like any run
                        if waiting:
                            waiting(record)
                    else:
                        run.add(record, token)
        except TrainingError as e:  # a worker lost or out of time: the point shows what it reached, and why
            run.stopped(str(e))
            if not run.records:
                history.remove(run)
                continue
        except BaseException:  # the page stopped the sweep (a click, a closed tab): no empty run is left behind
            run.interrupt("The learning-rate sweep was stopped.")
            if not run.records:
                history.remove(run)
            raise
        else:
            run.finish()
        swept.append(run)
        if done:
            done(run)
    return swept


def final_accuracy(run):
    """The run's last validation accuracy; None where it diverged into numbers that are not numbers."""
    acc = run.last.valid_acc
    return acc if math.isfinite(acc) else None


def snapped(lr, rates=LEARNING_RATES):
    """The slider's rate nearest to `lr`, measured on its log scale."""
    return nearest(lr, rates, log=True)[0]
