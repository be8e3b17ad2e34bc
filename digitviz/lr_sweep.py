"""A learning-rate sweep: the same settings trained at every learning rate of the slider's scale, one run each.

Each rate is an ordinary Run (digitviz.runs), appended to the session's history, so any point of the sweep's
U-curve can be opened in Compare runs. Nothing here imports Streamlit.
"""
import contextlib
import dataclasses
import math

from digitviz import runs
from digitviz.settings import LEARNING_RATES, nearest
from digitviz.workers import TrainingError, Waiting


def sweep_configs(config, train_size, rates=LEARNING_RATES):
    """(configs, note): one config per rate; epochs capped so the whole sweep costs what one capped run may."""
    epochs = min(config.epochs, max(1, runs.MAX_SAMPLE_EPOCHS // (train_size * len(rates))))
    note = "" if epochs == config.epochs else (f"Each run of the sweep trains {epochs} epochs (not {config.epochs}), "
                                               "so that the whole sweep costs one run's share of the server.")
    return [dataclasses.replace(config, lr=float(lr), epochs=epochs) for lr in rates], note


def lr_sweep(configs, digits, history, trainer, done=None, waiting=None, session=None):
    """Train each config to its end as a Run appended to `history`, through the server's way in to training
    (digitviz.training: a sweep someone already ran is read from the run cache); `done(run)` after each, and
    `waiting(Waiting)` while a run waits its turn (the page's chance to say so, and to be stopped). `session`: whose
    share of the workers it draws on. Returns the runs."""
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
