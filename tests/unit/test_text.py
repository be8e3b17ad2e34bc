"""What the page says, as plain strings."""
import dataclasses
import re
from types import SimpleNamespace

import pytest

from digitviz import TrainConfig, text, train
from digitviz.data import ALL_DIGITS
from digitviz.text import (
    WORD_JOINER,
    article,
    digits_label,
    divergence_advice,
    either,
    escape_markdown,
    plain_markdown,
    remedy,
    run_row,
    status_text,
    suggested_lr,
    title,
)
from digitviz.workers import Waiting


def run(**config):
    last = SimpleNamespace(epoch=3, valid_acc=0.91234, valid_loss=float("nan"))
    return SimpleNamespace(number=2, config=TrainConfig(**config), digits=(3, 7), status="paused", last=last,
                           paused_because="", lr_changes=[])


def test_digits_read_as_the_lesson_says_them():
    assert digits_label((3, 7)) == "3s vs 7s" and digits_label(ALL_DIGITS) == "all ten digits"
    assert title((1, 8)) == "Watch a model learn to tell 1s from 8s"
    assert either((1, 8)) == "a 1 or an 8" and either(ALL_DIGITS) == "any digit" and article(8) == "an"


def test_status_line_names_the_settings_and_what_to_do():
    line = status_text(run(lr=0.1, shuffle=True))
    assert line.startswith("Run 2, **linear** model") and "lr **0.1**" in line and "shuffled" in line
    assert "**Resume** continues" in line


def test_a_diverged_loss_shows_as_empty_in_the_table():
    row = run_row(run())
    assert row["accuracy"] == 0.9123 and row["loss value"] is None and row["digits"] == "3 vs 7"


def test_suggested_rate_is_a_tenth_snapped_to_the_slider():
    assert suggested_lr(1000.0) == 100.0 and suggested_lr(3.0) == 0.3 and suggested_lr(0.001) == 0.001


def test_escaped_text_makes_no_link_image_or_html():
    text = escape_markdown("[Sign in](https://evil.example) ![x](http://x/y.png) <b>hi</b>")
    assert all(f"\\{c}" in text for c in "[]()!<>")


@pytest.mark.parametrize("changes", [
    {"lr": 1000.0, "epochs": 20},  # saturates at once
    {"lr": 100.0, "epochs": 30},  # the "too high" preset: a tenth of 1000 diverges too
    {"loss": "first_attempt", "lr": 1.0, "epochs": 30},
    {"loss": "first_attempt", "lr": 0.01, "epochs": 100},  # the first-attempt preset: its cause is the loss
])
def test_divergence_advice_names_settings_that_train(changes, data):
    """Each piece of advice, followed, gives a run that does not diverge and beats the mean-image baseline."""
    config = TrainConfig(**changes)
    *_, last = train(config, data)
    assert last.diverged, "the case no longer diverges: pick another"
    advice = divergence_advice(config, last)
    fix = remedy(config)
    shown = [f"{v:g}" if isinstance(v, float) else v for v in fix.values()]
    assert all(f"**{v}**" in advice or f"lr {v}" in advice for v in shown), advice
    *_, fixed = train(dataclasses.replace(config, **fix), data)
    assert not fixed.diverged and fixed.valid_acc > 0.9514
    if config.loss == "first_attempt":
        assert "not the learning rate" in advice and f"{last.valid_acc:.1%}" in advice


@pytest.mark.parametrize("raw", ["[Sign in](https://evil.example/login)", "![x](http://evil.example/y.png)",
                                 "<img src=x onerror=alert(1)>", "www.evil.example", "ada@evil.example",
                                 "**bold** _it_ `code` # head :material/home: $x^2$", "<https://evil.example>"])
def test_escaped_text_renders_as_plain_text_in_markdown(raw):
    """Rendered by a CommonMark parser, the escaped text has no link, image, HTML or emphasis: just its text."""
    from markdown_it import MarkdownIt
    tokens = MarkdownIt("commonmark").enable("table").parseInline(escape_markdown(raw))[0].children
    assert [t.type for t in tokens] == ["text"] and tokens[0].content == raw


# The literal autolinks of GitHub-flavoured Markdown as Streamlit's page finds them in text, after escapes are
# resolved (mdast-util-gfm-autolink-literal's two patterns).
GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE)
GFM_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")


@pytest.mark.parametrize("raw", ["[Sign in](https://evil.example/login)", "https://evil.example", "WWW.evil.example",
                                 "ada@evil.example", "mailto:ada@evil.example", "lr=abc", "![x](http://x/y.png)"])
def test_plain_markdown_leaves_no_autolink_and_reads_as_typed(raw):
    """Escaped, the text is one text token in CommonMark; GitHub's autolinks find nothing in it; and what a person
    reads (the word joiners are invisible) is the text as typed."""
    from markdown_it import MarkdownIt
    assert GFM_URL.search(raw) or GFM_EMAIL.search(raw) or raw in ("lr=abc", "![x](http://x/y.png)")
    tokens = MarkdownIt("commonmark").parseInline(plain_markdown(raw))[0].children
    assert [t.type for t in tokens] == ["text"]
    shown = tokens[0].content
    assert not GFM_URL.search(shown) and not GFM_EMAIL.search(shown), shown
    assert shown.replace(WORD_JOINER, "") == raw


def test_a_waiting_run_hears_why_it_waits():
    """Busy with others' runs, or the server's workers still starting: the words say which (a cold server told a
    first student that other students' runs were training)."""
    busy = text.waiting(Waiting(2, 3.2))
    assert "other students' runs" in busy and "2nd in line" in busy and "about 4 s" in busy
    cold = text.waiting(Waiting(1, 0.4, starting=True))
    assert "other students" not in cold and "just started" in cold and "in line" not in cold
    assert "any moment now" in cold
    assert "3rd in line" in text.waiting(Waiting(3, 5.0, starting=True))
