"""Questions for a class round: an experiment from the lesson, what might happen, and what does.

Peer instruction asks a class to commit to a prediction before it sees the result. Each `Question` here is one of
the lesson's experiments (page values, like a preset's), three or four outcomes, the one that happens and why in
two sentences. What the right option claims is a property of the run, checked by `claim_holds` on the run's own
records (and the lesson's 30-epoch run where it compares with it): tests/unit/test_questions.py trains each
experiment and checks it, as the presets' notes are checked.

A teacher can also ask about their own settings with their own options (`custom_question`); nothing checks those.
"""
from dataclasses import dataclass

from digitviz.settings import DEFAULTS

PROMPT_MAX, OPTION_MAX, EXPLANATION_MAX = 200, 120, 400  # a teacher's own question: one screen on a phone


@dataclass(frozen=True)
class Question:
    """An experiment to predict: its page values, the options, which is right, and why."""
    key: str
    prompt: str
    values: dict  # the page values it changes from the defaults, as a preset's
    options: tuple  # 3 or 4 outcomes, in the order shown
    answer: int | None  # the index of the right option; None for a teacher's question without one
    explanation: str = ""
    claim: str = ""  # what `claim_holds` checks on the run for the right option; "" for a teacher's own
    compare: dict | None = None  # the page values of the run it compares with, if its claim needs one

    def settings(self):
        """The complete page values of the experiment."""
        return {**DEFAULTS, **self.values}


def _final(records):
    return records[-1]


# Each claim is a test on the experiment's records (and the compared run's, if any): what the right option says.
CLAIMS = {
    "ends_above": lambda run, other: not _final(run).diverged and _final(run).valid_acc > _final(other).valid_acc,
    "ends_well_below": lambda run, other: (not _final(run).diverged
                                           and _final(run).valid_acc < _final(other).valid_acc - 0.02),
    "stuck_at_half": lambda run, other: bool(_final(run).diverged) and abs(_final(run).valid_acc - 0.5) < 0.05,
    "first_epoch_near_half": lambda run, other: abs(run[0].valid_acc - 0.5) < 0.06,
    "loss_runs_off_below_zero": lambda run, other: bool(_final(run).diverged) and _final(run).valid_loss < 0,
    "well_under_half": lambda run, other: _final(run).valid_acc < 0.5,
    "gains_a_little": lambda run, other: 0 < _final(run).valid_acc - _final(other).valid_acc < 0.03,
}
LESSON_30 = {}  # no changes: the page's default run, 30 epochs of the lesson, which most questions compare with


def claim_holds(question, records, compared=None):
    """Whether the run's records do what the question's right option says."""
    return CLAIMS[question.claim](records, compared)


BANK = {q.key: q for q in (
    Question("lr_10", "The lesson trains at learning rate 1. At 10 instead, where does validation accuracy end "
             "after 30 epochs?",
             {"lr": 10.0},
             ("It diverges: stuck near 50%.", "It learns, but ends below lr 1's 97%.",
              "It ends above lr 1's 97%."),
             2, "Steps ten times longer still land in the valley, since the sigmoid squashes the outputs and keeps "
             "mnist_loss's gradient small. Too big starts further out: try 100.",
             "ends_above", LESSON_30),
    Question("lr_100", "Learning rate 100 instead of 1: what does validation accuracy do?",
             {"lr": 100.0},
             ("It climbs faster than at lr 1.", "It ends about where lr 1 ends.",
              "It zigzags up and down but ends near 97%.", "It is stuck at about 50%: the run diverges."),
             3, "The first steps push every prediction to exactly 0 or 1, where the sigmoid is flat. Its gradient is "
             "then zero, so the weights stop moving and the model guesses.",
             "stuck_at_half"),
    Question("std_0", "Every weight starts at exactly zero (init std 0). After 30 epochs?",
             {"init_std": 0.0},
             ("It cannot learn: without random weights there is no gradient.",
              "It learns, but ends behind init std 1.", "It learns, and ends ahead of init std 1."),
             2, "A linear model's gradient is the pixels times the error, which needs no random start. Starting at "
             "zero, the weights hold only what SGD learned, with no noise to undo.",
             "ends_above", LESSON_30),
    Question("std_3", "Init std 3 instead of 1 (the random start three times as large). After 30 epochs?",
             {"init_std": 3.0},
             ("It ends about where init std 1 ends.", "It learns more slowly and ends well behind.",
              "It diverges."),
             1, "So large a start saturates the sigmoid for many images, where its gradient is tiny. Learning is slow "
             "until SGD has pulled those weights back.",
             "ends_well_below", LESSON_30),
    Question("batch_1", "Batch size 1 for one epoch: 12,396 SGD steps instead of 49, unshuffled (all 3s, then all "
             "7s). Validation accuracy after that epoch?",
             {"batch_size": 1, "epochs": 1},
             ("Above 95%: so many more steps.", "About the same as batch 256 after one epoch.",
              "About 50%: it ends up calling everything a 7."),
             2, "Each step follows one image, and the last 6,000 steps saw only 7s. So the model ends the epoch "
             "pulled towards 7 for every image, and is right about half the time.",
             "first_epoch_near_half"),
    Question("shuffle_off", "Batch size 64, no shuffling (all 3s, then all 7s). Validation accuracy after the first "
             "epoch?",
             {"shuffle": False, "batch_size": 64, "epochs": 1},
             ("Above 90%, as with shuffling.", "About 75%.", "About 50%: the epoch ends on 7s."),
             2, "Without shuffling, the epoch's last 98 batches are all 7s, and each one pulls the model further "
             "towards 7. Shuffled, every batch mixes both, and the first epoch already scores about 94%.",
             "first_epoch_near_half"),
    Question("first_attempt", "The lesson's first attempt at a loss: the distance from the target without a sigmoid "
             "(lr 0.01, 100 epochs). What does the loss do?",
             {"loss": "first_attempt", "lr": 0.01, "epochs": 100},
             ("It falls towards 0 and stays there.", "It falls below zero and runs off until the run stops.",
              "It stays flat: nothing is learned."),
             1, "Without the sigmoid a prediction can go past its target for ever, and the loss keeps falling by "
             "pushing predictions further out. That is why the lesson adds the sigmoid.",
             "loss_runs_off_below_zero"),
    Question("ten_unshuffled", "All ten digits, sorted by label and not shuffled. Validation accuracy after 3 epochs?",
             {"digits": "all", "shuffle": False, "epochs": 3},
             ("About 90%, as shuffled.", "Well under half: each epoch ends on 9s.", "Exactly 10%: it guesses."),
             1, "Every batch holds one digit, so each epoch drags the model towards 0s, then 1s, and ends on 9s. "
             "Shuffled, the same model passes 85% in its first epoch.",
             "well_under_half"),
    Question("epochs_300", "300 epochs instead of 30: where does validation accuracy end?",
             {"epochs": 300},
             ("It climbs to 100%.", "It gains about a point and levels off near 98.5%.",
              "It falls: the model overfits."),
             1, "Most of the learning happens in the first epochs; after that each epoch adds less. A linear model is "
             "too simple to memorise the training set, so it neither reaches 100% nor falls apart.",
             "gains_a_little", LESSON_30),
    Question("two_layer", "The two-layer net (Linear-ReLU-Linear, 30 hidden units) for 30 epochs, against the "
             "linear model's 97%?",
             {"model": "two_layer"},
             ("It ends below the linear model.", "It ends level with it.", "It ends above it."),
             2, "The hidden layer lets it combine 30 templates instead of one. Even on 3s against 7s, that is worth "
             "about a point.",
             "ends_above", LESSON_30),
)}


def custom_question(values, prompt, options, answer=None, explanation=""):
    """A teacher's own question over their current settings; ValueError says what is wrong with it."""
    prompt, explanation = str(prompt).strip(), str(explanation).strip()
    options = tuple(str(o).strip() for o in options if str(o).strip())
    if not 0 < len(prompt) <= PROMPT_MAX:
        raise ValueError(f"A question is 1 to {PROMPT_MAX} characters.")
    if not 2 <= len(options) <= 4:
        raise ValueError("A question needs 2 to 4 options.")
    if any(len(o) > OPTION_MAX for o in options):
        raise ValueError(f"Each option is at most {OPTION_MAX} characters.")
    if len(set(options)) != len(options):
        raise ValueError("Two options say the same thing.")
    if answer is not None and answer not in range(len(options)):
        raise ValueError("The right answer must be one of the options.")
    if len(explanation) > EXPLANATION_MAX:
        raise ValueError(f"The explanation is at most {EXPLANATION_MAX} characters.")
    changed = {k: v for k, v in values.items() if k in DEFAULTS and DEFAULTS[k] != v}
    return Question("custom", prompt, changed, options, answer, explanation)
