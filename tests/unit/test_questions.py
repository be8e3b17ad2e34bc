"""The question bank: each question's right option is what its experiment really does, and nothing else does it."""
import functools
import re

import pytest

from digitviz import load_digits, train
from digitviz.questions import BANK, CLAIMS, LESSON_30, claim_holds, custom_question
from digitviz.settings import DEFAULTS, PRESETS, config_of, digits_of


@functools.cache
def records_of(values):
    """The records of the run a page with these values (changes from the defaults) trains."""
    values = {**DEFAULTS, **dict(values)}
    return tuple(train(config_of(values), load_digits(digits_of(values))))


def run_of(values):
    return None if values is None else records_of(tuple(sorted(values.items())))


def test_the_bank_has_at_least_eight_questions_each_with_one_right_option():
    assert len(BANK) >= 8
    for key, q in BANK.items():
        assert q.key == key and 3 <= len(q.options) <= 4 and q.answer in range(len(q.options)), key
        assert len(set(q.options)) == len(q.options), key
        assert q.claim in CLAIMS, key
        config_of(q.settings())  # a run the library accepts


def test_each_explanation_is_two_sentences():
    for q in BANK.values():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", q.explanation.strip()) if s]
        assert len(sentences) == 2, (q.key, sentences)


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(BANK))
def test_the_right_option_is_what_the_experiment_does(key):
    q = BANK[key]
    assert claim_holds(q, run_of(q.values), run_of(q.compare)), (key, q.options[q.answer], run_of(q.values)[-1])


@pytest.mark.parametrize("key", sorted(BANK))
def test_the_page_s_default_run_does_not_do_it(key):
    """A claim the default run also meets would say nothing about the experiment."""
    q = BANK[key]
    lesson = run_of(LESSON_30)
    assert not claim_holds(q, lesson, lesson), key


def test_presets_and_questions_name_the_same_settings():
    """A question's values are page values, as a preset's are: every key is a setting the page has."""
    for q in BANK.values():
        assert set(q.values) <= set(DEFAULTS), q.key
    assert set().union(*(p.values for p in PRESETS.values())) <= set(DEFAULTS)


def test_a_teachers_question_keeps_what_they_changed_and_their_options():
    q = custom_question({**DEFAULTS, "lr": 3.0}, " What will lr 3 do? ", ["Diverge", " ", "Learn fast"], answer=1)
    assert q.values == {"lr": 3.0} and q.options == ("Diverge", "Learn fast") and q.answer == 1
    assert q.prompt == "What will lr 3 do?" and q.claim == ""
    assert custom_question(DEFAULTS, "Guess?", ["a", "b"]).answer is None  # a poll without a right answer


@pytest.mark.parametrize("prompt, options, answer, message", [
    ("", ["a", "b"], None, "1 to 200 characters"),
    ("x" * 201, ["a", "b"], None, "1 to 200 characters"),
    ("Why?", ["a"], None, "2 to 4 options"),
    ("Why?", ["a", "b", "c", "d", "e"], None, "2 to 4 options"),
    ("Why?", ["a", "a"], None, "same thing"),
    ("Why?", ["a", "b" * 121], None, "at most 120"),
    ("Why?", ["a", "b"], 2, "one of the options"),
])
def test_a_teachers_question_that_cannot_be_asked_says_why(prompt, options, answer, message):
    with pytest.raises(ValueError, match=message):
        custom_question(DEFAULTS, prompt, options, answer)
