"""The page's settings as plain values: link round trips, garbled links, hidden controls, presets and their claims."""
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitviz import train
from digitviz.config import TrainConfig
from digitviz.settings import (
    BATCH_SIZES,
    CONTROLS,
    DEFAULTS,
    LEARNING_RATES,
    PAIR_LOSSES,
    PAIR_MODELS,
    PRESETS,
    config_of,
    digits_of,
    from_query,
    preset_values,
    to_query,
)

MAX_EPOCHS, MAX_INIT_STD, MAX_SEED = CONTROLS["epochs"].hi, CONTROLS["init_std"].hi, CONTROLS["seed"].hi
NAMES = tuple(CONTROLS)

NON_DEFAULT_SETS = [
    {"digits": "all", "shuffle": True, "epochs": 10},
    {"lr": 0.003, "batch_size": 12396, "init_std": 0.0, "seed": 123456},
    {"loss": "bce", "model": "two_layer", "a": 1, "b": 8, "epochs": 1000},
    {"a": 7, "b": 3, "lr": 1000.0, "batch_size": 1, "init_std": 3.0, "seed": MAX_SEED, "loss": "first_attempt"},
    {"shuffle": True, "model": "fastai", "init_std": 0.3, "lr": 0.001, "epochs": 1},
]


# --- a link's round trip ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("changed", NON_DEFAULT_SETS)
def test_link_round_trip_gives_back_the_same_values(changed):
    values = {**DEFAULTS, **changed}
    query = to_query(values)
    assert set(query) == set(changed), "only the values that differ from the defaults go in the link"
    assert all(isinstance(v, str) for v in query.values())
    parsed, hidden, notes = from_query(query)
    assert parsed == changed
    assert {**DEFAULTS, **parsed} == values
    assert hidden == frozenset() and notes == []
    for key, value in parsed.items():  # the same types as the defaults, not just equal values
        assert type(value) is type(DEFAULTS[key]), key


def test_default_values_give_an_empty_link():
    assert to_query(DEFAULTS) == {}
    assert from_query({}) == ({}, frozenset(), [])


def test_hidden_controls_round_trip_through_hide():
    query = to_query({**DEFAULTS, "lr": 0.1}, hidden={"seed", "lr", "init_std"})
    assert query == {"lr": "0.1", "hide": "init_std,lr,seed"}
    values, hidden, notes = from_query(query)
    assert values == {"lr": 0.1}
    assert hidden == frozenset({"seed", "lr", "init_std"})
    assert notes == []


_VALID_VALUES = st.fixed_dictionaries({
    "digits": st.sampled_from(("pair", "all")), "a": st.integers(0, 9), "b": st.integers(0, 9),
    "lr": st.sampled_from(LEARNING_RATES), "epochs": st.integers(1, MAX_EPOCHS),
    "batch_size": st.sampled_from(BATCH_SIZES), "init_std": st.integers(0, 30).map(lambda k: round(k / 10, 1)),
    "seed": st.integers(0, MAX_SEED), "shuffle": st.booleans(), "loss": st.sampled_from(PAIR_LOSSES),
    "model": st.sampled_from(PAIR_MODELS),
}).filter(lambda v: v["a"] != v["b"])


@settings(max_examples=200, deadline=None)
@given(values=_VALID_VALUES, hidden=st.sets(st.sampled_from(NAMES)))
def test_any_page_state_survives_a_link(values, hidden):
    parsed, got_hidden, notes = from_query(to_query(values, hidden))
    assert {**DEFAULTS, **parsed} == values
    assert got_hidden == frozenset(hidden)
    assert notes == []


# --- garbled and out-of-range values ---------------------------------------------------------------------------

@pytest.mark.parametrize("key, raw, reason", [
    ("lr", "abc", "not a number"),
    ("lr", "-1", "must be above 0"),
    ("lr", "0", "must be above 0"),
    ("lr", "nan", "not a finite number"),
    ("lr", "inf", "not a finite number"),
    ("epochs", "ten", "not a whole number"),
    ("epochs", "1e400", "not a whole number"),
    ("epochs", "2.5", "not a whole number"),
    ("batch_size", "0", "at least 1 image"),
    ("a", "11", "a digit is 0 to 9"),
    ("a", "x", "not a whole number"),
    ("b", "-1", "a digit is 0 to 9"),
    ("init_std", "nan", "not a finite number"),
    ("seed", "", "not a whole number"),
    ("shuffle", "maybe", "use 1 or 0"),
    ("loss", "mse", "the choices are mnist_loss, first_attempt, bce"),
    ("loss", "cross_entropy", "the choices are mnist_loss, first_attempt, bce"),  # ten digits only, via digits=all
    ("model", "cnn", "the choices are linear, fastai, two_layer"),
    ("model", "softmax", "the choices are linear, fastai, two_layer"),
    ("digits", "some", "the choices are pair, all"),
])
def test_garbled_value_is_dropped_with_a_note_naming_key_and_reason(key, raw, reason):
    values, hidden, notes = from_query({key: raw})
    assert values == {}
    assert hidden == frozenset()
    assert len(notes) == 1
    assert f"{key}={raw}" in notes[0]
    assert reason in notes[0]


@pytest.mark.parametrize("key, raw, expected, words", [
    ("epochs", "5000", 1000, "above the largest allowed, 1000; using 1000"),
    ("epochs", "0", 1, "below the smallest allowed, 1; using 1"),
    ("init_std", "9", 3.0, "above the largest allowed, 3; using 3"),
    ("seed", "-5", 0, "below the smallest allowed, 0; using 0"),
    ("seed", "1e20", MAX_SEED, "above the largest allowed"),
])
def test_out_of_range_value_is_clamped_with_a_note(key, raw, expected, words):
    values, _, notes = from_query({key: raw})
    assert values == {key: expected}
    assert type(values[key]) is type(DEFAULTS[key])
    assert len(notes) == 1 and f"{key}={raw}" in notes[0] and words in notes[0]


@pytest.mark.parametrize("raw, expected", [("0.24", 0.2), ("0.27", 0.3), ("1.04", 1.0), ("2.96", 3.0)])
def test_a_range_value_moves_in_its_steps(raw, expected):
    """init_std's slider moves in tenths: a link's 0.27 is the slider's 0.3, never a value it cannot show."""
    values, _, _ = from_query({"init_std": raw})
    assert values == {"init_std": expected}
    assert round(values["init_std"] / CONTROLS["init_std"].step, 9).is_integer()


@pytest.mark.parametrize("key, raw, expected", [
    ("lr", "5", 3.0),  # |log 5 - log 3| = 0.51 < |log 10 - log 5| = 0.69
    ("lr", "7", 10.0),  # |log 10 - log 7| = 0.36 < |log 7 - log 3| = 0.85
    ("lr", "0.002", 0.003),  # on a linear scale 0.001 would be as near; on a log scale 0.003 is nearer
    ("lr", "5000", 1000.0),
    ("batch_size", "300", 256),
    ("batch_size", "10000", 12396),
])
def test_value_between_choices_snaps_to_the_nearest_with_a_note(key, raw, expected):
    values, _, notes = from_query({key: raw})
    assert values == {key: expected}
    assert len(notes) == 1
    assert f"{key}={raw}" in notes[0] and f"not one of the choices; using {expected:g}" in notes[0]


def test_lr_snaps_on_a_log_scale():
    """The snap is the nearest choice in log(lr), checked against a direct computation for many rates."""
    for raw in (0.0015, 0.002, 0.005, 0.02, 0.5, 2, 4, 6, 20, 50, 200, 400, 1e6, 1e-9):
        want = min(LEARNING_RATES, key=lambda c: abs(math.log(c / raw)))
        assert from_query({"lr": str(raw)})[0] == {"lr": want}, raw


def test_exact_choices_give_no_note():
    values, _, notes = from_query({"lr": "1e-3", "batch_size": "64", "epochs": "300.0", "init_std": "0.5",
                                   "shuffle": "true", "digits": " all "})
    assert values == {"lr": 0.001, "batch_size": 64, "epochs": 300, "init_std": 0.5, "shuffle": True,
                      "digits": "all"}
    assert notes == []


@pytest.mark.parametrize("raw, expected", [("1", True), ("on", True), ("YES", True), ("0", False), ("off", False),
                                           ("False", False)])
def test_shuffle_accepts_the_usual_words(raw, expected):
    assert from_query({"shuffle": raw}) == ({"shuffle": expected}, frozenset(), [])


@pytest.mark.parametrize("query", [{"a": "4", "b": "4"}, {"a": "7"}, {"b": "3"}])
def test_the_same_digit_twice_falls_back_to_3_and_7(query):
    """Whether both digits are in the link or one of them equals the other's default, the page never gets a=b."""
    values, _, notes = from_query(query)
    assert digits_of({**DEFAULTS, **values}) == (3, 7)
    assert notes == ["The link asks for the same digit twice; using 3 and 7."]


def test_a_different_pair_is_kept():
    assert from_query({"a": "1", "b": "8"})[0] == {"a": 1, "b": 8}
    assert from_query({"a": "7", "b": "3"})[0] == {"a": 7, "b": 3}
    assert from_query({"b": "4"})[0] == {"b": 4}


def test_list_values_use_the_last():
    """Streamlit can hand over every value of a repeated key; the last one wins, as in the page's own links."""
    values, hidden, notes = from_query({"lr": ["0.01", "0.1"], "epochs": ["ten", "12"], "hide": ["lr", "seed"]})
    assert values == {"lr": 0.1, "epochs": 12}
    assert hidden == frozenset({"seed"})
    assert notes == []
    assert "lr=bad" in from_query({"lr": ["0.1", "bad"]})[2][0]


def test_unknown_keys_are_ignored_silently():
    assert from_query({"utm_source": "mail", "foo": "bar", "LR": "0.1", "": ""}) == ({}, frozenset(), [])


@pytest.mark.parametrize("key", sorted(NAMES))
def test_a_very_long_garbled_value_gives_a_short_note(key):
    raw = "x" * 5000 + "💥" * 100
    values, _, notes = from_query({key: raw})
    assert values == {}
    assert len(notes) == 1
    assert len(notes[0]) < 120
    assert "…" in notes[0]


def test_a_very_long_clamped_value_gives_a_short_note():
    values, _, notes = from_query({"epochs": "9" * 1000})
    assert values == {"epochs": MAX_EPOCHS}
    assert len(notes) == 1 and len(notes[0]) < 120


# --- hidden controls -------------------------------------------------------------------------------------------

def test_only_hides_every_other_control():
    values, hidden, notes = from_query({"only": "lr"})
    assert hidden == frozenset(CONTROLS) - {"lr"}
    assert values == {} and notes == []


def test_only_with_several_controls():
    _, hidden, _ = from_query({"only": "lr, epochs"})
    assert hidden == frozenset(CONTROLS) - {"lr", "epochs"}


def test_hide_hides_the_named_controls():
    values, hidden, notes = from_query({"hide": "epochs,seed"})
    assert hidden == frozenset({"epochs", "seed"})
    assert values == {} and notes == []


def test_only_adds_to_hide():
    """`hide=` and `only=` together: everything `only` leaves out, and what `hide` names as well."""
    _, hidden, _ = from_query({"hide": "lr", "only": "lr,epochs"})
    assert hidden == frozenset(CONTROLS) - {"epochs"}


def test_unknown_names_in_hide_give_a_note():
    _, hidden, notes = from_query({"hide": "epochs,bogus,weights"})
    assert hidden == frozenset({"epochs"})
    assert len(notes) == 1
    assert "hide=bogus,weights" in notes[0] and "the controls are" in notes[0]


def test_empty_hide_and_only_hide_nothing():
    assert from_query({"hide": "", "only": ""}) == ({}, frozenset(), [])
    assert from_query({"hide": " , ,"}) == ({}, frozenset(), [])


# --- nothing in a link can raise -------------------------------------------------------------------------------

_NASTY = st.sampled_from(["", " ", "nan", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e308", "1e-400",
                          "5e-324", "-0", "0", "0.0", "-0.04", "1", "3", "7", "9.0", "10", "2.5", "12396", "1_000",
                          "0x10", "all", "pair", "true", "None", "[]", "١٢", "３", "\x00", "ǅ", "İ", "ß"])
_TEXT = st.one_of(
    _NASTY,
    st.text(max_size=40),
    st.integers(min_value=-10**400, max_value=10**400).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_KEYS = st.one_of(st.sampled_from(sorted(NAMES) + ["hide", "only"]), st.text(max_size=10))
_RAW = st.one_of(_TEXT, st.lists(_TEXT, min_size=1, max_size=3),
                 st.lists(st.sampled_from(NAMES + ("bogus", "")), max_size=4).map(",".join))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=st.dictionaries(_KEYS, _RAW, max_size=12))
def test_from_query_never_raises_and_always_gives_usable_values(query):
    values, hidden, notes = from_query(query)
    assert set(values) <= set(NAMES)
    assert hidden <= frozenset(CONTROLS)
    assert all(isinstance(n, str) and len(n) < 200 for n in notes)
    if "lr" in values:
        assert values["lr"] in LEARNING_RATES
    if "epochs" in values:
        assert type(values["epochs"]) is int and 1 <= values["epochs"] <= MAX_EPOCHS
    if "batch_size" in values:
        assert values["batch_size"] in BATCH_SIZES
    if "init_std" in values:
        assert 0 <= values["init_std"] <= MAX_INIT_STD
    if "seed" in values:
        assert type(values["seed"]) is int and 0 <= values["seed"] <= MAX_SEED
    if "digits" in values:
        assert values["digits"] in ("pair", "all")
    if "a" in values and "b" in values:
        assert values["a"] != values["b"]
    if "shuffle" in values:
        assert type(values["shuffle"]) is bool
    if "loss" in values:
        assert values["loss"] in PAIR_LOSSES
    if "model" in values:
        assert values["model"] in PAIR_MODELS
    page = {**DEFAULTS, **values}
    assert isinstance(config_of(page), TrainConfig)  # raises ValueError if anything is invalid
    digits = digits_of(page)
    assert digits == tuple(range(10)) or (digits[0] != digits[1] and all(0 <= d <= 9 for d in digits))


# --- presets ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_gives_a_valid_config(name):
    config = config_of(preset_values(name))
    assert isinstance(config, TrainConfig)
    assert config.epochs <= MAX_EPOCHS
    assert (config.model == "softmax") == (preset_values(name)["digits"] == "all")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_changes_only_its_own_keys(name):
    preset = PRESETS[name]
    assert set(preset.values) <= set(DEFAULTS), "a preset key the page doesn't know"
    values = preset_values(name)
    assert set(values) == set(DEFAULTS)
    assert {k for k in DEFAULTS if values[k] != DEFAULTS[k]} <= set(preset.values)
    assert all(values[k] == v for k, v in preset.values.items())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_survives_a_link(name):
    values = preset_values(name)
    parsed, _, notes = from_query(to_query(values))
    assert {**DEFAULTS, **parsed} == values and notes == []


def _sentences(text):
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_notice_is_two_to_four_sentences(name):
    notice = PRESETS[name].notice
    assert notice.rstrip()[-1] in ".!?"
    assert 2 <= len(_sentences(notice)) <= 4, _sentences(notice)


# --- the notices' claims, against real training ----------------------------------------------------------------

def _run(name, data):
    return list(train(config_of(preset_values(name)), data))


@pytest.fixture(scope="module")
def default_run(data):
    """The page's first run: the linear model, lr 1, init std 1, 30 epochs."""
    return list(train(config_of(DEFAULTS), data))


def test_lr_high_diverges_within_five_epochs_at_about_half(data):
    records = _run("lr_high", data)
    assert len(records) <= 5
    last = records[-1]
    assert last.diverged, "the run should stop as diverged"
    assert "saturated" in last.diverged
    assert last.valid_acc == pytest.approx(0.496, abs=0.002)  # 1010 / 2038: every image called a 7


def test_std_tiny_ends_ahead_of_init_std_one(data, default_run):
    records = _run("std_tiny", data)
    assert len(records) == 30 and not records[-1].diverged
    assert records[-1].valid_acc > default_run[-1].valid_acc
    assert records[-1].valid_acc == pytest.approx(0.98, abs=0.01)  # "about 98% against 97%"
    assert default_run[-1].valid_acc == pytest.approx(0.97, abs=0.01)


def test_shuffle_off_first_epoch_is_far_below_shuffle_on(data):
    off = next(train(config_of(preset_values("shuffle_off")), data))
    on = next(train(config_of(preset_values("shuffle_on")), data))
    assert off.epoch == on.epoch == 1
    assert off.valid_acc < 0.7
    assert on.valid_acc > 0.9
    assert off.valid_acc == pytest.approx(0.52, abs=0.03)  # "about 52% where a shuffled run scores 94%"
    assert on.valid_acc == pytest.approx(0.94, abs=0.02)


def test_two_layer_ends_above_the_linear_model(data, default_run):
    records = _run("two_layer", data)
    assert len(records) == 30 and not records[-1].diverged
    assert config_of(DEFAULTS).model == "linear" and config_of(DEFAULTS).epochs == 30
    assert records[-1].valid_acc > default_run[-1].valid_acc


def test_first_attempt_runs_off_below_zero(data):
    records = _run("first_attempt", data)
    last = records[-1]
    assert last.valid_loss < 0 and last.train_loss < 0
    assert "exploded" in last.diverged
    assert len(records) < 100, "the run stops when the loss explodes"


def test_empty_lists_and_an_only_naming_nothing_are_harmless():
    values, hidden, notes = from_query({"lr": [], "hide": [], "only": "bogus"})
    assert hidden == frozenset() and "Ignored lr=" in notes[0] and "Ignored only=bogus" in notes[1]


# --- one row per setting ---------------------------------------------------------------------------------------

def test_every_training_setting_has_one_row_with_the_libraries_default():
    import dataclasses
    trains = {name for name, c in CONTROLS.items() if c.trains}
    assert trains == {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(CONTROLS[name].default == getattr(TrainConfig(), name) for name in trains)


def test_the_command_line_has_a_flag_per_training_row():
    from digitviz.cli import parser
    args = parser().parse_args(["train"])
    assert {name: getattr(args, name) for name, c in CONTROLS.items() if c.trains} == \
        {name: c.default for name, c in CONTROLS.items() if c.trains}
    args = parser().parse_args(["train", "--lr", "0.5", "--batch-size", "7", "--shuffle", "--model", "softmax"])
    assert (args.lr, args.batch_size, args.shuffle, args.model) == (0.5, 7, True, "softmax")
