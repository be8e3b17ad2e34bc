"""A student's training run and its life: start, train, stop, step, resume, finish; and which model classifies.

The page keeps its runs in the browser session's state and only calls these; nothing here imports Streamlit,
so every transition is unit-tested directly.
"""
import dataclasses
from dataclasses import dataclass, field

from digitviz.engine import train

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
    # The script run now training this run. A click starts a new script run at once (fastReruns) while the old
    # one trains on until its next Streamlit call; the new one takes ownership, and the old one stops appending.
    owner: object = None

    @property
    def last(self):
        return self.records[-1] if self.records else None

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

    def interrupt(self):
        """A run still 'running' when the page reruns was cut off by a click: it is paused."""
        if self.status == "running":
            self.status, self.owner = "paused", None

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
        self.status, self.target = "running", max(self.target, done + more)
        return dataclasses.replace(self.config, lr=lr, epochs=more)


def start_run(runs, config, digits):
    """A fresh run, appended to the session's history for comparing."""
    run = Run(max((r.number for r in runs), default=0) + 1, config, digits, target=config.epochs)
    runs.append(run)
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
    """The run's next records: from the worker processes, or from this thread when there are none."""
    if pool is None:
        return train(config, data, start=run.last)
    return pool.train(config, run.digits, start=run.last, chunk_seconds=chunk_seconds)


def rest_of(config, digits, data, start, pool=None, chunk_seconds=0.25):
    """A fresh run's records after `start` (None: from the beginning), up to its config.epochs in all: how a run
    that someone else began goes on (digitviz.trajectories)."""
    done = start.epoch if start is not None else 0
    if done >= config.epochs or (start is not None and start.diverged):
        return iter(())
    more = dataclasses.replace(config, epochs=config.epochs - done)
    if pool is None:
        return train(more, data, start=start)
    return pool.train(more, digits, start=start, chunk_seconds=chunk_seconds)


def classifier(run, digits, loaded=None):
    """(params, whose) of the model that classifies a drawing: a loaded file's for these digits, else the run's;
    None when neither fits, and the page's default model classifies."""
    if loaded is not None and loaded[1] == digits:
        return loaded[0], f"the model loaded from {loaded[2]}"
    if run is not None and run.records and run.digits == digits and not run.last.diverged:
        return run.last.params, f"the model you trained (run {run.number}, {run.last.epoch} epochs)"
    return None
