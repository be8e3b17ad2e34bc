"""A class round through the real page (AppTest): the teacher opens it from the panel, students join by the link,
vote with no controls to change the experiment, and at the reveal each page trains and shows the same run."""
import json
import time

import pytest
import streamlit as st

from digitviz.board import Board
from digitviz.questions import BANK
from digitviz.rounds import CLOSED, Rounds
from digitviz.text import plain_markdown
from digitviz.ui import resources
from digitviz.workers import shared_pool
from tools.apptest import open_panel, page, press

PASS = "pass phrase"
Q = BANK["lr_100"]  # a two-epoch run: it diverges at once


@pytest.fixture
def class_db(tmp_path, monkeypatch):
    """The server's board database, in a folder of the test's own, with a teacher's passphrase; the rounds
    as the server sees them."""
    monkeypatch.setenv("DIGITVIZ_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DIGITVIZ_BOARD_PASSPHRASE", PASS)
    st.cache_resource.clear()
    board = Board(f"sqlite:///{tmp_path / 'board.sqlite3'}")
    yield Rounds(board)
    board.engine.dispose()
    st.cache_resource.clear()


def texts(at):
    return " ".join(str(e.value) for kind in ("markdown", "caption", "info", "success", "warning", "error")
                    for e in getattr(at, kind))


def vote_button(at):
    (button,) = [b for b in at.button if b.label == "Vote"]
    return button


def vote(at, option):
    at.radio[0].set_value(option)
    vote_button(at).click().run()
    assert not at.exception, at.exception
    return at


def test_the_teacher_opens_a_round_from_the_panel(class_db):
    at = open_panel(page(), "round")
    at.text_input(key="round_passphrase").input(PASS)
    at.selectbox(key="round_question").set_value("lr_100").run()
    press(at, "open-round")
    code = at.session_state.teaching
    assert f"Round code **{code}**" in texts(at) and f"?round={code}" in texts(at)
    assert at.get("image"), "a QR code to scan"
    assert class_db.get(code).question == Q and class_db.get(code).stage == "vote"


def test_a_wrong_passphrase_opens_no_round(class_db):
    at = open_panel(page(), "round")
    at.text_input(key="round_passphrase").input("guess")
    press(at, "open-round")
    assert "Wrong passphrase: no round was opened." in texts(at) and at.session_state.get("teaching") is None


def test_a_student_sees_the_question_and_no_controls_then_votes(class_db):
    code = class_db.open(Q, PASS, PASS)
    at = page(round=code)
    assert plain_markdown(Q.prompt) in texts(at) and "lr **100**" in texts(at)
    assert "when your teacher reveals the answer" in texts(at)
    assert not [b for b in at.button if b.key in ("train", "step", "resume")]  # nothing to change the experiment
    assert not at.get("select_slider")
    vote(at, 3)
    assert "Vote counted." in texts(at) and at.query_params["round"] == code
    assert class_db.get(code).counts(1) == [0, 0, 0, 1]
    vote(at, 0)  # a change of mind replaces the vote
    assert class_db.get(code).counts(1) == [1, 0, 0, 0]


def test_a_vote_after_the_stage_closed_is_refused_in_words(class_db):
    code = class_db.open(Q, PASS, PASS)
    at = page(round=code)
    class_db.advance(code, "vote_again", PASS, PASS)  # the teacher moves on while this page still shows vote 1
    at.radio[0].set_value(3)
    vote_button(at).click().run()
    assert CLOSED["vote_again"] in texts(at)
    assert class_db.get(code).voters(1) == 0 and class_db.get(code).voters(2) == 0


def test_the_reveal_trains_the_question_and_shows_the_votes_and_the_explanation(class_db):
    code = class_db.open(Q, PASS, PASS)
    at = vote(page(round=code), 3)
    other = vote(page(round=code), 0)
    class_db.advance(code, "reveal", PASS, PASS)
    at.run()
    run = at.session_state.run
    assert run.config.lr == 100.0 and run.last.diverged  # the question's own run, trained by the reveal
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (bars,) = [s for s in specs if s["data"][0]["type"] == "bar"]
    assert bars["data"][0]["x"] == [1, 0, 0, 1]  # one vote each for options 0 and 3
    (curves,) = [s for s in specs if s["data"][-1].get("name") == "what it did"]
    assert curves["data"][-1]["y"] == [r.valid_acc for r in run.records]
    assert "That was right." in texts(at) and Q.explanation[:40] in texts(at)
    other.run()
    assert "The answer was:" in texts(other)
    at.run()
    assert at.session_state.run is run  # the reveal trains once, not at every rerun


def test_the_reveals_run_is_trained_while_the_class_votes(class_db, monkeypatch):
    """With training workers, a page in a round starts the experiment in the background while the class votes: at
    the reveal each page reads the finished run from the server's trajectory cache, and nothing trains then."""
    monkeypatch.setenv("DIGITVIZ_TRAINING_PROCESSES", "1")
    code = class_db.open(Q, PASS, PASS)
    try:
        at = page(round=code)
        cache = resources.trajectories(resources.server_config().cache_bytes)
        (prepared,) = cache.entries.values()  # the one run the page asked for, before anyone revealed anything
        deadline = time.monotonic() + 120
        while not prepared.done and time.monotonic() < deadline:
            time.sleep(0.1)
        assert prepared.done and prepared.records
        class_db.advance(code, "reveal", PASS, PASS)
        at.run()
        assert not at.exception, at.exception
        run = at.session_state.run
        assert len(run.records) == len(prepared.records)
        assert all(mine is theirs for mine, theirs in zip(run.records, prepared.records))  # read, not trained again
    finally:
        shared_pool(1).close()


def test_a_wrong_round_code_leaves_a_plain_page(class_db):
    at = page(round="XXXX")
    assert "This round has ended" in texts(at)
    assert at.button(key="train")  # the ordinary page, with its controls
    at = page(round="<b>x")
    assert "is not a round code" in texts(at)
