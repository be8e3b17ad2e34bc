"""The page's settings as plain values: their choices, a shareable link's query string, and the lesson's presets.

Nothing here imports Streamlit: the page turns these values into widgets, and the tests check them directly.
"""
import math
from dataclasses import dataclass

from digitviz.data import ALL_DIGITS
from digitviz.config import LOSSES, MODELS, TrainConfig

LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0)
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 12396)
MAX_EPOCHS = 1000  # the page's own cap: a run a class can watch
MAX_INIT_STD = 3.0
MAX_SEED = 2**31 - 1
PAIR_MODELS = tuple(m for m in MODELS if m != "softmax")
PAIR_LOSSES = tuple(l for l in LOSSES if l != "cross_entropy")

DEFAULTS = {  # what a fresh page shows: the lesson's settings, with 30 epochs so the first run is quick
    "digits": "pair", "a": 3, "b": 7, "lr": 1.0, "epochs": 30, "batch_size": 256, "init_std": 1.0, "seed": 0,
    "shuffle": False, "loss": "mnist_loss", "model": "linear",
}
CONTROLS = tuple(DEFAULTS)  # also the names a link's `hide=` and `only=` take


def config_of(values):
    """The TrainConfig that a complete set of page values describes; ten digits means softmax + cross-entropy."""
    ten = values["digits"] == "all"
    return TrainConfig(lr=values["lr"], epochs=values["epochs"], batch_size=values["batch_size"],
                       init_std=values["init_std"], seed=values["seed"], shuffle=values["shuffle"],
                       loss="cross_entropy" if ten else values["loss"], model="softmax" if ten else values["model"])


def digits_of(values):
    """The digits a set of page values trains on: (a, b), or all ten."""
    return ALL_DIGITS if values["digits"] == "all" else (values["a"], values["b"])


def to_query(values, hidden=()):
    """The settings as a link's query parameters: only those that differ from the defaults, to keep links short."""
    query = {k: _format(v) for k, v in values.items() if k in DEFAULTS and v != DEFAULTS[k]}
    if hidden:
        query["hide"] = ",".join(sorted(hidden))
    return query


def differences(settings):
    """For each settings dict, a short label naming only what differs among them: 'lr=10, shuffle=1'."""
    keys = [k for k in settings[0] if len({repr(s.get(k)) for s in settings}) > 1]
    return [", ".join(f"{k}={_format(s.get(k))}" for k in keys) for s in settings]


def _format(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    return f"{value:g}" if isinstance(value, float) else str(value)


def from_query(query):
    """(values, hidden controls, notes) from a link's query parameters. Nothing in a link can raise:
    a garbled value is dropped and an out-of-range one clamped, each with a short note for the page."""
    values, notes = {}, []
    for key, raw in query.items():
        if key not in PARSERS:
            continue
        raw = _last(raw)
        try:
            value, note = PARSERS[key](str(raw).strip())
        except ValueError as e:
            notes.append(f"Ignored {key}={_shown(raw)} from the link: {e}.")
            continue
        values[key] = value
        if note:
            notes.append(f"{key}={_shown(raw)} in the link {note}.")
    if ("a" in values or "b" in values) and values.get("a", DEFAULTS["a"]) == values.get("b", DEFAULTS["b"]):
        notes.append("The link asks for the same digit twice; using 3 and 7.")
        values.update(a=3, b=7)
    hidden = _hidden(query, notes)
    return values, hidden, notes


def _last(raw):
    """A repeated parameter counts once, its last value: what a browser's address bar would show."""
    return (raw[-1] if raw else "") if isinstance(raw, list) else raw


def _shown(raw, limit=30):
    """A link's raw value as it goes into a note: cut short, so a long garbled link can't flood the page."""
    text = str(_last(raw))
    return text if len(text) <= limit else text[:limit] + "…"


def _hidden(query, notes):
    """Controls a link hides: `hide=a,b` hides those; `only=lr` hides all the others."""
    def names(key):
        raw = _last(query.get(key, ""))
        asked = [n.strip() for n in str(raw).split(",") if n.strip()]
        unknown = [n for n in asked if n not in CONTROLS]
        if unknown:
            notes.append(f"Ignored {key}={_shown(','.join(unknown))}: the controls are {', '.join(CONTROLS)}.")
        return {n for n in asked if n in CONTROLS}
    hidden, only = names("hide"), names("only")
    if only:  # an `only` that names no real control hides nothing
        hidden |= set(CONTROLS) - only
    return frozenset(hidden)


def _number(raw, kind=float):
    try:
        value = kind(float(raw)) if kind is int and float(raw).is_integer() else kind(raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"not a {'whole ' if kind is int else ''}number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _clamp(value, lo, hi):
    if value < lo:
        return lo, f"is below the smallest allowed, {lo:g}; using {lo:g}"
    if value > hi:
        return hi, f"is above the largest allowed, {hi:g}; using {hi:g}"
    return value, None


def _nearest(value, choices, log=False):
    """The closest of the slider's choices (on a log scale for the learning rate), and a note if it moved."""
    key = (lambda c: abs(math.log(c) - math.log(value))) if log else (lambda c: abs(c - value))
    best = min(choices, key=key)
    return best, None if best == value else f"is not one of the choices; using {best:g}"


def _parse_lr(raw):
    lr = _number(raw)
    if lr <= 0:
        raise ValueError("a learning rate must be above 0")
    return _nearest(lr, LEARNING_RATES, log=True)


def _parse_batch(raw):
    bs = _number(raw, int)
    if bs < 1:
        raise ValueError("a batch holds at least 1 image")
    return _nearest(bs, BATCH_SIZES)


def _parse_digit(raw):
    d = _number(raw, int)
    if not 0 <= d <= 9:
        raise ValueError("a digit is 0 to 9")
    return d, None


def _parse_bool(raw):
    words = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False, "no": False}
    if raw.lower() not in words:
        raise ValueError("use 1 or 0")
    return words[raw.lower()], None


def _choice(choices):
    def parse(raw):
        if raw not in choices:
            raise ValueError(f"the choices are {', '.join(choices)}")
        return raw, None
    return parse


PARSERS = {
    "digits": _choice(("pair", "all")),
    "a": _parse_digit, "b": _parse_digit,
    "lr": _parse_lr,
    "epochs": lambda raw: _clamp(_number(raw, int), 1, MAX_EPOCHS),
    "batch_size": _parse_batch,
    "init_std": lambda raw: _clamp(round(_number(raw), 1), 0.0, MAX_INIT_STD),
    "seed": lambda raw: _clamp(_number(raw, int), 0, MAX_SEED),
    "shuffle": _parse_bool,
    "loss": _choice(PAIR_LOSSES),
    "model": _choice(PAIR_MODELS),
}


@dataclass(frozen=True)
class Preset:
    """One click that sets up one of the lesson's experiments, and what to notice in it."""
    title: str
    values: dict  # the settings it changes; the rest go back to the defaults
    notice: str


PRESETS = {
    "lesson": Preset("The lesson's run", {"epochs": 300},
                     "Chapter 4's own settings: lr 1, 300 epochs, batch 256, init std 1. Accuracy climbs past the "
                     "mean-image baseline within a few epochs and ends near 98.5%, as in the book."),
    "lr_high": Preset("Learning rate too high", {"lr": 100.0},
                      "Each step jumps so far that every prediction is pushed to exactly 0 or 1. The sigmoid is "
                      "then flat, the gradient is zero, and the model is stuck at about 50%: the run diverges."),
    "lr_low": Preset("Learning rate too low", {"lr": 0.01, "epochs": 100},
                     "Steps are tiny: after 100 epochs the model is still far from where lr 1 gets in ten. "
                     "The curves creep instead of climbing."),
    "std_huge": Preset("A huge init std", {"init_std": 3.0, "epochs": 100},
                       "The random start is so large that the sigmoid begins saturated for many images: learning "
                       "is slow at first. Switch on 'show only what training changed' to see past the noise."),
    "std_tiny": Preset("A tiny init std", {"init_std": 0.0, "epochs": 30},
                       "Every weight starts at zero. The linear model still learns (its gradient does not need "
                       "random weights), the weight map shows only what SGD learned, and after 30 epochs it is "
                       "ahead of the init std 1 run (about 98% against 97%)."),
    "shuffle_off": Preset("Shuffle off: all 3s, then all 7s", {"shuffle": False, "epochs": 30, "batch_size": 64},
                          "Without shuffling, each epoch sees every 3 first and every 7 last, so it ends having just "
                          "been pulled towards 7s: after epoch 1 it scores about 52% where a shuffled run scores 94%, "
                          "and its curves are bumpier. Compare with shuffle on."),
    "shuffle_on": Preset("Shuffle on", {"shuffle": True, "epochs": 30, "batch_size": 64},
                         "Each batch now mixes 3s and 7s, so every step sees both: the curves are smoother "
                         "than with shuffle off. Overlay both runs under 'Compare runs'."),
    "first_attempt": Preset("The first attempt: no sigmoid", {"loss": "first_attempt", "lr": 0.01, "epochs": 100},
                            "Without the sigmoid nothing keeps predictions between 0 and 1: the loss can fall "
                            "for ever by pushing predictions further out, and runs off below zero. The run stops "
                            "when it explodes, which is why the lesson adds the sigmoid."),
    "two_layer": Preset("The two-layer net", {"model": "two_layer", "lr": 1.0, "epochs": 30},
                        "Linear-ReLU-Linear with 30 hidden units, the book's next step. The weight map shows each "
                        "hidden unit's own template; accuracy passes the linear model's."),
    "ten_digits": Preset("All ten digits", {"digits": "all", "shuffle": True, "epochs": 10},
                         "Ten linear models side by side, one per digit, with softmax and cross-entropy. Each weight "
                         "map is a digit's learned template; the confusion matrix shows which digits get mixed up."),
}


def preset_values(name):
    """The complete page values a preset sets: the defaults, changed where the preset says."""
    return {**DEFAULTS, **PRESETS[name].values}
