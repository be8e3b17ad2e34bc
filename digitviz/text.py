"""What the page says about runs, baselines and posts, as plain strings and table rows.

Pure functions of values, so a unit test reads every sentence without a browser. Markdown emphasis (`**`) marks
the numbers a student should see first; anything that came from outside (a link, a file name, another student's
name) goes through `escape_markdown` before it meets Markdown.
"""
import math
import string

from digitviz.data import ALL_DIGITS
from digitviz.settings import LEARNING_RATES

STATUS_WORDS = {"running": "training…", "paused": "paused: **Resume** continues, **Step** adds one epoch",
                "done": "done", "diverged": "stopped: the run diverged"}


def escape_markdown(text):
    """Text shown literally by Streamlit's Markdown: every punctuation mark backslashed, so no link, image,
    emphasis or HTML can be made from it."""
    return "".join("\\" + c if c in string.punctuation else c for c in str(text))


def digits_label(digits):
    """'3s vs 7s', or 'all ten digits'."""
    return "all ten digits" if tuple(digits) == ALL_DIGITS else f"{digits[0]}s vs {digits[1]}s"


def title(digits):
    """The page's heading for the digits it trains on."""
    if tuple(digits) == ALL_DIGITS:
        return "Watch a model learn all ten digits"
    return f"Watch a model learn to tell {digits[0]}s from {digits[1]}s"


def article(digit):
    """'a' or 'an' as the digit is spoken: an 8, a 7."""
    return "an" if digit == 8 else "a"


def either(digits):
    """What a student may draw: 'a 3 or a 7', 'a 1 or an 8', or 'any digit'."""
    if tuple(digits) == ALL_DIGITS:
        return "any digit"
    return " or ".join(f"{article(d)} {d}" for d in digits)


def describe(run):
    """A run's settings in one line of Markdown."""
    c = run.config
    return (f"**{c.model}** model, **{c.loss}**, {digits_label(run.digits)}, lr **{c.lr:g}**, batch {c.batch_size}, "
            f"init std {c.init_std:g}, seed {c.seed}{', shuffled' if c.shuffle else ''}")


def status_text(run):
    return f"Run {run.number}, {describe(run)}: {STATUS_WORDS[run.status]}"


def baseline_text(digits, baseline):
    """How the mean-image baseline decides, and how well it does on the validation set."""
    if tuple(digits) == ALL_DIGITS:
        return (f"A digit is called whichever digit's mean image it is closest to. Validation accuracy: "
                f"**{baseline.l1.overall:.2%}** with the lesson's L1 distance, **{baseline.l2.overall:.2%}** with L2.")
    a, b = digits
    return (f"A digit is called {article(a)} **{a}** when it is closer to the mean {a} than to the mean {b}. "
            f"Validation accuracy: **{baseline.l1.overall:.2%}** with the lesson's L1 distance "
            f"({a}s {baseline.l1.first:.2%}, {b}s {baseline.l1.second:.2%}), **{baseline.l2.overall:.2%}** with L2.")


def suggested_lr(lr):
    """A tenth of the rate that blew up, snapped to the slider's choices."""
    return max([r for r in LEARNING_RATES if r <= lr / 10] or [LEARNING_RATES[0]])


def divergence_advice(run):
    """Why the run stopped and what to try, for a diverged run's last record."""
    last = run.last
    return (f"**The run diverged at epoch {last.epoch}**: {last.diverged}. The learning rate "
            f"({run.config.lr:g}) is too high for this model: try ten times smaller "
            f"({suggested_lr(run.config.lr):g}), or the lesson's 1, then press **Train**.")


def ms_per_epoch(record, epochs_trained):
    """Training time per epoch so far, from a record and how many epochs it covers."""
    return f"{1000 * record.seconds / epochs_trained:.1f} ms an epoch"


def short_digits(digits):
    """'3 vs 7', or 'all': a table's digits column."""
    return "all" if tuple(digits) == ALL_DIGITS else f"{digits[0]} vs {digits[1]}"


def finite_or_none(value, places=4):
    return round(value, places) if math.isfinite(value) else None


def run_row(run):
    """One row of the Compare runs table."""
    c, last = run.config, run.last
    return {"run": run.number, "digits": short_digits(run.digits), "model": c.model, "loss": c.loss, "lr": c.lr,
            "batch": c.batch_size, "init std": c.init_std, "shuffle": c.shuffle, "seed": c.seed,
            "epochs": last.epoch, "accuracy": round(last.valid_acc, 4),
            "loss value": finite_or_none(last.valid_loss), "status": run.status}


def post_row(post):
    """One row of the class board's tables."""
    s = post.settings
    return {"name": post.name, "accuracy": f"{post.accuracy:.2%}", "epochs": post.epochs,
            "settings": f"{s.get('model')}, lr {s.get('lr')}, batch {s.get('batch_size')}",
            "posted": post.created_at.strftime("%H:%M:%S")}
