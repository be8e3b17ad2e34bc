"""What the page says about runs, baselines and posts, as plain strings and table rows.

Pure functions of values, so a unit test reads every sentence without a browser. Markdown emphasis (`**`) marks
the numbers a student should see first; anything that came from outside (a link, a file name, another student's
name) goes through `plain_markdown` before it meets Markdown.
"""
import math
import re

from digitviz.board import inert
from digitviz.data import ALL_DIGITS
from digitviz.settings import LEARNING_RATES

STATUS_WORDS = {"running": "training…", "paused": "paused: **Resume** continues, **Step** adds one epoch",
                "done": "done", "diverged": "stopped: the run diverged",
                "remembered": "brought back from this browser's memory, training it again…"}


# What can start a link, an image, HTML, emphasis, a heading, a table, maths, an emoji or icon (:name:) in
# Streamlit's Markdown; "www." and "@" start the autolinks that GitHub-flavoured Markdown makes of bare text.
_MARKUP = set("\\`*[]()<>!#|~$:{}@")


def escape_markdown(text):
    """Text that Streamlit's Markdown shows exactly as it is: no link, image, HTML or formatting can be made
    from it. Plain words, numbers, '=', '.' and '_' inside a word stay as they are, so notes stay readable."""
    text, out = str(text), []
    for i, c in enumerate(text):
        inside_word = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        autolink = c == "." and text[max(0, i - 3):i].lower() == "www"
        out.append("\\" + c if c in _MARKUP or (c == "_" and not inside_word) or autolink else c)
    return "".join(out)


# Streamlit's Markdown is GitHub-flavoured: it turns "https://", "www." and "a@b.c" in the text into links after
# escapes are resolved, so a backslash cannot stop them; an invisible word joiner inside each one does.
WORD_JOINER = "\u2060"
_AUTOLINKS = re.compile(r"(?<=\\:)(?=//)|(?i:www)(?=\\\.)|(?<=\\@)")


def plain_markdown(text):
    """Text from outside (a link, a file name) as Markdown that Streamlit shows as that text and nothing else:
    escaped, and with a word joiner where GitHub-flavoured Markdown would start an autolink."""
    return _AUTOLINKS.sub(lambda m: m.group() + WORD_JOINER, escape_markdown(text))


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


def lr_changes(changes):
    """'→ 0.1 at epoch 91': where a run went on at another learning rate; '' if it never did."""
    return ", ".join(f"→ {lr:g} at epoch {epoch}" for epoch, lr in changes)


def lr_history(lr, changes):
    """'1', or '1 → 0.1 at epoch 91': the learning rate a run started at and every change after."""
    return " ".join([f"{lr:g}", lr_changes(changes)]).strip()


def describe(run):
    """A run's settings in one line of Markdown."""
    return config_words(run.config, run.digits, run.lr_changes)


def config_words(c, digits, changes=()):
    """Settings in one line of Markdown: **linear** model, **mnist_loss**, 3s vs 7s, lr **1**, batch 256, ..."""
    return (f"**{c.model}** model, **{c.loss}**, {digits_label(digits)}, "
            f"lr **{lr_history(c.lr, changes)}**, batch {c.batch_size}, "
            f"init std {c.init_std:g}, seed {c.seed}{', shuffled' if c.shuffle else ''}")


def status_text(run):
    """'Run 2, <settings>: done', with why a paused run paused when the student didn't press Stop."""
    why = f" ({run.paused_because})" if run.status == "paused" and run.paused_because else ""
    return f"Run {run.number}, {describe(run)}: {STATUS_WORDS[run.status]}{why}"


def first_step(hidden):
    """What to do on a fresh page, naming only the controls it shows."""
    shown = [name for key, name in (("lr", "the learning rate"), ("epochs", "epochs")) if key not in hidden]
    # "Settings" is what a student sees on any screen: the sidebar's heading, or on a phone the panel at the top
    where = f"Set {' and '.join(shown)} under **Settings**, then press" if shown else "Press"
    return f"{where} **Train**."


def baseline_text(digits, baseline):
    """How the mean-image baseline decides, and how well it does on the validation set."""
    if tuple(digits) == ALL_DIGITS:
        return (f"A digit is called whichever digit's mean image it is closest to. Validation accuracy: "
                f"**{baseline.l1.overall:.2%}** with the lesson's L1 distance, **{baseline.l2.overall:.2%}** with L2.")
    a, b = digits
    return (f"A digit is called {article(a)} **{a}** when it is closer to the mean {a} than to the mean {b}. "
            f"Validation accuracy: **{baseline.l1.overall:.2%}** with the lesson's L1 distance "
            f"({a}s {baseline.l1.first:.2%}, {b}s {baseline.l1.second:.2%}), **{baseline.l2.overall:.2%}** with L2.")


UNSHUFFLED_TEN = ("Shuffle is off: the ten digits come sorted by label, so every batch holds a single digit and each "
                  "step drags the model towards that one digit. Such a run ends far below the mean-image baseline; "
                  "switch **Shuffle each epoch** on.")


LESSON_LR = 1.0  # the lesson's rate, which trains every model here without diverging (tests check each)


def remedy(config):
    """The settings to change after this config diverged: the lesson's sigmoid for the loss without one (a smaller
    rate only delays that), else the lesson's learning rate, or a tenth of a rate already at or below it."""
    if config.loss == "first_attempt":
        return {"loss": "mnist_loss", "lr": LESSON_LR}
    return {"lr": LESSON_LR if config.lr > LESSON_LR else suggested_lr(config.lr)}


def ordinal(n):
    """1st, 2nd, 3rd, 4th, 11th, 22nd."""
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def waiting(item):
    """A run waiting for a worker (digitviz.workers.Waiting): why, its place in line and an honest estimate."""
    if item.slot:
        return ("Waiting for a free training slot: other students' runs are training on this server right now. "
                "Yours starts as soon as it is its turn.")
    when = "any moment now" if item.eta_seconds < 1 else f"in about {math.ceil(item.eta_seconds)} s"
    if item.starting:
        place = "" if item.position == 1 else f" Yours is {ordinal(item.position)} in line."
        return (f"The server has just started and is getting its training processes ready.{place} "
                f"Training starts {when}.")
    return (f"Waiting for a free training process: other students' runs are training on this server. Yours is "
            f"{ordinal(item.position)} in line and should start {when}.")


def suggested_lr(lr):
    """A tenth of the rate that blew up, snapped to the slider's choices."""
    return max([r for r in LEARNING_RATES if r <= lr / 10] or [LEARNING_RATES[0]])


def divergence_advice(config, last):
    """Why a run stopped, its cause and settings that train: for the config it last trained with, and its last
    (diverged) record."""
    if config.loss == "first_attempt":
        return (f"**The run stopped at epoch {last.epoch}**: {last.diverged}, while accuracy was still "
                f"{last.valid_acc:.1%}. The cause is the loss, not the learning rate: without a sigmoid it has no "
                f"floor, so SGD lowers it for ever by pushing predictions further out, and a smaller rate only "
                f"delays that. The lesson's fix is the sigmoid: choose the loss **mnist_loss** (with the lesson's "
                f"lr 1), then press **Train**.")
    fix = remedy(config)["lr"]
    smaller = (f"the lesson's **{fix:g}**" if fix == LESSON_LR else f"**{fix:g}** (ten times smaller)")
    return (f"**The run diverged at epoch {last.epoch}**: {last.diverged}. The learning rate ({config.lr:g}) is "
            f"too high for this model: each step overshoots. Try {smaller}, then press **Train**.")


def ms_per_epoch(record, epochs_trained):
    """Training time per epoch so far, from a record and how many epochs it covers."""
    return f"{1000 * record.seconds / epochs_trained:.1f} ms an epoch"


def short_digits(digits):
    """'3 vs 7', or 'all': a table's digits column ('?' for a post from before digits were kept)."""
    digits = tuple(digits)
    return "all" if digits == ALL_DIGITS else f"{digits[0]} vs {digits[1]}" if len(digits) == 2 else "?"


def finite_or_none(value, places=4):
    return round(value, places) if math.isfinite(value) else None


def run_row(run):
    """One row of the Compare runs table."""
    c, last = run.config, run.last
    return {"run": run.number, "digits": short_digits(run.digits), "model": c.model, "loss": c.loss, "lr": c.lr,
            "batch": c.batch_size, "init std": c.init_std, "shuffle": c.shuffle, "seed": c.seed,
            "lr changes": lr_changes(run.lr_changes), "epochs": last.epoch, "accuracy": round(last.valid_acc, 4),
            "loss value": finite_or_none(last.valid_loss), "status": run.status}


def post_row(post):
    """One row of the class board's tables: every setting that decides the run. The table's own CSV download
    is an export too, so a name that a spreadsheet would run as a formula is shown inert."""
    s = post.settings
    lr = lr_history(s.get("lr", 0), s.get("lr_changes", []))
    return {"name": inert(post.name), "digits": short_digits(s.get("digits", ())), "accuracy": f"{post.accuracy:.2%}",
            "epochs": post.epochs, "settings": f"{s.get('model')}, {s.get('loss')}, lr {lr}, batch "
            f"{s.get('batch_size')}, init std {s.get('init_std')}, seed {s.get('seed')}"
            f"{', shuffled' if s.get('shuffle') else ''}", "posted": post.created_at.strftime("%H:%M:%S")}
