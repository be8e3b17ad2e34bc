"""A student's training run and its life: start, train, stop, step, resume, finish; and which model classifies.

The page keeps its runs in the browser session's state and only calls these; nothing here imports Streamlit,
so every transition is unit-tested directly.
"""
import dataclasses
import json
from dataclasses import dataclass, field

from digitviz.config import MAX_EPOCHS, TrainConfig
from digitviz.engine import train
from digitviz.export import settings_json
from digitviz.text import plain_markdown

KEPT_RUNS = 20  # a session keeps its newest runs for comparing; older ones go (about 4 MB per 1,000-epoch run)
# A run may cost at most the lesson's pair for 1,000 epochs (~5 s of one core): one student's run must not hog a
# server that the class shares.
MAX_SAMPLE_EPOCHS = 12_396 * 1000


class RunError(Exception):
    """Why a run can't go on, in one sentence for the student."""


@dataclass(eq=False)
class Run:
    """One training run in a browser session: its settings, its records so far and where it stands."""
    number: int
    config: object  # TrainConfig
    digits: tuple
    target: int = 0  # the epoch the run is heading for: its epochs setting, or further after Resume or Step
    records: list = field(default_factory=list)
    status: str = "running"  # running | paused | done | diverged
    paused_because: str = ""  # what paused it, when it was not the student's own Stop
    lr_changes: list = field(default_factory=list)  # (epoch, lr) where Step or Resume went on at another rate
    # The script run now training this run. A click starts a new script run at once (fastReruns) while the old
    # one trains on until its next Streamlit call; the new one takes ownership, and the old one stops appending.
    owner: object = None

    @property
    def last(self):
        return self.records[-1] if self.records else None

    @property
    def lr(self):
        """The learning rate the run trains at now."""
        return self.lr_changes[-1][1] if self.lr_changes else self.config.lr

    @property
    def current_config(self):
        """The config the run trains with now: its own, at its current learning rate."""
        return dataclasses.replace(self.config, lr=self.lr)

    def settings(self):
        """The run's settings as plain values, for a post or a label: its config, digits and any rate changes."""
        return json.loads(settings_json(self.config, self.digits, self.lr_changes))

    def claim(self):
        """Make the caller the one script run that may add records; returns its token."""
        self.owner = token = object()
        return token

    def add(self, record, token):
        """Append a record if `token` still owns the run; False once a newer script run has taken it over."""
        if self.owner is not token:
            return False
        self.records.append(record)
        return True

    def interrupt(self, why):
        """A run still 'running' when the page reruns was cut off by a click: it is paused, and says why."""
        if self.status == "running":
            self.status, self.owner, self.paused_because = "paused", None, why

    def stopped(self, why):
        """The server could not go on with the run: it keeps its epochs, paused, and says why."""
        self.status, self.owner, self.paused_because = "paused", None, why

    def finish(self):
        """Where the run stands once its loop has ended."""
        self.status = "diverged" if self.last.diverged else "done" if self.last.epoch >= self.target else "paused"

    def more(self, action, lr, epochs):
        """The config for Step (one epoch) or Resume (up to the target, else `epochs` more) at learning rate `lr`."""
        if self.status == "diverged":
            raise RunError("This run diverged, so there is nothing to continue: lower the learning rate and press "
                           "**Train**.")
        done = self.last.epoch if self.last else 0
        more = 1 if action == "step" else (self.target - done if self.target > done else epochs)
        self.status, self.target, self.paused_because = "running", max(self.target, done + more), ""
        if lr != self.lr:
            self.lr_changes.append((done + 1, lr))
        return dataclasses.replace(self.config, lr=lr, epochs=more)


def start_run(runs, config, digits):
    """A fresh run, appended to the session's history for comparing; the oldest go beyond KEPT_RUNS."""
    run = Run(max((r.number for r in runs), default=0) + 1, config, digits, target=config.epochs)
    runs.append(run)
    del runs[:-KEPT_RUNS]
    return run


def saved(runs):
    """The session's runs as a few hundred bytes of JSON: settings, seeds and how far each got. The engine is
    deterministic, so that is enough to train them again after a refresh (see `restore`)."""
    return json.dumps([{"number": r.number, "settings": r.settings(), "epochs": r.last.epoch, "target": r.target}
                       for r in runs if r.records])


def restore(text, data_for):
    """The runs `saved` wrote, trained again; `data_for(digits)` gives their data. The text comes from a browser,
    so anything malformed, out of range or too costly is dropped rather than trusted."""
    try:
        entries = json.loads(text)[-KEPT_RUNS:] if text else []
    except (ValueError, TypeError, IndexError, KeyError):
        return []
    runs = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            runs.append(_replayed(entry, data_for))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return runs


def _replayed(entry, data_for):
    """One saved run, trained again epoch for epoch: each stretch at the rate it had."""
    settings = dict(entry["settings"])
    digits = tuple(int(d) for d in settings.pop("digits"))
    changes = [(int(epoch), float(lr)) for epoch, lr in settings.pop("lr_changes", [])]
    config = TrainConfig(**settings)
    data = data_for(digits)
    epochs, target = int(entry["epochs"]), int(entry["target"])
    if not 1 <= epochs <= target <= MAX_EPOCHS or epochs * len(data.train_x) > MAX_SAMPLE_EPOCHS:
        raise ValueError("not a run this page could have trained")
    run = Run(int(entry["number"]), config, digits, target=target)
    stops = [epoch for epoch, _ in changes] + [epochs + 1]
    for (first, lr), stop in zip([(1, config.lr)] + changes, stops):
        if not 1 <= first < stop <= epochs + 1:
            raise ValueError("rate changes out of order")
        run.lr_changes = [c for c in changes if c[0] <= first]
        run.records += list(train(dataclasses.replace(config, lr=lr, epochs=stop - first), data, start=run.last))
        if run.last.diverged:
            break
    run.finish()
    return run


def fitted_config(config, train_size):
    """(config, notes): what the sidebar allows, capped to what this training set and a shared server afford."""
    notes = []
    if config.batch_size > train_size:
        notes.append(f"Batch size capped at the training set's {train_size:,} images.")
        config = dataclasses.replace(config, batch_size=train_size)
    if config.epochs * train_size > MAX_SAMPLE_EPOCHS:
        epochs = MAX_SAMPLE_EPOCHS // train_size
        notes.append(f"Epochs capped at {epochs:,} for {train_size:,} training images, so that every student's "
                     "run gets its turn.")
        config = dataclasses.replace(config, epochs=epochs)
    return config, notes


def records(run, config, data, pool=None, chunk_seconds=0.25):
    """The run's next config.epochs records: from the worker processes, or from this thread when there are none."""
    return _trained(config, run.digits, data, run.last, pool, chunk_seconds)


def rest_of(config, digits, data, start, pool=None, chunk_seconds=0.25):
    """A fresh run's records after `start` (None: from the beginning), up to its config.epochs in all: how a run
    that someone else began goes on (digitviz.trajectories)."""
    done = start.epoch if start is not None else 0
    if done >= config.epochs or (start is not None and start.diverged):
        return iter(())
    return _trained(dataclasses.replace(config, epochs=config.epochs - done), digits, data, start, pool,
                    chunk_seconds)


def _trained(config, digits, data, start, pool, chunk_seconds):
    if pool is None:
        return train(config, data, start=start)
    return pool.train(config, digits, start=start, chunk_seconds=chunk_seconds)


def classifier(run, digits, loaded=None):
    """(params, whose) of the model that classifies a drawing: a loaded file's for these digits, else the run's;
    None when neither fits, and the page's default model classifies."""
    if loaded is not None and loaded[1] == digits:
        return loaded[0], f"the model loaded from {plain_markdown(loaded[2])}"  # the browser named the file
    if run is not None and run.records and run.digits == digits and not run.last.diverged:
        return run.last.params, f"the model you trained (run {run.number}, {run.last.epoch} epochs)"
    return None
