"""The class board against SQLite and against a real PostgreSQL.

PostgreSQL comes from DIGITVIZ_TEST_POSTGRES_URL (scripts/start_postgres.sh starts one and prints it).
Without it the PostgreSQL cases are skipped, except under CI, where they fail so that a missing
database can't pass unnoticed. Each PostgreSQL case gets a schema of its own, dropped afterwards.
"""
import csv
import hmac
import html
import io
import json
import logging
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from digitviz.board import (
    ALL_GUESSES,
    BAD_NAME,
    CLIENT_POSTS,
    CLIENT_SECONDS,
    DB_TIMEOUT_SECONDS,
    GUESS_SECONDS,
    GUESSES,
    INVISIBLE_NAME,
    MIXED_NAME,
    RATE_SECONDS,
    RESERVED_NAME,
    Board,
    BoardError,
    Post,
    board_csv,
    display_name,
)
from digitviz.server_config import ServerConfig

UNREACHABLE = "The class board's database cannot be reached right now; your run is still here."
assert BAD_NAME == "Names are 1 to 40 characters of plain text."
T0 = datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc)
SETTINGS = {"lr": 1.0, "epochs": 30, "batch_size": 256, "init_std": 1.0, "seed": 0, "shuffle": False,
            "loss": "mnist_loss", "model": "linear", "digits": [3, 7]}


def post(board, name="Ada", accuracy=0.9, session="s1", now=T0, **kw):
    kw = {"settings": SETTINGS, "loss": 0.05, "epochs": 30} | kw
    return board.post(name, accuracy=accuracy, session_id=session, now=now, **kw)


def test_post_and_read_back(board, url, boards):
    a = post(board, "Ada", 0.95, "a", T0)
    b = post(board, "Bo", 0.97, "b", T0 + timedelta(seconds=1))
    c = post(board, "Cy", 0.95, "c", T0 + timedelta(seconds=2))  # ties with Ada, posted later
    assert len({a, b, c}) == 3
    assert [p.name for p in board.newest()] == ["Cy", "Bo", "Ada"]
    assert [p.name for p in board.best()] == ["Bo", "Ada", "Cy"]
    assert [p.name for p in board.best(limit=2)] == ["Bo", "Ada"]

    first = board.newest()[-1]
    assert (first.id, first.name, first.accuracy, first.loss, first.epochs) == (a, "Ada", 0.95, 0.05, 30)
    assert first.created_at == T0 and first.created_at.tzinfo is not None
    assert first.settings == SETTINGS
    # Another server process on the same database sees the same board.
    assert [p.id for p in boards(url).newest()] == [c, b, a]


def test_sqlite_writes_ahead_and_waits_for_other_writers(tmp_path, boards):
    board = boards(f"sqlite:///{tmp_path / 'board.sqlite3'}")
    post(board)
    with board.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"  # readers don't block a post
        # a post waits its turn, but never so long that a page hangs on a writer that is stuck
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == DB_TIMEOUT_SECONDS * 1000


def test_created_at_defaults_to_now_in_utc(board):
    before = datetime.now(timezone.utc)
    board.post("Ada", {"lr": 0.1, "digits": (3, 7)}, 0.9, 0.1, 3, session_id="s")
    p, = board.newest()
    assert before <= p.created_at <= datetime.now(timezone.utc)
    assert p.created_at.utcoffset() == timedelta(0)
    assert p.settings == {"lr": 0.1, "digits": [3, 7]}


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "a" * 41, "line\nbreak", "tab\there", "nul\x00",
                                  "\x1b[31mred", "\u202eevil", "para\u2029graph", None, 42])
def test_bad_names_are_refused(board, name):
    with pytest.raises(BoardError) as e:
        post(board, name)
    assert str(e.value) == BAD_NAME
    assert board.newest() == []


def test_good_names_are_trimmed_and_kept_as_typed(board):
    names = ["a" * 40, "  Zoë 🎉  ", "👩‍💻 Ada", "李雷", "O'Brien & <Co>", "x" * 39 + "é"]
    for i, name in enumerate(names):
        post(board, name, session=f"s{i}", now=T0 + timedelta(seconds=i))
    assert [p.name for p in reversed(board.newest())] == [n.strip() for n in names]


def test_names_show_literally_through_markdown_and_html(board):
    from markdown_it import MarkdownIt  # in the app's stack (through rich); the parser Streamlit's matches

    name = "**x** [link](https://e.vil) <script>alert(1)</script> & _y_ `z` # 1. \\ $m$ :red[r] &amp;"
    post(board, name[:40], session="a")
    stored = board.newest()[0].name
    assert stored == name[:40]  # kept as typed: escaping is display_name's job
    for text in (name, stored, "# heading", "- item", "1. item", "> quote", "<b>bold</b>", "&lt;"):
        shown = display_name(text)
        assert "<" not in shown and ">" not in shown
        rendered = MarkdownIt("commonmark", {"html": True}).render(shown)  # as with unsafe_allow_html=True
        assert rendered.startswith("<p>") and rendered.endswith("</p>\n"), rendered
        assert html.unescape(rendered[3:-5]) == text, rendered
    assert display_name("**x**") == r"\*\*x\*\*"
    assert display_name("<b>") == "&lt;b&gt;"


def test_rate_limit_per_session(board):
    post(board, "Ada", session="a", now=T0)
    with pytest.raises(BoardError, match=r"^Please wait 7 seconds before posting again\.$"):
        post(board, "Ada", session="a", now=T0 + timedelta(seconds=3))
    post(board, "Bo", session="b", now=T0 + timedelta(seconds=3))  # another student is not held up
    with pytest.raises(BoardError, match=r"^Please wait 1 second before posting again\.$"):
        post(board, "Ada", session="a", now=T0 + timedelta(seconds=9.5))
    with pytest.raises(BoardError, match=BAD_NAME):  # refused names don't take the slot either
        post(board, "", session="c", now=T0 + timedelta(seconds=4))
    post(board, "Cy", session="c", now=T0 + timedelta(seconds=4))
    post(board, "Ada", session="a", now=T0 + timedelta(seconds=RATE_SECONDS))
    # Ada posted the same settings again: her new post replaced the old one (one row per student per settings)
    assert [p.name for p in board.newest()] == ["Ada", "Cy", "Bo"]


@pytest.mark.parametrize("accuracy", [math.nan, math.inf, -0.01, 1.01, "0.9", None, True])
def test_accuracy_must_be_a_finite_fraction(board, accuracy):
    with pytest.raises(BoardError, match="accuracy between 0 and 1"):
        post(board, accuracy=accuracy)
    assert board.newest() == []


def test_a_diverged_loss_is_kept_as_none(board):
    np = pytest.importorskip("numpy")
    post(board, "Ada", np.float32(0.5), session="a", loss=math.inf, epochs=np.int64(3),
         settings={"lr": 100.0, "seed": np.int64(0)})
    p, = board.newest()
    assert (p.accuracy, p.loss, p.epochs, p.settings) == (0.5, None, 3, {"lr": 100.0, "seed": 0})


def test_clear_needs_the_teachers_passphrase(board):
    for i in range(3):
        post(board, f"P{i}", session=f"s{i}")
    for expected in (None, ""):
        with pytest.raises(BoardError) as e:
            board.clear("anything", expected)
        assert str(e.value) == "No teacher passphrase is set in the server's secrets ([board] passphrase)."
    for wrong in ("wrong", "", None, "clé du prof "):
        with pytest.raises(BoardError, match=r"^Wrong passphrase: the board was not cleared\.$"):
            board.clear(wrong, "clé du prof")
    assert len(board.newest()) == 3
    assert board.clear("clé du prof", "clé du prof") == 3
    assert board.newest() == [] and board.best() == []
    assert board.clear("clé du prof", "clé du prof") == 0


def test_concurrent_posts_lose_nothing(board):
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)

    def student(t):
        start.wait()
        ids = []
        for i in range(per_thread):
            ids.append(post(board, f"t{t}-{i}", accuracy=(t * per_thread + i) / 1000, session=f"thread-{t}",
                            now=T0 + timedelta(seconds=RATE_SECONDS * i, microseconds=t)))
            if i % 5 == 0:
                board.newest(limit=5)  # readers alongside the writers
        return ids

    with ThreadPoolExecutor(threads) as pool:
        ids = [i for chunk in pool.map(student, range(threads)) for i in chunk]
    assert len(ids) == len(set(ids)) == threads * per_thread
    stored = board.newest(limit=1000)
    assert sorted(p.id for p in stored) == sorted(ids)
    assert {p.name for p in stored} == {f"t{t}-{i}" for t in range(threads) for i in range(per_thread)}
    assert board.best(limit=1)[0].name == f"t{threads - 1}-{per_thread - 1}"


@pytest.fixture(params=["sqlite-under-a-file", "postgresql-closed-port"])
def unreachable_url(request, tmp_path):
    if request.param == "sqlite-under-a-file":
        (tmp_path / "not-a-folder").write_text("")  # even root can't make a folder inside a file
        return f"sqlite:///{tmp_path / 'not-a-folder' / 'board.sqlite3'}"
    return "postgresql+psycopg://digitviz:digitviz@127.0.0.1:1/digitviz_test"


def test_an_unreachable_database_says_so(unreachable_url, boards):
    board = boards(unreachable_url)  # making the Board doesn't connect: the page still loads
    for attempt in (lambda: post(board), lambda: post(board), board.newest, board.best,
                    lambda: board.clear("pass", "pass")):
        with pytest.raises(BoardError) as e:
            attempt()
        assert str(e.value) == UNREACHABLE  # twice for post: a failed post doesn't start the wait
        assert e.value.__cause__ is not None


def test_an_invalid_url_says_so():
    with pytest.raises(BoardError, match=r"\[board\] url\) is not valid"):
        Board("nosuchdb://x")
    # Hosting providers hand out postgres:// and postgresql:// URLs; both go through psycopg 3.
    for scheme in ("postgres", "postgresql"):
        assert Board(f"{scheme}://u:p@127.0.0.1:1/db").engine.dialect.driver == "psycopg"


def server_board(secrets, environ):
    """The board a server with these secrets and this environment opens, as the page does."""
    return Board(ServerConfig.read(secrets, environ).board_url)


def test_the_default_board_is_sqlite_in_the_data_folder(tmp_path, monkeypatch, boards):
    environ = {"DIGITVIZ_DATA_DIR": str(tmp_path / "data")}
    for secrets in ({}, {"board": {}}, {"board": {"url": ""}}, {"board": {"passphrase": "x"}}):
        board = server_board(secrets, environ)
        assert board.engine.url.get_backend_name() == "sqlite"
        assert board.engine.url.database == str(tmp_path / "data" / "board.sqlite3")
    post(board, "Ada")
    assert (tmp_path / "data" / "board.sqlite3").is_file()
    assert [p.name for p in boards(f"sqlite:///{tmp_path / 'data' / 'board.sqlite3'}").newest()] == ["Ada"]

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert server_board({}, {}).engine.url.database == str(tmp_path / "home" / ".digitviz" / "board.sqlite3")


def test_the_board_uses_the_secrets_url(url, boards, tmp_path):
    board = server_board({"board": {"url": url, "passphrase": "x"}}, {"DIGITVIZ_DATA_DIR": str(tmp_path / "unused")})
    try:
        post(board, "Ada")
    finally:
        board.engine.dispose()
    assert [p.name for p in boards(url).newest()] == ["Ada"]
    assert not (tmp_path / "unused").exists()


def test_board_url_from_the_environment_when_the_secrets_name_none(url, boards, tmp_path):
    """A container sets DIGITVIZ_BOARD_URL; a secrets file's [board] url still wins over it."""
    environ = {"DIGITVIZ_DATA_DIR": str(tmp_path / "unused"), "DIGITVIZ_BOARD_URL": url}
    board = server_board({}, environ)
    try:
        post(board, "Lin")
    finally:
        board.engine.dispose()
    assert [p.name for p in boards(url).newest()] == ["Lin"]
    other = f"sqlite:///{tmp_path / 'secret.sqlite3'}"
    assert server_board({"board": {"url": other}}, environ).engine.url.database == str(tmp_path / "secret.sqlite3")


# ---------------------------------------------------------------------- a database that hangs or goes away

@pytest.mark.slow
def test_a_frozen_database_gives_a_message_within_seconds(private_postgres, boards):
    """SIGSTOP the whole server: an open connection's statement and a new connection both give up in seconds."""
    board = boards(private_postgres.url)
    post(board, "Ada")
    private_postgres.freeze()
    try:
        for label, attempt in (("pooled connection", board.newest),
                               ("new connection", boards(private_postgres.url).newest),
                               ("post", lambda: post(board, "Bo", session="b"))):
            began = time.monotonic()
            with pytest.raises(BoardError, match=re.escape(UNREACHABLE)):
                attempt()
            assert time.monotonic() - began < DB_TIMEOUT_SECONDS + 2, label
    finally:
        private_postgres.thaw()
    assert [p.name for p in board.newest()] == ["Ada"]  # back as soon as the database is
    post(board, "Bo", session="b")  # and the failed post did not start that session's wait


def test_a_stopped_and_restarted_database(private_postgres, boards):
    board = boards(private_postgres.url)
    post(board, "Ada", session="restart-a")
    private_postgres.stop()
    try:
        began = time.monotonic()
        with pytest.raises(BoardError, match=re.escape(UNREACHABLE)):
            board.newest()
        assert time.monotonic() - began < DB_TIMEOUT_SECONDS + 2
    finally:
        private_postgres.start()
    assert "Ada" in [p.name for p in board.newest()]  # the dropped pooled connection is replaced at once


@pytest.mark.slow
def test_a_statement_stuck_behind_a_lock_times_out(private_postgres, boards):
    """statement_timeout: the server is up but a lock holds the query; the server itself cancels it."""
    board = boards(private_postgres.url)
    post(board, "Ada", session="lock-a")
    admin = sa.create_engine(private_postgres.url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text("LOCK TABLE digitviz_posts IN ACCESS EXCLUSIVE MODE"))
            began = time.monotonic()
            with pytest.raises(BoardError, match=re.escape(UNREACHABLE)) as e:
                board.best()
            assert DB_TIMEOUT_SECONDS - 0.5 < time.monotonic() - began < DB_TIMEOUT_SECONDS + 1
            assert "statement timeout" in str(e.value.__cause__)
    finally:
        admin.dispose()


# ---------------------------------------------------------------------- names, exports and abuse

@pytest.mark.parametrize("name, message", [
    ("\u3164", INVISIBLE_NAME), ("\u2800", INVISIBLE_NAME), ("A\u3164B", INVISIBLE_NAME),
    ("\u115f\u1160", INVISIBLE_NAME),
    ("Ada\u00a0Lovelace", INVISIBLE_NAME), ("\u3000\u2800", INVISIBLE_NAME), ("Ada\u200b", BAD_NAME),
    ("\u0301\u0301", INVISIBLE_NAME),
    ("Tеacher", MIXED_NAME), ("Pаypal", MIXED_NAME), ("ΑDΜΙΝ", MIXED_NAME),
    ("Теасһег", RESERVED_NAME), ("Ｔｅａｃｈｅｒ", RESERVED_NAME), ("𝐓𝐞𝐚𝐜𝐡𝐞𝐫", RESERVED_NAME),
    ("a" * 41, BAD_NAME),
])
def test_invisible_mixed_and_look_alike_names_are_refused(board, name, message):
    with pytest.raises(BoardError) as e:
        post(board, name)
    assert str(e.value) == message
    assert board.newest() == []


@pytest.mark.parametrize("name", ["Teacher", "TEACHER", "Παύλος", "Иван", "김민준", "Kim 민준", "山田たろう",
                                  "Ana María", "Ａｄａ", "👩‍💻 Ada", "x" * 40])
def test_names_in_one_script_or_a_usual_mix_are_kept(board, name):
    post(board, name)
    assert [p.name for p in board.newest()] == [name]


def test_board_csv_makes_formulas_plain_text(board):
    names = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "Ada", "a=b"]
    for i, name in enumerate(names):
        post(board, name, session=f"s{i}", now=T0 + timedelta(seconds=i))
    rows = list(csv.DictReader(io.StringIO(board_csv(board.newest()))))
    assert [r["name"] for r in reversed(rows)] == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "Ada", "a=b"]
    assert float(rows[0]["accuracy"]) == 0.9 and json.loads(rows[0]["settings"]) == SETTINGS
    sneaky = Post(1, "\tx", T0, 0.5, None, 1, {"lr": "=cmd"})  # as if stored by an older version
    row, = csv.DictReader(io.StringIO(board_csv([sneaky])))
    assert row["name"] == "'\tx" and row["loss"] == "" and not row["settings"].startswith("=")


def test_posting_is_limited_per_client_across_sessions(board):
    """Fresh sessions from one client (one browser's address) share its allowance; another client is not held up."""
    for i in range(CLIENT_POSTS):  # each under a name of its own: the same name and settings would replace a post
        post(board, f"Ada {i}", session=f"fresh-{i}", client="10.0.0.7", now=T0 + timedelta(seconds=i))
    with pytest.raises(BoardError, match=r"^Please wait 40 seconds before posting again\.$"):
        post(board, "Ada", session="fresh-x", client="10.0.0.7", now=T0 + timedelta(seconds=CLIENT_POSTS))
    post(board, "Bo", session="other", client="10.0.0.8", now=T0 + timedelta(seconds=CLIENT_POSTS))
    post(board, "Ada", session="fresh-y", client="10.0.0.7", now=T0 + timedelta(seconds=CLIENT_SECONDS))
    assert len(board.newest(limit=100)) == CLIENT_POSTS + 2


def test_passphrase_guesses_are_throttled_per_client_and_overall(board, caplog, monkeypatch):
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    caplog.set_level(logging.WARNING, logger="digitviz.board")
    post(board, "Ada")
    for i in range(GUESSES):
        with pytest.raises(BoardError, match="Wrong passphrase"):
            board.clear(f"guess{i}", "secret", client="guesser", now=T0)
    assert len(compared) == GUESSES  # compared in constant time, every one
    with pytest.raises(BoardError, match=r"^Too many wrong passphrases: try again in 60 seconds\.$"):
        board.clear("secret", "secret", client="guesser", now=T0)  # even the right one, while throttled
    assert len(compared) == GUESSES  # and not even compared
    for i in range(ALL_GUESSES - GUESSES):  # other clients' wrong guesses fill the overall allowance
        with pytest.raises(BoardError, match="Wrong passphrase"):
            board.clear("nope", "secret", client=f"client-{i}", now=T0 + timedelta(seconds=1))
    with pytest.raises(BoardError, match="Too many wrong passphrases"):
        board.clear("secret", "secret", client="teacher", now=T0 + timedelta(seconds=2))
    assert len(board.newest()) == 1
    assert board.clear("secret", "secret", client="teacher", now=T0 + timedelta(seconds=GUESS_SECONDS + 1)) == 1
    cleared = [r for r in caplog.records if "cleared" in r.getMessage()]
    assert len(cleared) == 1 and "'teacher'" in cleared[0].getMessage() and "1 posts" in cleared[0].getMessage()
    assert sum("wrong board passphrase" in r.getMessage() for r in caplog.records) == ALL_GUESSES


def test_one_row_per_student_and_settings_and_a_filter_by_digits(board):
    """The same run posted again replaces the old row; other settings or digits make rows of their own, and
    newest/best can keep to one experiment."""
    post(board, "Ada", 0.90, "a", T0)
    post(board, "Ada", 0.93, "b", T0 + timedelta(seconds=1))  # the same settings, posted again
    post(board, "Ada", 0.80, "c", T0 + timedelta(seconds=2), settings={**SETTINGS, "lr": 0.1})
    post(board, "Bo", 0.70, "d", T0 + timedelta(seconds=3), settings={**SETTINGS, "digits": [1, 8]})
    assert [(p.name, p.accuracy) for p in board.newest()] == [("Bo", 0.70), ("Ada", 0.80), ("Ada", 0.93)]
    pair = SETTINGS.get("digits", [3, 7])
    assert [p.name for p in board.best(digits=pair)] == ["Ada", "Ada"]
    assert [p.name for p in board.newest(digits=(1, 8))] == ["Bo"]
