"""Class rounds in the board's database (SQLite, and PostgreSQL with DIGITVIZ_TEST_POSTGRES_URL): stages in order,
one vote per student per stage, counted exactly, refused once its stage has closed, gone when the round expires."""
import csv
import io
import threading
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from digitviz import rounds as rounds_module
from digitviz.board import BoardError
from digitviz.figures_rounds import RIGHT, predictions_figure, sketch_lines, votes_figure
from digitviz.questions import BANK, custom_question
from digitviz.rounds import (
    CLOSED,
    CODE_LENGTH,
    CODE_LETTERS,
    GONE,
    ROUND_HOURS,
    SKETCH_POINTS,
    Rounds,
    check_sketch,
    round_csv,
    sketch_points,
    votes_table,
)
from digitviz.settings import DEFAULTS

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
PASS = "correct horse"
Q = BANK["lr_100"]  # four options, the right one is 3


@pytest.fixture
def rounds(board):
    return Rounds(board)


def opened(rounds, question=Q, now=T0):
    return rounds.open(question, PASS, PASS, now=now)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def test_a_round_opens_with_a_short_code_and_its_question(rounds):
    code = opened(rounds)
    assert len(code) == CODE_LENGTH and set(code) <= set(CODE_LETTERS)
    r = rounds.get(code, now=at(1))
    assert r.question == Q and r.stage == "vote" and r.votes == {}
    assert r.expires_at == T0 + timedelta(hours=ROUND_HOURS)
    assert opened(rounds) != code  # a second round gets its own code


def test_a_teachers_own_question_comes_back_whole(rounds):
    own = custom_question({**DEFAULTS, "lr": 3.0}, "lr 3?", ["Diverges", "Learns"], answer=None)
    assert rounds.get(opened(rounds, own), now=at(1)).question == own


def test_only_the_teacher_opens_and_moves_a_round(rounds):
    with pytest.raises(BoardError, match="Wrong passphrase: no round was opened"):
        rounds.open(Q, "guess", PASS, now=T0)
    code = opened(rounds)
    with pytest.raises(BoardError, match="Wrong passphrase: the round did not move on"):
        rounds.advance(code, "reveal", "guess", PASS, now=at(1))
    assert rounds.get(code, now=at(2)).stage == "vote"


def test_votes_are_counted_once_per_student_and_can_change_until_the_stage_closes(rounds):
    code = opened(rounds)
    for i, option in enumerate([3, 3, 0, 1, 3]):
        assert rounds.vote(code, "vote", f"s{i}", option, now=at(i)) == 1
    rounds.vote(code, "vote", "s2", 3, now=at(10))  # s2 changes their mind: still one vote
    r = rounds.get(code, now=at(11))
    assert r.counts(1) == [0, 1, 0, 4] and r.voters(1) == 5
    assert r.own("s2") == {1: r.votes[1]["s2"]} and r.votes[1]["s2"].option == 3


def test_vote_again_keeps_the_first_vote_and_counts_who_moved_to_the_right_answer(rounds):
    code = opened(rounds)
    first = {"a": 0, "b": 1, "c": 3, "d": 0}
    for s, option in first.items():
        rounds.vote(code, "vote", s, option, now=at(1))
    rounds.advance(code, "vote_again", PASS, PASS, now=at(2))
    second = {"a": 3, "b": 1, "c": 3, "e": 3}  # a moved to the right answer, b stayed wrong, e is new, d abstained
    for s, option in second.items():
        assert rounds.vote(code, "vote_again", s, option, now=at(3)) == 2
    r = rounds.get(code, now=at(4))
    assert r.counts(1) == [2, 1, 0, 1] and r.counts(2) == [0, 1, 0, 3]
    assert r.moved_to_right() == (1, 3)  # one of the three who voted twice went from wrong to right
    assert r.own("a") == {1: r.votes[1]["a"], 2: r.votes[2]["a"]}


@pytest.mark.parametrize("moved_to, message", [("vote_again", CLOSED["vote_again"]), ("reveal", CLOSED["reveal"]),
                                               ("closed", CLOSED["closed"])])
def test_a_vote_from_a_stage_that_closed_is_refused_with_a_sentence(rounds, moved_to, message):
    code = opened(rounds)
    rounds.advance(code, moved_to, PASS, PASS, now=at(1))
    with pytest.raises(BoardError) as e:
        rounds.vote(code, "vote", "late", 3, now=at(2))  # the page still showed the first vote
    assert str(e.value) == message
    assert rounds.get(code, now=at(3)).voters(1) == 0 and rounds.get(code, now=at(3)).voters(2) == 0


def test_stages_only_move_forwards(rounds):
    code = opened(rounds)
    rounds.advance(code, "reveal", PASS, PASS, now=at(1))  # straight to the reveal: no second vote
    with pytest.raises(BoardError, match="already at 'reveal'"):
        rounds.advance(code, "vote_again", PASS, PASS, now=at(2))
    with pytest.raises(BoardError, match="moves on to one of"):
        rounds.advance(code, "vote", PASS, PASS, now=at(3))


def test_a_round_expires_and_its_votes_go_with_it(rounds):
    code = opened(rounds)
    rounds.vote(code, "vote", "s", 3, now=at(1))
    later = T0 + timedelta(hours=ROUND_HOURS)
    for action in (lambda: rounds.get(code, now=later), lambda: rounds.vote(code, "vote", "t", 3, now=later),
                   lambda: rounds.advance(code, "reveal", PASS, PASS, now=later)):
        with pytest.raises(BoardError) as e:
            action()
        assert str(e.value) == GONE
    newer = opened(rounds, now=later)  # opening a round clears the expired ones away
    assert rounds.get(newer, now=later).votes == {}
    with pytest.raises(BoardError, match="has ended"):
        rounds.get("ZZZZ", now=later)  # a code that never was


@pytest.mark.parametrize("kwargs, message", [
    ({"option": 4}, "Pick one of the options"),
    ({"option": -1}, "Pick one of the options"),
    ({"option": True}, "Pick one of the options"),
    ({"option": "3"}, "Pick one of the options"),
    ({"option": 3, "sketch": [[0, 0.5]]}, f"2 to {SKETCH_POINTS} points"),
    ({"option": 3, "sketch": [[0, 0.5], [1, 1.5]]}, "inside the chart"),
    ({"option": 3, "sketch": [[0, 0.5], [1, float("nan")]]}, "inside the chart"),
    ({"option": 3, "sketch": [[0, 0.1]] * (SKETCH_POINTS + 1)}, "points"),
    ({"option": 3, "sketch": "a curve"}, "list of points"),
    ({"option": 3, "name": "\u200b"}, "plain text|visible"),
])
def test_a_bad_vote_says_what_is_wrong_and_counts_nothing(rounds, kwargs, message):
    code = opened(rounds)
    with pytest.raises(BoardError, match=message):
        rounds.vote(code, "vote", "s", now=at(1), **kwargs)
    assert rounds.get(code, now=at(2)).voters(1) == 0


def test_a_sketch_and_a_name_come_back(rounds):
    code = opened(rounds)
    rounds.vote(code, "vote", "s", 3, sketch=[[0, 0.5], [0.5, 0.9], [1, 0.97]], name=" Ada ", now=at(1))
    vote = rounds.get(code, now=at(2)).votes[1]["s"]
    assert vote.sketch == ((0.0, 0.5), (0.5, 0.9), (1.0, 0.97)) and vote.name == "Ada"


def test_a_servers_pages_share_a_fresh_read_and_see_its_writes_at_once(rounds, board, monkeypatch):
    code = rounds.open(Q, PASS, PASS)  # opened now, and read as the page reads it (no `now`)
    first = rounds.get(code)
    assert rounds.get(code) is first  # a class's pages within FRESH_SECONDS: one read of the database
    Rounds(board).vote(code, "vote", "s1", 1)  # through another Rounds of this process: seen at once
    seen = rounds.get(code)
    assert seen.counts(1) == [0, 1, 0, 0]
    with board.engine.begin() as conn:  # another replica's vote, straight into the database
        conn.execute(votes_table.insert().values(code=code, vote=1, session_id="s2", option=3,
                                                 voted_at=datetime.now(timezone.utc)))
    assert rounds.get(code) is seen  # not yet: the shared read is still fresh
    monkeypatch.setattr(rounds_module, "FRESH_SECONDS", 0.0)
    assert rounds.get(code).counts(1) == [0, 1, 0, 1]  # once it is not


def test_pages_asking_at_once_for_a_stale_round_share_one_read(rounds, monkeypatch):
    code = rounds.open(Q, PASS, PASS)
    rounds.vote(code, "vote", "s1", 1)  # a write: no fresh read to share
    reads, read = [], rounds._read

    def slow_read(*args):  # a database read that takes a while, as under a class's load
        reads.append(args)
        time.sleep(0.2)
        return read(*args)

    monkeypatch.setattr(rounds, "_read", slow_read)
    seen = []
    pages = [threading.Thread(target=lambda: seen.append(rounds.get(code))) for _ in range(20)]
    for page in pages:
        page.start()
    for page in pages:
        page.join()
    assert len(reads) == 1 and len(seen) == 20 and all(r is seen[0] for r in seen)
    assert seen[0].counts(1) == [0, 1, 0, 0]


def test_a_student_voting_in_a_loop_is_slowed_down(rounds):
    code = opened(rounds)
    for i in range(10):
        rounds.vote(code, "vote", "s", i % 4, now=at(1))
    with pytest.raises(BoardError, match="Too many votes"):
        rounds.vote(code, "vote", "s", 3, now=at(1))
    rounds.vote(code, "vote", "s", 3, now=at(12))  # ten seconds later, fine again


def test_a_class_voting_at_once_is_counted_exactly(rounds):
    code = opened(rounds)
    errors = []

    def student(i):
        try:
            rounds.vote(code, "vote", f"s{i}", i % 4, client="school", now=at(1))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=student, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert rounds.get(code, now=at(2)).counts(1) == [10, 10, 10, 10]


def test_the_csv_is_anonymous_unless_named_and_runs_no_formula(rounds):
    code = opened(rounds)
    rounds.vote(code, "vote", "a", 0, name="=HYPERLINK(1)", now=at(1))
    rounds.vote(code, "vote", "b", 3, now=at(1))
    rounds.advance(code, "vote_again", PASS, PASS, now=at(2))
    rounds.vote(code, "vote_again", "a", 3, now=at(3))
    rows = list(csv.reader(io.StringIO(round_csv(rounds.get(code, now=at(4))))))
    right = Q.options[3]
    assert rows == [["name", "first vote", "second vote", "right answer", "right at the end"],
                    ["'=HYPERLINK(1)", Q.options[0], right, right, "yes"],
                    ["anonymous", right, "", right, "yes"]]


def test_a_drawn_curve_becomes_sketch_points_from_left_to_right():
    """A canvas's ink: a line from 50% at the first epoch to 100% at the last, drawn 3 pixels thick."""
    height, width = 101, 301
    ink = np.zeros((height, width))
    for x in range(width):
        y = round(50 - 50 * x / (width - 1))  # row 50 is 50%, row 0 is 100%
        ink[max(0, y - 1):y + 2, x] = 255
    points = sketch_points(ink)
    assert 2 <= len(points) <= SKETCH_POINTS and points[0][0] == 0 and points[-1][0] == 1
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    np.testing.assert_allclose([y for _, y in points], [0.5 + 0.5 * x for x, _ in points], atol=0.015)
    assert check_sketch(points) == points  # what the page sends, the storage takes
    assert sketch_points(np.zeros((10, 10))) is None  # nothing drawn: no sketch


def test_the_reveal_figures_mark_the_right_answer_and_draw_every_sketch():
    from digitviz import TrainConfig, load_digits, train
    votes = votes_figure(Q.options, Q.answer, [1, 0, 2, 5], [0, 0, 1, 7])
    first, second = votes.data
    assert list(first.x) == [1, 0, 2, 5] and list(second.x) == [0, 0, 1, 7]
    assert second.marker.color[Q.answer] == RIGHT and second.y[Q.answer].endswith("✔")
    records = list(train(TrainConfig(epochs=2), load_digits()))
    sketches = [((0, 0.5), (1, 0.9)), ((0, 0.6), (0.5, 0.7), (1, 0.8))]
    fig = predictions_figure(sketch_lines(sketches, 2), records, 2, own=sketches[0])
    assert [t.name for t in fig.data] == ["the class's guesses", "your guess", "what it did"]
    # One line for the whole class, each sketch apart from the next by a gap, in epochs (single precision).
    np.testing.assert_array_equal(fig.data[0].x, np.float32([0, 2, np.nan, 0, 1, 2]))
    np.testing.assert_array_equal(fig.data[0].y, np.float32([0.5, 0.9, np.nan, 0.6, 0.7, 0.8]))
    assert list(fig.data[-1].y) == [r.valid_acc for r in records]
    nobody = predictions_figure(sketch_lines([], 2), records, 2)
    assert [t.name for t in nobody.data] == ["what it did"]


def test_a_teachers_option_is_text_in_the_votes_chart_not_markup():
    fig = votes_figure(["<b>bold</b> or <a href='x'>link</a>", "plain"], 1, [1, 2])
    assert all("<b>" not in label and "<a " not in label for label in fig.data[0].y)
