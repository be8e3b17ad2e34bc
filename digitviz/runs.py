"""A student's training run and its life: start, train, stop, step, resume, finish; and which model classifies.

The page keeps its runs in the browser session's state and only calls these; nothing here imports Streamlit,
so every transition is unit-tested directly.
"""
import dataclasses
import json
from dataclasses import dataclass, field

from digitviz.config import MAX_EPOCHS
from digitviz.export import settings_json
from digitviz.settings import CONTROLS, DEFAULTS, Control, config_of, digits_of, from_query
from digitviz.text import plain_markdown

# A session keeps its newest runs for comparing; older ones go. About 5 MB per 1,000-epoch run: 3.9 MB of records,
# 1.2 MB of the maps the player made of them.
KEPT_RUNS = 20
# A run may cost at most the lesson's pair for 1,000 epochs (~5 s of one core): one student's run must not hog a
# server that the class shares.
MAX_SAMPLE_EPOCHS = 12_396 * 1000
# What a browser's memory may hold: KEPT_RUNS runs of a few hundred bytes each, and a run's learning-rate changes
# (one per Step or Resume at another rate). Anything bigger was not written by this page.
MAX_MEMORY_CHARS = 64_000
MAX_LR_CHANGES = 100
FORGOTTEN = ("{} of the runs this browser remembered could not be brought back (their settings are not ones this "
             "page trains), so they were left out.")


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
    status: str = "running"  # running | paused | done | diverged | remembered (being trained again, see restore)
    paused_because: str = ""  # what paused it, when it was not the student's own Stop
    lr_changes: list = field(default_factory=list)  # (epoch, lr) where Step or Resume went on at another rate
    # The script run now training this run. A click starts a new script run at once (fastReruns) while the old
    # one trains on until its next Streamlit call; the new one takes ownership, and the old one stops appending.
    owner: object = None
    remembered_epochs: int = 0  # a remembered run: the epochs it had reached, which it is trained again up to

    @property
    def last(self):
        return self.records[-1] if self.records else None

    @property
    def epochs(self):
        """The epochs the run has reached: those trained, or those a remembered run is being trained again to."""
        return max(self.last.epoch if self.last else 0, self.remembered_epochs if self.restoring else 0)

    @property
    def restoring(self):
        """A run brought back from the browser's memory that has not yet been trained again to where it was."""
        return self.status == "remembered" and not (self.last and self.last.diverged) and \
            (self.last.epoch if self.last else 0) < self.remembered_epochs

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
        """Where the run stands once its loop has ended (a remembered run: once it is back where it was)."""
        if self.restoring:
            return
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

    def replay(self):
        """A remembered run's next stretch to train again, at the rate it had then: a config for its epochs; None
        once it is back where it was. The first stretch starts at epoch 1 (from the server's run cache, when the
        same settings were trained before); each later one starts where a Step or Resume changed the rate."""
        if not self.restoring:
            return None
        done = self.last.epoch if self.last else 0
        lr = ([self.config.lr] + [lr for epoch, lr in self.lr_changes if epoch <= done + 1])[-1]
        stop = min([epoch for epoch, _ in self.lr_changes if epoch > done + 1] + [self.remembered_epochs + 1])
        return dataclasses.replace(self.config, lr=lr, epochs=stop - 1 - done)


def start_run(runs, config, digits):
    """A fresh run, appended to the session's history for comparing; the oldest go beyond KEPT_RUNS."""
    run = Run(max((r.number for r in runs), default=0) + 1, config, digits, target=config.epochs)
    runs.append(run)
    del runs[:-KEPT_RUNS]
    return run


def saved(runs):
    """The session's runs as a few hundred bytes of JSON: settings, seeds and how far each got. The engine is
    deterministic, so that is enough to train them again after a refresh (see `restore`)."""
    return json.dumps([{"number": r.number, "settings": r.settings(), "epochs": r.epochs, "target": r.target}
                       for r in runs if r.epochs])


def restore(text, train_size):
    """(runs, note): the runs `saved` wrote, as remembered runs to train again (Run.replay), and a sentence for the
    page when some were left out ("" if none). `train_size(digits)` gives a digit set's training-set size.

    The text comes from a browser, so it is checked as a link is (digitviz.settings: the same parsing, ranges and
    choices, then the page's caps), and a run is kept only if that gives back exactly the settings it claims:
    anything else (wrong types, values out of range or between a slider's steps, unknown keys, nesting, too many
    runs or rate changes, more than the up-front cost cap) is dropped. Nothing is trained here."""
    if not text:
        return [], ""
    if not isinstance(text, str):
        return [], FORGOTTEN.format("All")
    try:
        entries = json.loads(text) if len(text) <= MAX_MEMORY_CHARS else None
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's own limit
        entries = None
    if not isinstance(entries, list):
        return [], FORGOTTEN.format("All")
    kept, numbers = [], set()
    for entry in entries[-KEPT_RUNS:]:
        try:
            run = _remembered(entry, train_size)
        except (ValueError, TypeError, KeyError):
            continue
        if run.number not in numbers:
            numbers.add(run.number)
            kept.append(run)
    dropped = len(entries) - len(kept)
    return kept, FORGOTTEN.format(f"{dropped:,}" if kept else "All") if dropped else ""


# A whole number a remembered run holds (its number, epochs, target, an epoch of a rate change), parsed as a link's
# range is: whole, finite, and within bounds (a value that had to be clamped is refused below).
_WHOLE = Control("epoch", "Epoch", "range", 1, "", lo=1, hi=MAX_EPOCHS, trains=False)
_SETTINGS = {name for name, c in CONTROLS.items() if c.trains}


def _remembered(entry, train_size):
    """One remembered run, checked (ValueError, TypeError or KeyError if it is no run this page trains), untrained."""
    if not isinstance(entry, dict) or set(entry) != {"number", "settings", "epochs", "target"}:
        raise ValueError("not a remembered run")
    number, epochs, target = (_whole(entry[k]) for k in ("number", "epochs", "target"))
    settings = entry["settings"]
    if not isinstance(settings, dict) or not _SETTINGS | {"digits"} <= set(settings) <= _SETTINGS | {
            "digits", "lr_changes"}:
        raise ValueError("not a run's settings")
    config, digits = _checked_config(settings, train_size)
    changes = _checked_changes(settings.get("lr_changes", []), epochs)
    if not epochs <= target or epochs * train_size(digits) > MAX_SAMPLE_EPOCHS:
        raise ValueError("not a run this page could have trained")
    return Run(number, config, digits, target=target, status="remembered", lr_changes=changes,
               remembered_epochs=epochs)


def _checked_config(settings, train_size):
    """(config, digits) from a remembered run's settings, through a link's parsing and the page's caps; ValueError
    unless that gives back exactly what was remembered."""
    raw = settings["digits"]
    if not isinstance(raw, list) or len(raw) not in (2, 10):
        raise ValueError("not digits")
    query = {"digits": "all"} if len(raw) == 10 else {"a": _scalar(raw[0]), "b": _scalar(raw[1])}
    query.update((name, _scalar(settings[name])) for name in _SETTINGS)
    values = {**DEFAULTS, **from_query(query)[0]}
    digits = digits_of(values)
    config, _ = fitted_config(config_of(values), train_size(digits))
    if len(digits) != len(raw) or not all(map(_same, digits, raw)) or \
            not all(_same(getattr(config, name), settings[name]) for name in _SETTINGS):
        raise ValueError("settings this page would not train")
    return config, digits


def _checked_changes(changes, epochs):
    """A remembered run's (epoch, lr) rate changes: at most MAX_LR_CHANGES, in order, after epoch 1 and at most
    one past the last, each rate one of the slider's."""
    if not isinstance(changes, list) or len(changes) > MAX_LR_CHANGES:
        raise ValueError("not rate changes")
    checked = []
    for change in changes:
        if not isinstance(change, list) or len(change) != 2:
            raise ValueError("not a rate change")
        epoch, (lr, note) = _whole(change[0]), CONTROLS["lr"].parse(_scalar(change[1]))
        if note or not _same(lr, change[1]) or not 2 <= epoch <= epochs + 1 or (checked and epoch < checked[-1][0]):
            raise ValueError("rate changes out of order or off the slider")
        checked.append((epoch, lr))
    return checked


def _whole(raw):
    value, note = _WHOLE.parse(_scalar(raw))
    if note or not _same(value, raw):
        raise ValueError("not a whole number in range")
    return value


def _scalar(raw):
    """A remembered value as a link's text; only numbers, words and switches can be settings (no lists, no dicts)."""
    if not isinstance(raw, (str, int, float, bool)):
        raise TypeError("not a setting's value")
    return str(raw)[:40]


def _same(value, raw):
    """The checked value is exactly the remembered one, type included (True is not 1, "1" is not 1.0)."""
    return type(value) is type(raw) and value == raw


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


def classifier(run, digits, loaded=None):
    """(params, whose) of the model that classifies a drawing: a loaded file's for these digits, else the run's;
    None when neither fits, and the page's default model classifies."""
    if loaded is not None and loaded[1] == digits:
        return loaded[0], f"the model loaded from {plain_markdown(loaded[2])}"  # the browser named the file
    if run is not None and run.records and run.digits == digits and not run.last.diverged:
        return run.last.params, f"the model you trained (run {run.number}, {run.last.epoch} epochs)"
    return None
