"""Class rounds: every student predicts what an experiment will do, then the class watches what it does.

    rounds = Rounds(board)                              # the class board's database: works across replicas
    code = rounds.open(BANK["lr_100"], passphrase, expected)   # "K7QD": students join with ?round=K7QD
    rounds.vote(code, "vote", session_id, option=3, sketch=[[0.0, 0.5], [1.0, 0.6]], name="Ada")
    rounds.advance(code, "vote_again", passphrase, expected)   # after discussion: a second vote, the first kept
    rounds.advance(code, "reveal", passphrase, expected)
    state = rounds.get(code)                           # the question, its stage and every vote

Stages, in order: "vote" -> "vote_again" -> "reveal" -> "closed" (a teacher may skip "vote_again"). A student has
one vote per stage and may change it until the stage closes; a vote cast in a stage that has closed (the page still
showed it) is refused with a sentence that says so, never counted in the next one. Rounds expire ROUND_HOURS after
they open. The teacher's actions take the board's passphrase, with its limits on wrong guesses; every failure is a
BoardError whose message can be shown as it is.
"""
import csv
import io
import json
import math
import secrets
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import cached_property

import sqlalchemy as sa

from digitviz.board import DB_TIMEOUT_SECONDS, BoardError, RateLimit, check_name, inert, utc
from digitviz.questions import Question

STAGES = ("vote", "vote_again", "reveal", "closed")
VOTING = {"vote": 1, "vote_again": 2}  # the stages that take votes, and which vote each is
ROUND_HOURS = 4  # a lesson and its discussion; then the round and its votes are gone
CODE_LETTERS = "ACDEFHJKMNPRTUVWXY3479"  # no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B: read off a projector at the back
CODE_LENGTH = 4
SKETCH_POINTS = 60  # a curve sketched on a phone, thinned to this many points by the page
# A whole class behind one school address votes within a minute; a script gets no more than that.
CLIENT_VOTES, CLIENT_SECONDS = 600, 60
SESSION_VOTES, SESSION_SECONDS = 10, 10  # a student changing their mind, not a loop
# Every page of a class reads its round every 2 s (its stage watch), and all of them at once at the reveal: the
# pages of one server share a read this fresh. A write through this server is seen at once; one through another
# replica at most this late.
FRESH_SECONDS = 0.5
GONE = "This round has ended (or its code is wrong): ask your teacher for the new code."
CLOSED = {
    "vote_again": "The first vote has closed: the class is voting again now.",
    "reveal": "Voting has closed: the answer is being revealed.",
    "closed": "Voting has closed: this round is over.",
}

metadata = sa.MetaData()
rounds_table = sa.Table(
    "digitviz_rounds", metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("question", sa.Text, nullable=False),  # JSON: the whole Question, a teacher's own included
    sa.Column("stage", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
votes_table = sa.Table(
    "digitviz_votes", metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("vote", sa.Integer, primary_key=True),  # 1: the first vote, 2: after discussion
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("option", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=True),  # only if the student typed one; the CSV says "anonymous" otherwise
    sa.Column("sketch", sa.Text, nullable=True),  # JSON [[epoch fraction, accuracy], ...], each 0..1
    sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Vote:
    session_id: str
    option: int
    name: str | None
    stored_sketch: str | None = None  # as the database holds it: JSON, read only when a figure draws it

    @cached_property
    def sketch(self):
        """The sketched curve, ((x, y), ...) each from 0 to 1, or None. Read on demand: every page's stage watch
        reads the round every 2 s for its counts alone, and a class's sketches are most of what it would parse."""
        return None if self.stored_sketch is None else tuple(tuple(p) for p in json.loads(self.stored_sketch))


@dataclass(frozen=True)
class Round:
    """A round as it stands: its question, its stage and the votes cast in each voting stage."""
    code: str
    question: Question
    stage: str
    expires_at: object  # datetime, UTC
    votes: dict  # 1 or 2 -> {session_id: Vote}

    def counts(self, vote):
        """How many chose each option in vote 1 or 2, as a list in the options' order."""
        tally = Counter(v.option for v in self.votes.get(vote, {}).values())
        return [tally[i] for i in range(len(self.question.options))]

    def voters(self, vote):
        return len(self.votes.get(vote, {}))

    def moved_to_right(self):
        """Peer instruction's figure of merit: (voted wrong first and right after discussion, voted both times)."""
        first, second = self.votes.get(1, {}), self.votes.get(2, {})
        both = first.keys() & second.keys()
        right = self.question.answer
        moved = sum(first[s].option != right and second[s].option == right for s in both)
        return moved, len(both)

    def own(self, session_id):
        """This student's votes: {1 or 2: Vote}."""
        return {n: votes[session_id] for n, votes in self.votes.items() if session_id in votes}


def question_json(question):
    return json.dumps(asdict(question), sort_keys=True)


def question_of(text):
    q = json.loads(text)
    return Question(**{**q, "options": tuple(q["options"])})


def check_sketch(sketch):
    """A sketched curve as stored: points (x, y) within 0..1, at most SKETCH_POINTS; None for no sketch."""
    if sketch is None:
        return None
    try:
        points = tuple((float(x), float(y)) for x, y in sketch)
    except (TypeError, ValueError) as e:
        raise BoardError("A sketch is a list of points.") from e
    if not 2 <= len(points) <= SKETCH_POINTS or not all(
            math.isfinite(v) and 0 <= v <= 1 for point in points for v in point):
        raise BoardError(f"A sketch is 2 to {SKETCH_POINTS} points inside the chart.")
    return points


class _Fresh:
    """The rounds this process read in the last FRESH_SECONDS, by (database, code), shared by every Rounds on the
    same database. A write through any of them makes the reads from before it stale at once."""

    def __init__(self, stripes=64):
        self._lock = threading.Lock()
        self._reads, self._writes = {}, Counter()  # key -> (writes seen, when read, Round); key -> writes so far
        # One read of a round at a time: when a shared read grows stale, a class's hundred pages would otherwise
        # all read the database at that moment, each parsing every vote (at a reveal, 12% of py-spy's
        # samples of the server holding the GIL).
        self._reading = [threading.Lock() for _ in range(stripes)]

    def reading(self, key):
        """The lock that a read of round `key` holds, so that pages asking meanwhile wait for it and share it."""
        return self._reading[hash(key) % len(self._reading)]

    def before_read(self, key):
        """(the round if read fresh since the last write, the token a new read of it is stored under)"""
        with self._lock:
            writes, hit = self._writes[key], self._reads.get(key)
        token = (writes, time.monotonic())
        if hit and hit[0] == writes and token[1] - hit[1] < FRESH_SECONDS and hit[2].expires_at > utc(None):
            return hit[2], token
        return None, token

    def read(self, key, token, found):
        with self._lock:
            self._reads = {k: r for k, r in self._reads.items() if token[1] - r[1] < FRESH_SECONDS}
            self._reads[key] = (*token, found)

    def wrote(self, key):
        with self._lock:
            self._writes[key] += 1
            self._reads.pop(key, None)


_fresh = _Fresh()


class Rounds:
    """Class rounds in the class board's database (its engine, its timeouts, its passphrase check)."""

    def __init__(self, board):
        self.board = board
        self._client_votes = RateLimit(CLIENT_VOTES, CLIENT_SECONDS)
        self._session_votes = RateLimit(SESSION_VOTES, SESSION_SECONDS)
        self._lock = threading.Lock()
        self._ready = False

    def open(self, question, passphrase, expected, client=None, now=None):
        """Open a round on `question` at its first vote; returns its code. Expired rounds are cleared away."""
        self.board.check_passphrase(passphrase, expected, client, now, refused="no round was opened")
        now = utc(now)

        def insert(conn):
            self._forget_expired(conn, now)
            taken = {r.code for r in conn.execute(sa.select(rounds_table.c.code))}
            code = next(c for c in iter(_new_code, None) if c not in taken)
            conn.execute(rounds_table.insert().values(
                code=code, question=question_json(question), stage="vote", created_at=now,
                expires_at=now + timedelta(hours=ROUND_HOURS)))
            return code
        return self._run(insert)

    def advance(self, code, stage, passphrase, expected, client=None, now=None):
        """Move the round on to `stage` (only forwards); returns the round as it now stands."""
        if stage not in STAGES[1:]:
            raise BoardError(f"A round moves on to one of: {', '.join(STAGES[1:])}.")
        self.board.check_passphrase(passphrase, expected, client, now, refused="the round did not move on")
        now = utc(now)

        def update(conn):
            current = self._stage(conn, code, now)
            if STAGES.index(stage) <= STAGES.index(current):
                raise BoardError(f"This round is already at '{current}'.")
            conn.execute(rounds_table.update().where(rounds_table.c.code == code).values(stage=stage))
        self._run(update)
        _fresh.wrote(self._key(code))
        return self.get(code, now)

    def vote(self, code, stage, session_id, option, sketch=None, name=None, client=None, now=None):
        """Cast or change this session's vote in `stage` (the one its page showed), if the round is still there;
        returns which vote it was (1 or 2)."""
        name = check_name(name) if name else None
        sketch = check_sketch(sketch)
        if not isinstance(option, int) or isinstance(option, bool):
            raise BoardError("Pick one of the options.")
        now = utc(now)
        self._count_vote(session_id, client, now)

        def upsert(conn):
            current = self._stage(conn, code, now)
            if current != stage:
                raise BoardError(CLOSED.get(current, "This round is not voting yet."))
            question = question_of(conn.execute(sa.select(rounds_table.c.question)
                                                .where(rounds_table.c.code == code)).scalar_one())
            if option not in range(len(question.options)):
                raise BoardError("Pick one of the options.")
            key = (votes_table.c.code == code) & (votes_table.c.vote == VOTING[stage]) & \
                  (votes_table.c.session_id == session_id)
            conn.execute(votes_table.delete().where(key))
            conn.execute(votes_table.insert().values(
                code=code, vote=VOTING[stage], session_id=session_id, option=option, name=name,
                sketch=None if sketch is None else json.dumps(sketch), voted_at=now))
            return VOTING[stage]
        counted = self._run(upsert)
        _fresh.wrote(self._key(code))  # the voter's page, drawn next, shows the vote
        return counted

    def get(self, code, now=None):
        """The round and its votes; BoardError(GONE) for a code that is wrong or has expired. `now` (for tests of
        expiry) always reads the database; otherwise a read from the last FRESH_SECONDS may serve."""
        if now is not None:
            return self._read(code, utc(now))
        key = self._key(code)
        shared, token = _fresh.before_read(key)
        if shared is not None:
            return shared
        reading = _fresh.reading(key)
        waited = reading.acquire(timeout=DB_TIMEOUT_SECONDS)  # a sick database: each page keeps its own deadline
        try:
            shared, token = _fresh.before_read(key)  # read meanwhile by the page this one waited for
            if shared is not None:
                return shared
            found = self._read(code, utc(None))
            _fresh.read(key, token, found)
            return found
        finally:
            if waited:
                reading.release()

    def _key(self, code):
        return str(self.board.engine.url), code

    def _read(self, code, now):
        def read(conn):
            row = conn.execute(sa.select(rounds_table).where(rounds_table.c.code == code)).one_or_none()
            if row is None or utc(row.expires_at) <= now:
                raise BoardError(GONE)
            votes = {}
            for v in conn.execute(sa.select(votes_table).where(votes_table.c.code == code)):
                votes.setdefault(v.vote, {})[v.session_id] = Vote(v.session_id, v.option, v.name, v.sketch)
            return Round(row.code, question_of(row.question), row.stage, utc(row.expires_at), votes)
        return self._run(read)

    def _stage(self, conn, code, now):
        row = conn.execute(sa.select(rounds_table.c.stage, rounds_table.c.expires_at)
                           .where(rounds_table.c.code == code)).one_or_none()
        if row is None or utc(row.expires_at) <= now:
            raise BoardError(GONE)
        return row.stage

    def _count_vote(self, session_id, client, now):
        limits = [(self._session_votes, session_id)] + ([(self._client_votes, client)] if client else [])
        with self._lock:
            if any(limit.wait(key, now) for limit, key in limits):
                raise BoardError("Too many votes at once: wait a few seconds and vote again.")
            for limit, key in limits:
                limit.add(key, now)

    def _forget_expired(self, conn, now):
        gone = [r.code for r in conn.execute(sa.select(rounds_table.c.code).where(rounds_table.c.expires_at <= now))]
        if gone:
            conn.execute(votes_table.delete().where(votes_table.c.code.in_(gone)))
            conn.execute(rounds_table.delete().where(rounds_table.c.code.in_(gone)))

    def _run(self, work):
        """work(connection) in the board's transaction and deadline, with the rounds' tables made first."""
        def with_tables(conn):
            if not self._ready:
                metadata.create_all(conn)
            return work(conn)
        result = self.board.run(with_tables)
        self._ready = True
        return result


def _new_code():
    return "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))


def round_csv(round_):
    """The round's results, one row per student: anonymous unless they typed a name; no cell runs as a formula."""
    q = round_.question
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "first vote", "second vote", "right answer", "right at the end"])
    sessions = sorted(set().union(*(v.keys() for v in round_.votes.values())))
    right = q.options[q.answer] if q.answer is not None else ""
    for s in sessions:
        first, second = round_.votes.get(1, {}).get(s), round_.votes.get(2, {}).get(s)
        last = second or first
        name = next((v.name for v in (second, first) if v is not None and v.name), None) or "anonymous"
        writer.writerow([inert(name), inert(q.options[first.option]) if first else "",
                         inert(q.options[second.option]) if second else "", inert(right),
                         "" if q.answer is None else ("yes" if last.option == q.answer else "no")])
    return out.getvalue()


def sketch_points(ink, points=SKETCH_POINTS):
    """A curve drawn on a canvas as sketch points: `ink` marks the inked pixels (height, width), row 0 at the top
    (100%), the last row 0%; each inked column gives its ink's mean height. None if less than two columns have ink.
    Thinned to at most `points`, evenly along the x axis."""
    height, width = ink.shape
    columns = [(x, ink[:, x].nonzero()[0]) for x in range(width)]
    drawn = [(x / (width - 1), 1 - rows.mean() / (height - 1)) for x, rows in columns if rows.size]
    if len(drawn) < 2:
        return None
    step = max(1, math.ceil(len(drawn) / points))
    kept = drawn[::step]
    if kept[-1] != drawn[-1] and len(kept) < points:
        kept.append(drawn[-1])
    return tuple((round(float(x), 4), round(float(y), 4)) for x, y in kept)
