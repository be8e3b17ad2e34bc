"""A realistic class, for the load benchmark and the system tests: each student its own seed, one of the lesson's
learning rates and init stds, and one in five at another batch size (which trains in another carpool)."""
from urllib.parse import urlencode

from digitviz.settings import DEFAULTS, to_query

LESSON_RATES = (1.0, 0.1, 3.0)  # the lesson's rate, and the neighbours a student tries first
LESSON_STDS = (1.0, 0.5)  # the lesson's init std (`init_params(..., std=1.0)`), and a smaller one
OTHER_BATCH_SIZE = 64


def student_values(i, seed, epochs):
    """The page values of the class's i-th student (0-based), training `epochs` epochs from `seed`."""
    values = {**DEFAULTS, "seed": seed, "epochs": epochs, "lr": LESSON_RATES[i % len(LESSON_RATES)],
              "init_std": LESSON_STDS[i // len(LESSON_RATES) % len(LESSON_STDS)]}
    if i % 5 == 4:
        values["batch_size"] = OTHER_BATCH_SIZE
    return values


def link_query(values):
    """The query string of a link that opens the page with these values."""
    return urlencode(to_query(values))
