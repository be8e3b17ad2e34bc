"""The page's settings, each declared once in CONTROLS: its default, the values it may take, its widget, its help.

Like TensorFlow Playground's PROPS table, the table drives everything that knows about a setting: the defaults,
a shareable link's parsing and writing, the sidebar's widgets (digitviz.ui.sidebar) and the command line's
flags (digitviz.cli). A new setting is one row. Nothing here imports Streamlit.
"""
import math
from dataclasses import dataclass

from digitviz.config import LOSSES, MODELS, TrainConfig
from digitviz.data import ALL_DIGITS

LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0)
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 12396)
PAIR_MODELS = tuple(m for m in MODELS if m != "softmax")
PAIR_LOSSES = tuple(loss for loss in LOSSES if loss != "cross_entropy")
_BOOL_WORDS = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False, "no": False}


def _trained(name):
    """A TrainConfig field's own default: the library and the page start from the same lesson settings."""
    return TrainConfig.__dataclass_fields__[name].default


@dataclass(frozen=True)
class Control:
    """One setting. `kind` says how a link's text becomes a value:
    choice (one of `choices`), scale (the nearest of `choices`), range (clamped to lo..hi), switch (on/off)."""
    name: str  # the link's key, the widget's key and, for a training setting, the TrainConfig field
    label: str
    kind: str
    default: object
    help: str
    choices: tuple = ()
    lo: float = 0
    hi: float = 0
    step: float | None = None  # a range's resolution: init_std moves in tenths
    rule: str = ""  # what a value below `lo` breaks, for a scale or a digit
    log: bool = False  # a scale whose nearest choice is measured in log(value): the learning rate
    widget: str = ""  # how the sidebar shows it: select_slider, slider, number_input, toggle, selectbox, segmented
    labels: dict | None = None  # what each choice is called on the page
    pair_only: bool = False  # meaningless with all ten digits (softmax and cross-entropy are fixed then)
    half: bool = False  # shown side by side with the next half-width control
    trains: bool = True  # a TrainConfig field, so also a command-line flag
    help_ten: str = ""  # the help with all ten digits, where the pair's numbers would be wrong

    def parse(self, raw):
        """(value, note or None) from a link's text; ValueError says why the text is no use."""
        return _PARSE[self.kind](self, raw)


def _parse_choice(control, raw):
    if isinstance(control.default, int):  # the digits: a whole number that must be one of the choices
        value = _number(raw, int)
        if value not in control.choices:
            raise ValueError(control.rule)
        return value, None
    if raw not in control.choices:
        raise ValueError(f"the choices are {', '.join(control.choices)}")
    return raw, None


def _parse_scale(control, raw):
    value = _number(raw, type(control.default))
    if value < control.lo or (control.log and value <= 0):
        raise ValueError(control.rule)
    return nearest(value, control.choices, control.log)


def _parse_range(control, raw):
    value = _number(raw, type(control.default))
    if control.step:
        value = round(value, round(-math.log10(control.step)))
    return _clamp(value, control.lo, control.hi)


def _parse_switch(control, raw):
    if raw.lower() not in _BOOL_WORDS:
        raise ValueError("use 1 or 0")
    return _BOOL_WORDS[raw.lower()], None


_PARSE = {"choice": _parse_choice, "scale": _parse_scale, "range": _parse_range, "switch": _parse_switch}


CONTROLS = {c.name: c for c in (
    Control("digits", "Digits", "choice", "pair", "Tell two digits apart (the lesson), or all ten with a softmax "
            "model.", choices=("pair", "all"), widget="segmented", labels={"pair": "a pair", "all": "all ten"},
            trains=False),
    Control("lr", "Learning rate", "scale", _trained("lr"), "How far each SGD step moves the weights. The lesson "
            "uses 1; try 10 and 100.", choices=LEARNING_RATES, rule="a learning rate must be above 0", log=True,
            widget="select_slider"),
    Control("epochs", "Epochs", "range", _trained("epochs"), "Passes over the training images. The lesson runs 300.",
            lo=1, hi=1000, widget="slider"),  # the page's own cap: a run a class can watch
    Control("batch_size", "Batch size", "scale", _trained("batch_size"), "Images per SGD step. 12,396 is the "
            "lesson's whole training set: one step an epoch.", choices=BATCH_SIZES, lo=1,
            rule="a batch holds at least 1 image", widget="select_slider",
            help_ten="Images per SGD step. All ten digits have 60,000 training images: 235 steps an epoch at 256."),
    Control("init_std", "Init std", "range", _trained("init_std"), "Spread of the random starting weights. 0 starts "
            "every weight at zero.", lo=0.0, hi=3.0, step=0.1, widget="slider"),
    Control("seed", "Seed", "range", _trained("seed"), "Same seed and settings, same run.", lo=0, hi=2**31 - 1,
            widget="number_input"),
    Control("shuffle", "Shuffle each epoch", "switch", _trained("shuffle"), "The lesson does not shuffle: every "
            "epoch sees all the 3s, then all the 7s.", widget="toggle"),
    Control("loss", "Loss", "choice", _trained("loss"), "; ".join(f"{k}: {LOSSES[k]}" for k in PAIR_LOSSES),
            choices=PAIR_LOSSES, widget="selectbox", pair_only=True),
    Control("model", "Model", "choice", _trained("model"), "; ".join(f"{k}: {MODELS[k]}" for k in PAIR_MODELS),
            choices=PAIR_MODELS, widget="selectbox", pair_only=True),
    Control("a", "Digit A", "choice", 3, "Scored as 1 (the lesson's 3).", choices=tuple(range(10)),
            rule="a digit is 0 to 9", widget="selectbox", pair_only=True, half=True, trains=False),
    Control("b", "Digit B", "choice", 7, "Scored as 0 (the lesson's 7).", choices=tuple(range(10)),
            rule="a digit is 0 to 9", widget="selectbox", pair_only=True, half=True, trains=False),
)}
DEFAULTS = {name: c.default for name, c in CONTROLS.items()}
# How the page looks, for this browser: kept in the link like the settings, but never hidden, preset or trained.
DISPLAY = {c.name: c for c in (
    Control("theme", "Theme", "choice", "system", "Light or dark, or as this device is set.",
            choices=("system", "light", "dark"), widget="segmented",
            labels={"system": "device", "light": "light", "dark": "dark"}, trains=False),
    Control("text", "Projector text", "choice", "normal", "Larger text for the back of a lecture hall.",
            choices=("normal", "projector"), widget="toggle", trains=False),
)}  # a fresh page: the lesson, 30 epochs to start quick


def config_of(values):
    """The TrainConfig that a complete set of page values describes; ten digits means softmax + cross-entropy."""
    fields = {name: values[name] for name, c in CONTROLS.items() if c.trains}
    if values["digits"] == "all":
        fields.update(loss="cross_entropy", model="softmax")
    return TrainConfig(**fields)


def digits_of(values):
    """The digits a set of page values trains on: (a, b), or all ten."""
    return ALL_DIGITS if values["digits"] == "all" else (values["a"], values["b"])


def to_query(values, hidden=()):
    """The settings as a link's query parameters: only those that differ from the defaults, to keep links short.
    Ten digits shuffle unless told not to (see from_query), so there an unshuffled run says so."""
    query = {k: _format(v) for k, v in values.items() if k in DEFAULTS and v != DEFAULTS[k]}
    if values.get("digits") == "all" and not values.get("shuffle", True):
        query["shuffle"] = "0"
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
        if key not in CONTROLS:
            continue
        raw = _last(raw)
        try:
            value, note = CONTROLS[key].parse(str(raw).strip())
        except ValueError as e:
            notes.append(f"Ignored {key}={_shown(raw)} from the link: {e}.")
            continue
        values[key] = value
        if note:
            notes.append(f"{key}={_shown(raw)} in the link {note}.")
    if values.get("digits") == "all" and "shuffle" not in values:
        values["shuffle"] = True  # ten digits sorted by label make every batch one digit: see unshuffled_warning
    if ("a" in values or "b" in values) and values.get("a", DEFAULTS["a"]) == values.get("b", DEFAULTS["b"]):
        notes.append("The link asks for the same digit twice; using 3 and 7.")
        values.update(a=3, b=7)
    hidden = _hidden(query, notes)
    return values, hidden, notes


def display_from_query(query):
    """The link's display choices ({name: value}); a garbled one keeps the default, silently (it only looks)."""
    values = {}
    for name, control in DISPLAY.items():
        try:
            values[name] = control.parse(str(_last(query.get(name, control.default))).strip())[0]
        except ValueError:
            values[name] = control.default
    return values


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
        return lo, f"is below the smallest allowed, {_format(lo)}; using {_format(lo)}"
    if value > hi:
        return hi, f"is above the largest allowed, {_format(hi)}; using {_format(hi)}"
    return value, None


def nearest(value, choices, log=False):
    """The closest of the slider's choices (on a log scale for the learning rate), and a note if it moved."""
    key = (lambda c: abs(math.log(c) - math.log(value))) if log else (lambda c: abs(c - value))
    best = min(choices, key=key)
    return best, None if best == value else f"is not one of the choices; using {best:g}"


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


def open_presets(hidden=frozenset()):
    """The presets a page offers: a link that hides controls locks them, so only the presets that need none of
    them. Applying one (`preset_changes`) leaves hidden controls as the link set them."""
    return [name for name, preset in PRESETS.items() if not set(preset.values) & set(hidden)]


def preset_changes(name, hidden=frozenset()):
    """The values a preset sets on a page whose link hides `hidden`: every shown control."""
    return {k: v for k, v in preset_values(name).items() if k not in hidden}


def matches_preset(name, values, hidden=frozenset()):
    """Whether the page still shows what the preset set up, so that its notice still holds."""
    return all(values.get(k) == v for k, v in preset_changes(name, hidden).items())


def training_flags():
    """The command line's view of the table: (flag, field, default, help, choices) for each TrainConfig setting.
    The library's own limits apply there (any lr > 0, up to 10,000 epochs, every loss and model)."""
    library_choices = {"loss": tuple(LOSSES), "model": tuple(MODELS)}
    return [(f"--{name.replace('_', '-')}", name, c.default, c.help, library_choices.get(name))
            for name, c in CONTROLS.items() if c.trains]

