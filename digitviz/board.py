"""The class board: students post finished runs, everyone on the server sees them, newest and best first.

    board = Board(server_config.board_url)           # "postgresql+psycopg://..." or SQLite (digitviz.server_config)
    board.post("Ada", settings, accuracy=0.97, loss=0.03, epochs=30, session_id=session)
    for p in board.best():
        st.markdown(f"{display_name(p.name)}: {p.accuracy:.1%}")

Names are stored as typed; `display_name` escapes them when they are shown. Every failure a student can
meet is a `BoardError` whose message can be shown as it is.

Limits live in memory, in the Board object, under a lock (the page keeps one Board per server process):
one post per session every RATE_SECONDS, which stops a run being posted twice by a double click;
CLIENT_POSTS per client (the caller's key for the browser, e.g. its address) every CLIENT_SECONDS, which
stops one machine posting from many fresh sessions; and wrong teacher passphrases, GUESSES per client and
ALL_GUESSES in all every GUESS_SECONDS. With several servers behind one URL each server counts its own.

A database that is down or frozen costs a page at most a few seconds: connections and statements time out
after DB_TIMEOUT_SECONDS (PostgreSQL's connect_timeout and statement_timeout, SQLite's busy timeout), and a
statement whose server has stopped answering altogether has its connection cut after DB_TIMEOUT_SECONDS + 1.
"""
import csv
import hmac
import html
import io
import json
import logging
import math
import numbers
import os
import socket
import string
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc

log = logging.getLogger(__name__)

RATE_SECONDS = 10
# A class behind one school address posts a run each within a minute or two; a script posting from fresh sessions
# gets 20 a minute at most instead of one per session.
CLIENT_POSTS, CLIENT_SECONDS = 20, 60
# A teacher who mistypes tries again a few times; a script guessing gets 5 tries a minute per client, 20 in all.
GUESSES, ALL_GUESSES, GUESS_SECONDS = 5, 20, 60
DB_TIMEOUT_SECONDS = 3  # a healthy board answers in milliseconds; a page should never wait long for a sick one
NAME_MAX = 40
# Letters that show as nothing (fillers, blanks) or that make other letters invisible.
INVISIBLE = set("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180e\u2061\u2062\u2063\u2064\ufeff")
# Names a student could use to pass as someone else; the plain spelling is left to whoever it belongs to.
RESERVED_NAMES = {"teacher", "admin", "administrator", "digitviz", "moderator"}
# Scripts that are written together (Unicode's "highly restrictive" profile, UTS #39): any one script, or these.
SCRIPT_MIXES = ({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}, {"LATIN", "HAN", "BOPOMOFO"}, {"LATIN", "HAN", "HANGUL"})
# Letters of other scripts that look like Latin ones (a subset of Unicode's confusables.txt).
CONFUSABLES = str.maketrans(dict(pair for pair in (
    "аa гr еe кk оo рp сc уy хx ѕs іi јj һh ԁd ԛq ԝw ɡg ıi αa οo ρp υu νv κk ιi χx ϲc "
    "АA ВB ЕE КK МM НH ОO РP СC ТT УY ХX ЅS ІI ЈJ ΑA ΒB ΕE ΖZ ΗH ΙI ΚK ΜM ΝN ΟO ΡP ΤT ΥY ΧX").split()))
# Format characters that belong inside ordinary text: zero-width (non-)joiners make emoji and some scripts.
_JOINERS = {"\u200c", "\u200d"}
_UNREACHABLE = "The class board's database cannot be reached right now; your run is still here."
BAD_NAME = f"Names are 1 to {NAME_MAX} characters of plain text."
INVISIBLE_NAME = "Names must be visible: no blank or invisible letters, and no spaces other than plain ones."
MIXED_NAME = "Names must be written in one alphabet: letters from two can imitate someone else's name."
RESERVED_NAME = "That name imitates a reserved name with look-alike letters; please pick another."

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


def display_name(name: str) -> str:
    """A stored name made safe to show with st.markdown: markdown and HTML both show it literally."""
    # Backslash-escape markdown's punctuation first; html.escape then turns & < > " ' into entities,
    # which markdown shows as the characters (and whose own & and # must not be backslashed).
    md = "".join("\\" + c if c in string.punctuation and c not in "&<>\"'" else c for c in name)
    return html.escape(md)


def check_name(name):
    """The name as it will be stored (trimmed, NFC), or BoardError saying what is wrong with it."""
    name = unicodedata.normalize("NFC", name.strip()) if isinstance(name, str) else ""
    if not 1 <= len(name) <= NAME_MAX or not all(_is_text(c) for c in name):
        raise BoardError(BAD_NAME)
    if any(c in INVISIBLE or (unicodedata.category(c) == "Zs" and c != " ") for c in name) \
            or not any(unicodedata.category(c)[0] in "LNPS" for c in name):
        raise BoardError(INVISIBLE_NAME)
    scripts = _scripts(name)
    if len(scripts) > 1 and not any(scripts <= mix for mix in SCRIPT_MIXES):
        raise BoardError(MIXED_NAME)
    if _skeleton(name) in RESERVED_NAMES and not name.isascii():
        raise BoardError(RESERVED_NAME)
    return name


def _is_text(c):
    # Refuse control and format characters (tabs, newlines, NUL, right-to-left overrides), surrogates,
    # private-use and line/paragraph separators. Letters of any script, symbols and emoji are fine.
    category = unicodedata.category(c)
    return c in _JOINERS or category not in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def _scripts(name):
    """The scripts of a name's letters, by their Unicode names ('LATIN SMALL LETTER A', 'CJK UNIFIED ...')."""
    scripts = set()
    for c in unicodedata.normalize("NFKC", name):  # fullwidth and mathematical letters count as the letters they are
        if unicodedata.category(c) in ("Lu", "Ll", "Lt", "Lo"):
            words = unicodedata.name(c, "UNKNOWN").split()
            scripts.add("HAN" if words[0] == "CJK" else words[0])
    return scripts


def _skeleton(name):
    """What a name looks like, for comparing: compatibility forms folded, look-alike letters made Latin."""
    return unicodedata.normalize("NFKC", name).translate(CONFUSABLES).casefold()


def board_csv(posts):
    """The board as CSV, with every text cell that a spreadsheet would run as a formula made plain text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "accuracy", "loss", "epochs", "posted_at", "settings"])
    for p in posts:
        writer.writerow([inert(p.name), p.accuracy, "" if p.loss is None else p.loss, p.epochs,
                         p.created_at.isoformat(), inert(json.dumps(p.settings, sort_keys=True))])
    return out.getvalue()


def inert(text):
    """A text cell as a spreadsheet will show it, never run it."""
    # OWASP's advice for CSV injection: a cell starting with = + - @ tab or CR is a formula to a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class Board:
    """The posts table in any SQLAlchemy database (ServerConfig.board_url: SQLite in the data folder by default)."""

    def __init__(self, url):
        try:
            url = sa.make_url(url)
            if url.drivername in ("postgresql", "postgres"):  # as hosting providers write it; we ship psycopg 3
                url = url.set(drivername="postgresql+psycopg")
            connect_args = {}
            if url.get_backend_name() == "sqlite":
                connect_args = {"timeout": DB_TIMEOUT_SECONDS}  # wait that long for another writer, then fail
            elif url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
                connect_args = {"connect_timeout": DB_TIMEOUT_SECONDS}  # else a dropped packet hangs for minutes
            # No pool_pre_ping: its ping could hang outside the deadline; _run retries a dropped connection once.
            self.engine = sa.create_engine(url, connect_args=connect_args, pool_timeout=DB_TIMEOUT_SECONDS)
        except (exc.ArgumentError, ImportError) as e:
            raise BoardError("The class board's address in the server's secrets ([board] url) is not valid.") from e
        if url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_wal)
        else:
            sa.event.listen(self.engine, "connect", _statement_timeout)
        self._lock = threading.Lock()
        self._ready = False
        self._session_posts = RateLimit(1, RATE_SECONDS)
        self._client_posts = RateLimit(CLIENT_POSTS, CLIENT_SECONDS)
        self._guesses = RateLimit(GUESSES, GUESS_SECONDS)
        self._all_guesses = RateLimit(ALL_GUESSES, GUESS_SECONDS)

    def post(self, name, settings, accuracy, loss, epochs, session_id, now=None, client=None):
        """Store one finished run and return its id; BoardError says why not. `client` names the browser
        (its address, say) for the per-client limit; None leaves only the per-session one."""
        name = check_name(name)
        if not _is_real(accuracy) or not 0 <= accuracy <= 1:
            raise BoardError("Only a finished run with an accuracy between 0 and 1 can be posted.")
        if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or epochs < 0:
            raise BoardError("Only a finished run with a whole number of epochs can be posted.")
        row = {
            "name": name, "created_at": utc(now), "accuracy": float(accuracy),
            "loss": float(loss) if _is_real(loss) else None, "epochs": int(epochs),
            "settings": json.dumps(dict(settings), sort_keys=True, allow_nan=False, default=_plain),
        }
        claimed = self._claim(session_id, client, row["created_at"])

        def replace(conn):  # one row per student and settings: the same run posted again replaces the old row
            conn.execute(posts.delete().where(posts.c.name == name, posts.c.settings == row["settings"]))
            return conn.execute(posts.insert().values(row)).inserted_primary_key[0]
        try:
            return self.run(replace)
        except BaseException:
            with self._lock:  # a post that failed doesn't count against the limits
                for limit, key in claimed:
                    limit.forget(key, row["created_at"])
            raise

    def newest(self, limit=20, digits=None):
        """The latest posts; only those of one experiment (a pair of digits, or all ten) when `digits` is given."""
        return self._select(limit, digits, posts.c.created_at.desc(), posts.c.id.desc())

    def best(self, limit=20, digits=None):
        """Highest accuracy first; of equal ones, whoever posted first. `digits` as for `newest`."""
        return self._select(limit, digits, posts.c.accuracy.desc(), posts.c.created_at, posts.c.id)

    def clear(self, passphrase, expected, client=None, now=None):
        """Delete every post if `passphrase` is the teacher's (`expected`); returns how many went.

        Wrong guesses are limited per client and in all, and a right one is refused too while they are."""
        self.check_passphrase(passphrase, expected, client, now, refused="the board was not cleared")
        cleared = self.run(lambda conn: conn.execute(posts.delete()).rowcount)
        log.warning("class board cleared by client %r: %d posts deleted", client, cleared)
        return cleared

    def check_passphrase(self, passphrase, expected, client=None, now=None, refused="nothing was changed"):
        """Return if `passphrase` is the teacher's (`expected`), else BoardError; what a refusal means is `refused`.

        Wrong guesses are limited per client and in all, and a right one is refused too while they are."""
        if not expected:
            raise BoardError("No teacher passphrase is set in the server's secrets ([board] passphrase).")
        now = utc(now)
        with self._lock:
            wait = max(self._guesses.wait(client, now), self._all_guesses.wait(None, now))
            if wait:
                raise BoardError(f"Too many wrong passphrases: try again in {_seconds(wait)}.")
            if not hmac.compare_digest(str(passphrase or "").encode(), str(expected).encode()):
                self._guesses.add(client, now)
                self._all_guesses.add(None, now)
                log.warning("wrong board passphrase from client %r", client)
                raise BoardError(f"Wrong passphrase: {refused}.")

    def _claim(self, session_id, client, now):
        """Count this post against its session's and its client's limits, or BoardError with the wait."""
        limits = [(self._session_posts, session_id)] + ([(self._client_posts, client)] if client is not None else [])
        with self._lock:
            wait = max(limit.wait(key, now) for limit, key in limits)
            if wait:
                raise BoardError(f"Please wait {_seconds(wait)} before posting again.")
            for limit, key in limits:
                limit.add(key, now)
        return limits

    def _select(self, limit, digits, *order):
        query = sa.select(posts).order_by(*order).limit(max(0, int(limit)))
        if digits is not None:  # the settings are stored as sorted JSON, so their digits read the same in every row
            query = query.where(posts.c.settings.contains(json.dumps({"digits": [int(d) for d in digits]})[1:-1]))
        rows = self.run(lambda conn: conn.execute(query).all())
        return [Post(r.id, r.name, utc(r.created_at), r.accuracy, r.loss, r.epochs, json.loads(r.settings))
                for r in rows]

    def run(self, work):
        """work(connection) in a transaction, within the deadline; the database's failures become BoardError."""
        for attempt in (1, 2):
            deadline = _Deadline(DB_TIMEOUT_SECONDS + 1)
            try:
                with deadline:
                    self._create_table(deadline)
                    with self.engine.connect() as conn:
                        deadline.watch(conn)
                        with conn.begin():
                            return work(conn)
            except exc.DBAPIError as e:
                if attempt == 1 and e.connection_invalidated and not deadline.fired:
                    continue  # a connection the database had dropped (say it restarted): once more, on a new one
                raise BoardError(_UNREACHABLE) from e
            except (exc.TimeoutError, OSError) as e:
                raise BoardError(_UNREACHABLE) from e

    def _create_table(self, deadline):
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            database = self.engine.url.database
            if self.engine.url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            with self.engine.begin() as conn:
                deadline.watch(conn)
                metadata.create_all(conn)
            self._ready = True


class RateLimit:
    """At most `limit` events per key in any `seconds`, in memory; keys whose events are all older are forgotten."""

    def __init__(self, limit, seconds):
        self.limit, self.seconds = limit, seconds
        self._times = {}  # key -> datetimes of its events within the last `seconds`

    def wait(self, key, now):
        """Seconds until `key` may have another event (0: now)."""
        self._forget_old(now)
        times = self._times.get(key, [])
        if len(times) < self.limit:
            return 0
        return max(self.seconds - (now - times[-self.limit]).total_seconds(), 1e-6)

    def add(self, key, now):
        self._times.setdefault(key, []).append(now)

    def forget(self, key, now):
        """Take back the event added at `now` (a post that failed)."""
        times = self._times.get(key, [])
        if now in times:
            times.remove(now)

    def _forget_old(self, now):
        for key, times in list(self._times.items()):
            times[:] = [t for t in times if (now - t).total_seconds() < self.seconds]
            if not times:
                del self._times[key]


class _Deadline:
    """Cuts the watched PostgreSQL connection if the operation outlives `seconds`: a frozen server never answers,
    not even to statement_timeout or a cancel request, so only closing the socket wakes the waiting thread."""

    def __init__(self, seconds):
        self.fired = False
        self._conns = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        with self._lock:  # after this the timer can't touch a connection that is back in the pool
            self._timer.cancel()
            self._conns = []

    def watch(self, conn):
        with self._lock:
            self._conns.append(conn.connection.dbapi_connection)

    def _fire(self):
        with self._lock:
            self.fired = bool(self._conns)
            for dbapi_connection in self._conns:
                pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg 3; SQLite has its busy timeout
                if pgconn is not None and pgconn.socket >= 0:
                    with socket.socket(fileno=os.dup(pgconn.socket)) as s:
                        s.shutdown(socket.SHUT_RDWR)
                    log.warning("class board database did not answer within %s s: connection cut", DB_TIMEOUT_SECONDS)


def _statement_timeout(dbapi_connection, _record):
    # Set per connection, not in the URL's options, so that a URL's own options (a search_path) are kept.
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {DB_TIMEOUT_SECONDS * 1000}")
    dbapi_connection.commit()


def _seconds(wait):
    wait = math.ceil(wait)
    return f"{wait} second{'s' * (wait != 1)}"


def _sqlite_wal(dbapi_connection, _record):
    # WAL lets readers go on while someone posts; the mode is stored in the file, so this is cheap.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def utc(t):
    """Now, or `t`, as an aware UTC datetime (naive ones, as SQLite gives them back, are taken as UTC)."""
    if t is None:
        return datetime.now(timezone.utc)
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _plain(value):
    """JSON for numpy scalars in the settings (np.int64 is not an int)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"settings can't hold {type(value).__name__}")
