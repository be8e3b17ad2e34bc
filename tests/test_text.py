"""What the page says, as plain strings."""
from types import SimpleNamespace

from digitviz import TrainConfig
from digitviz.data import ALL_DIGITS
from digitviz.text import (article, digits_label, either, escape_markdown, run_row, status_text, suggested_lr,
                           title)


def run(**config):
    last = SimpleNamespace(epoch=3, valid_acc=0.91234, valid_loss=float("nan"))
    return SimpleNamespace(number=2, config=TrainConfig(**config), digits=(3, 7), status="paused", last=last)


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
