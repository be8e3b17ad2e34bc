"""The class board: students post finished runs, everyone on the server sees them, newest and best first.

    board = board_from_settings(st.secrets)          # [board] url = "postgresql+psycopg://..." or SQLite
    board.post("Ada", settings, accuracy=0.97, loss=0.03, epochs=30, session_id=session)
    for p in board.best():
        st.markdown(f"{display_name(p.name)}: {p.accuracy:.1%}")

Names are stored as typed; `display_name` escapes them when they are shown. Every failure a student can
meet is a `BoardError` whose message can be shown as it is.

The rate limit (one post per session every RATE_SECONDS) lives in memory, in the Board object, under a
lock. The page keeps one Board per server process, so with several servers behind one URL a student
could post once per server per 10 s. That is fine for what the limit is for, stopping a run from being
posted twice by a double click or a button pressed over and over; it is not a security boundary (a
reloaded page gets a new session anyway). In memory it is exact under concurrent clicks, costs no
query, and keeps session ids out of the database.
"""
import hmac
import html
import json
import math
import numbers
import os
import string
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc

RATE_SECONDS = 10
NAME_MAX = 40
# Format characters that belong inside ordinary text: zero-width (non-)joiners make emoji and some scripts.
_JOINERS = {"\u200c", "\u200d"}
_UNREACHABLE = "The class board's database cannot be reached right now; your run is still here."

metadata = sa.MetaData()
posts = sa.Table(
    "digitviz_posts", metadata,  # prefixed: a shared database may already have a "posts" table
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),  # UTC, set in Python
    sa.Column("accuracy", sa.Double, nullable=False),
    sa.Column("loss", sa.Double, nullable=True),  # None when the run's loss was not finite (it diverged)
    sa.Column("epochs", sa.Integer, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),  # JSON: the TrainConfig as a dict plus the digit pair
)


class BoardError(ValueError):
    """Why the board refused or failed, in one sentence a student can read."""


@dataclass(frozen=True)
class Post:
    id: int
    name: str
    created_at: datetime  # timezone-aware, UTC
    accuracy: float
    loss: float | None
    epochs: int
    settings: dict


def default_board_path():
    """The app's data folder ($DIGITVIZ_DATA_DIR, else ~/.digitviz) and the board's file in it."""
    return Path(os.environ.get("DIGITVIZ_DATA_DIR") or "~/.digitviz").expanduser() / "board.sqlite3"


def board_from_settings(secrets: Mapping) -> "Board":
    """The board the server's secrets ask for: `[board] url = "..."`, else $DIGITVIZ_BOARD_URL (handy in a
    container), else SQLite in the data folder.

    Takes any mapping, so the page passes `st.secrets` (which raises FileNotFoundError without a file).
    """
    try:
        url = (secrets.get("board") or {}).get("url")
    except FileNotFoundError:
        url = None
    return Board(url or os.environ.get("DIGITVIZ_BOARD_URL") or None)


def display_name(name: str) -> str:
    """A stored name made safe to show with st.markdown: markdown and HTML both show it literally."""
    # Backslash-escape markdown's punctuation first; html.escape then turns & < > " ' into entities,
    # which markdown shows as the characters (and whose own & and # must not be backslashed).
    md = "".join("\\" + c if c in string.punctuation and c not in "&<>\"'" else c for c in name)
    return html.escape(md)


def check_name(name):
    """The name as it will be stored (trimmed, NFC), or BoardError."""
    name = unicodedata.normalize("NFC", name.strip()) if isinstance(name, str) else ""
    if not 1 <= len(name) <= NAME_MAX or not all(_is_text(c) for c in name):
        raise BoardError(f"Names are 1 to {NAME_MAX} characters of plain text.")
    return name


def _is_text(c):
    # Refuse control and format characters (tabs, newlines, NUL, right-to-left overrides), surrogates,
    # private-use and line/paragraph separators. Letters of any script, symbols and emoji are fine.
    category = unicodedata.category(c)
    return c in _JOINERS or category not in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


class Board:
    """The posts table in any SQLAlchemy database; SQLite at default_board_path() when no URL is given."""

    def __init__(self, url=None):
        try:
            url = sa.make_url(url or f"sqlite:///{default_board_path()}")
            if url.drivername in ("postgresql", "postgres"):  # as hosting providers write it; we ship psycopg 3
                url = url.set(drivername="postgresql+psycopg")
            connect_args = {}
            if url.get_backend_name() == "sqlite":
                connect_args = {"timeout": 30}  # wait up to 30 s for another writer instead of failing
            elif url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
                connect_args = {"connect_timeout": 10}  # a dropped packet would otherwise hang the page for minutes
            self.engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        except (exc.ArgumentError, ImportError) as e:
            raise BoardError("The class board's address in the server's secrets ([board] url) is not valid.") from e
        if url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_wal)
        self._lock = threading.Lock()
        self._ready = False
        self._last_post = {}  # session_id -> datetime of its last accepted post

    def post(self, name, settings, accuracy, loss, epochs, session_id, now=None):
        """Store one finished run and return its id; BoardError says why not."""
        name = check_name(name)
        if not _is_real(accuracy) or not 0 <= accuracy <= 1:
            raise BoardError("Only a finished run with an accuracy between 0 and 1 can be posted.")
        if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or epochs < 0:
            raise BoardError("Only a finished run with a whole number of epochs can be posted.")
        row = {
            "name": name, "created_at": _utc(now), "accuracy": float(accuracy),
            "loss": float(loss) if _is_real(loss) else None, "epochs": int(epochs),
            "settings": json.dumps(dict(settings), sort_keys=True, allow_nan=False, default=_plain),
        }
        previous = self._claim(session_id, row["created_at"])
        try:
            with self._connect() as conn, conn.begin():
                return conn.execute(posts.insert().values(row)).inserted_primary_key[0]
        except BaseException:
            with self._lock:  # a post that failed doesn't count against the limit
                if self._last_post.get(session_id) == row["created_at"]:
                    if previous is None:
                        del self._last_post[session_id]
                    else:
                        self._last_post[session_id] = previous
            raise

    def newest(self, limit=20):
        return self._select(limit, posts.c.created_at.desc(), posts.c.id.desc())

    def best(self, limit=20):
        """Highest accuracy first; of equal ones, whoever posted first."""
        return self._select(limit, posts.c.accuracy.desc(), posts.c.created_at, posts.c.id)

    def clear(self, passphrase, expected):
        """Delete every post if `passphrase` is the teacher's (`expected`); returns how many went."""
        if not expected:
            raise BoardError("No teacher passphrase is set in the server's secrets ([board] passphrase).")
        if not hmac.compare_digest(str(passphrase or "").encode(), str(expected).encode()):
            raise BoardError("Wrong passphrase: the board was not cleared.")
        with self._connect() as conn, conn.begin():
            return conn.execute(posts.delete()).rowcount

    def _claim(self, session_id, now):
        """Take this session's posting slot, or BoardError with the wait; returns the slot's previous time."""
        with self._lock:
            # Forget sessions whose wait is over, so the dict stays as small as the last 10 s of posts.
            for sid, t in list(self._last_post.items()):
                if (now - t).total_seconds() >= RATE_SECONDS:
                    del self._last_post[sid]
            last = self._last_post.get(session_id)
            if last is not None:
                wait = math.ceil(min(RATE_SECONDS, RATE_SECONDS - (now - last).total_seconds()))
                raise BoardError(f"Please wait {wait} second{'s' * (wait != 1)} before posting again.")
            self._last_post[session_id] = now
            return last

    def _select(self, limit, *order):
        with self._connect() as conn:
            rows = conn.execute(sa.select(posts).order_by(*order).limit(max(0, int(limit)))).all()
        return [Post(r.id, r.name, _utc(r.created_at), r.accuracy, r.loss, r.epochs, json.loads(r.settings))
                for r in rows]

    def _connect(self):
        """A connection, creating the table on first use; the database's failures become BoardError."""
        try:
            if not self._ready:
                with self._lock:
                    if not self._ready:
                        database = self.engine.url.database
                        if self.engine.url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:"):
                            Path(database).parent.mkdir(parents=True, exist_ok=True)
                        metadata.create_all(self.engine)
                        self._ready = True
            return _Reporting(self.engine.connect())
        except (exc.DBAPIError, exc.TimeoutError, OSError) as e:
            raise BoardError(_UNREACHABLE) from e


class _Reporting:
    """A connection's context manager that turns the database's failures inside it into BoardError."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self.conn

    def __exit__(self, kind, error, tb):
        self.conn.close()
        if isinstance(error, (exc.DBAPIError, exc.TimeoutError)):
            raise BoardError(_UNREACHABLE) from error


def _sqlite_wal(dbapi_connection, _record):
    # WAL lets readers go on while someone posts; the mode is stored in the file, so this is cheap.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _utc(t):
    """Now, or `t`, as an aware UTC datetime (naive ones, as SQLite gives them back, are taken as UTC)."""
    if t is None:
        return datetime.now(timezone.utc)
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _plain(value):
    """JSON for numpy scalars in the settings (np.int64 is not an int)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"settings can't hold {type(value).__name__}")
