"""Training in worker processes, shared fairly by a class, so that a server's own Python only draws.

One Python process runs Python code on one core at a time (the GIL), and a page server's Python is busy
drawing charts for a whole class. Training in worker processes frees it: a run goes to a worker a chunk of
epochs at a time (about chunk_seconds each), and the page draws each chunk's records as they come back. The
records are the same as `engine.train` gives in one go, because a run continued from its last record is the
same run (each epoch's shuffle is seeded by its number).

    pool = shared_pool(os.cpu_count())          # one per server process; survives Streamlit's cache clearing
    for item in pool.train(config, (3, 7)):
        if isinstance(item, Waiting):           # every worker busy: "2nd in line, about 1 s"
            ...
        else:                                   # an EpochRecord, exactly as engine.train yields it
            ...

Sharing: a run holds a worker for one chunk, then queues again. While its student's session (a browser tab) has
used less than FIRST_SHARE_SECONDS of the workers lately, a run keeps its place in line (first come, first served);
after that it takes turns with the other long runs behind every newer short one, and a long run's chunk gives way
to a first share waiting for a worker (the epoch under way is computed again at its next turn): fastai's Learner
between batches, the kernel's models at the end of the epoch's compiled call, which a signal waits for.
A class pressing Train at once sees its runs finish one after another instead of all together at the end, and a
short run never waits behind a long one, however slow its epochs, for more than a moment. Budgets are a session's,
not a button press's: each run may use RUN_CPU_SECONDS of a worker's time, and a session SESSION_CPU_SECONDS,
refilled slowly, with at most SESSION_RUNS runs in the pool at once. Other work for the workers (`pool.call`, the
Inside SGD views' computations) takes its turn in the same line. Faults stay with the run they hit: a worker that
dies (the kernel's out-of-memory killer) or stops using the CPU for STALL_SECONDS (stopped, stuck) is killed and
replaced, and that run alone ends with a `TrainingError` whose message can be shown to its student as it is.
"""
import atexit
import bisect
import contextlib
import ctypes
import heapq
import itertools
import logging
import os
import pickle
import signal
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from functools import lru_cache
from multiprocessing.connection import wait

from digitviz.blocks import carpool_key, epoch_cost
from digitviz.data import LESSON_DIGITS, digit_arrays
from digitviz.forking import worker_context

log = logging.getLogger(__name__)

# A run's share of a worker, in CPU seconds. The lesson's longest run (1,000 epochs of the 3/7 pair) takes 3 s of
# one idle core and 10 s of CPU on a loaded one (measured here: 3 to 10 ms an epoch); twice that lets it finish on
# a busy server, while the interleaving below keeps the runs that use it all from holding anyone else up.
RUN_CPU_SECONDS = 20.0
# A worker that uses no CPU at all for this long while it has a chunk is stopped or stuck, never merely slow:
# an epoch always computes. Long enough for a loaded machine to schedule it, short enough for a student to wait.
STALL_SECONDS = 5.0
# A run's first share of a worker, served first come, first served: the page's default run (30 epochs, about 0.13 s)
# and the lesson's 300 epochs on an idle core fit in it, so a class's runs finish in the order they were asked for.
FIRST_SHARE_SECONDS = 1.0
# A session's (a browser tab's) share of the workers, whatever its runs and clicks (Train, Resume, Step): at most
# SESSION_CPU_SECONDS of CPU (two of the longest runs on a loaded machine), given back at SESSION_REFILL seconds a
# second (6 s a minute); its first share, served first come first served, comes back at FIRST_SHARE_REFILL a second,
# so a tab pressing Train again and again gets no fresh place at the front of the line.
SESSION_CPU_SECONDS = 40.0
SESSION_REFILL = 0.1
FIRST_SHARE_REFILL = 0.2
SESSION_RUNS = 2  # a session's runs in the pool at once: a click's new script run, while the old one lets go
# A long run's chunk gives way to a first share waiting for a worker once it has run this long, so a newcomer never
# waits behind an epoch that takes seconds (the fastai model, batch size 1); the epoch is computed again later.
PREEMPT_SECONDS = 0.05
WAIT_REPORT_SECONDS = 0.5  # how often a waiting run hears its place again (each a chance for the page to stop)
WATCH_SECONDS = 0.1  # how often a chunk's worker is checked for life and progress
START_SECONDS = 120.0  # a new worker that is not ready by then (it is forked ready: well under a second) is replaced
START_GUESS_SECONDS = 5.0  # what a wait for a worker that is still starting is estimated at
# Runs waiting for a worker that see the same batches train together, as one carpool (digitviz.carpool): a block's
# student-epoch costs a fraction of a lone run's. A hundred fills a worker's cache well; more only make chunks longer.
CARPOOL_RUNS = 100
# A carpool's epoch is one call into compiled code, which a first share's signal waits for: a block is kept to this
# much work (carpool.epoch_cost: rows of weights times digits, more at small batches), about a third of a second of
# a worker (the lesson's 100 runs: 200; nine two-layer runs, or five ten-digit ones, at batch 256), so that a
# newcomer waits no longer.
CARPOOL_ROW_DIGITS = 600
_PR_SET_PDEATHSIG, _PR_SET_NAME = 1, 15  # from <linux/prctl.h>
WORKER_NAME = "digitviz-worker"  # what `ps` (and psutil's name()) shows for a training worker: 15 bytes at most


class TrainingError(RuntimeError):
    """A run that could not go on; the message says so in words a student can read."""


class RunBudgetError(TrainingError):
    """The run has used its RUN_CPU_SECONDS, or its session its SESSION_CPU_SECONDS."""


class Preempted(BaseException):
    """Raised in a worker, between two steps of a chunk, when the pool wants the worker back for a first share.
    A BaseException, so that no library's `except Exception` swallows it."""


WORKER_LOST = "The process training your run stopped unexpectedly (the server may be short of memory)."
WORKER_STUCK = "The process training your run stopped making progress, so it was restarted."
CLOSING = "The server is shutting down, so training stopped."
TRY_AGAIN = " Your epochs so far are kept: press **Resume** to go on, or **Train** to start again."


@dataclass(frozen=True)
class Waiting:
    """Every worker is busy: this run is `position`th in line (1 is next) and should start in about eta_seconds.
    starting: no worker is ready yet (the server has just started them), rather than busy with others' runs.
    slot: a server without workers, where runs train in the page's thread: every training slot is taken, and
    there is no line to count (digitviz.training)."""
    position: int
    eta_seconds: float
    starting: bool = False
    slot: bool = False


@dataclass
class _Share:
    """A session's account with the pool: CPU seconds it may still use, the part of them served first, its runs in
    the pool now. Both budgets refill with time, the first share only while the session has no run in the pool."""
    cpu: float
    first: float
    at: float = field(default_factory=time.monotonic)
    runs: int = 0

    def refill(self, now):
        """Bring the budgets up to `now`; call it before `runs` changes."""
        self.cpu = min(SESSION_CPU_SECONDS, self.cpu + (now - self.at) * SESSION_REFILL)
        if not self.runs:
            self.first = min(FIRST_SHARE_SECONDS, self.first + (now - self.at) * FIRST_SHARE_REFILL)
        self.at = now
        return self

    def charge(self, cpu):
        self.cpu, self.first = self.cpu - cpu, self.first - cpu

    @property
    def idle(self):
        """Back to a newcomer's budgets, with nothing in the pool: as good as forgotten."""
        return self.runs == 0 and self.cpu >= SESSION_CPU_SECONDS and self.first >= FIRST_SHARE_SECONDS


@dataclass
class _Chunk:
    """A run's next chunk of epochs, as it waits for a worker: what a carpool needs to take it along."""
    config: object  # the run's TrainConfig, its epochs the chunk's
    digits: tuple
    start: object  # the EpochRecord it continues from, or None
    cpu_left: float  # the run's CPU seconds left
    preempt_after: float  # how long its chunk goes on before it gives way to a first share

    @property
    def stream(self):
        """What a run must share with this one to ride in its carpool (None: it trains alone): the same batches,
        and, shuffled, the same epoch's order."""
        key = carpool_key(self.config)
        if key is None:
            return None
        return key, self.digits, self.start.epoch if self.config.shuffle and self.start is not None else 0


@dataclass
class _Request:
    """A run's chunk, or a call, waiting for a worker."""
    guess: float  # seconds its task should take
    hold: float  # seconds it should keep workers from those behind it, for the estimates: a run's rest of its share
    turn: threading.Condition  # on the pool's lock: notified when a worker comes free for it
    chunk: _Chunk | None = None  # None: a call
    worker: object = None  # the worker it got
    riders: list = field(default_factory=list)  # the _Requests it takes along in its carpool, once it has a worker
    carpool: bool = False  # another run took it along in its carpool
    back: bool = False  # that carpool is back from its worker
    outcome: object = None  # then: its (outcome, cpu, preempted), or None if nothing trained


def _packed(function, *args):
    """A task for a worker, pickled (plainly: nothing moves to shared memory) for Connection.send_bytes:
    function(*args) in the worker."""
    return pickle.dumps((function, args))


def _outcome(generator, each):
    """Run a generator to its end, handing each item it yields to `each`; return what it returns."""
    try:
        while True:
            each(next(generator))
    except StopIteration as end:
        return end.value


# What runs in a worker. The pool above runs in the page server's process, which loads neither torch nor numba; so
# the carpool (the numba kernel) is imported where a worker uses it, and the fork server has imported it already
# (digitviz.forkserver_preload): in a worker that import is a lookup. The kernel's models train without torch, and a
# worker loads torch (1.3-1.4 s here) only for what needs it: fastai's Learner and the lr finder.

@lru_cache(maxsize=4)
def _worker_data(digits):
    """Each worker loads the digits it is asked for once, and keeps them, as NumPy arrays (what needs tensors makes
    them from these: digitviz.data.as_tensors)."""
    return digit_arrays(digits)


def preload_lesson_data():
    """The lesson's digits read, and laid out for the kernel, in the fork server before it forks any worker: every
    worker starts with them (shared, copy-on-write), where each read them on its first run, 0.6 s of a worker that
    a class's first runs waited for (measured: the second worker's first chunk in a class of 100)."""
    from digitviz.carpool import kernel_stream
    kernel_stream(_worker_data(LESSON_DIGITS))


def _die_with_parent():
    """Ask Linux to SIGKILL this worker when the thread that forked it ends (the fork server's, which ends with the
    server), so no worker outlives the server; and name it, so that `ps` and the fault tests can tell it."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.prctl(_PR_SET_NAME, WORKER_NAME.encode())
    except (OSError, AttributeError):  # not Linux: the pool's close and the daemon flag still end the workers
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


# How a worker in a chunk's epochs gives itself back when the pool asks (else it is between tasks, or loading):
# "now" (fastai's Learner steps batch by batch in Python, and its epochs may take minutes), or "after the epoch" (the
# kernel's models: an epoch is one compiled call, and the signal is only heard once it returns, with every run's
# records for that epoch made, so they are kept).
_giving_way = None
_asked_back = False  # the pool asked during a kernel epoch


def _preempt(signum, frame):
    """SIGUSR1 from the pool: give the worker back, as _giving_way says."""
    global _asked_back
    if _giving_way == "now":
        raise Preempted
    if _giving_way == "after the epoch":
        _asked_back = True


def train_chunk(configs, digits, starts, cpu_left):
    """Each config's epochs from its start, in a worker, as one carpool if there are several: ("done", [each run's
    ("done", records) or ("error", exception)], cpu seconds), or ("error", exception). Asked back by the pool, or at
    cpu_left, it returns the epochs finished so far (maybe none): fastai's drops the one under way, the kernel's
    keep it."""
    global _giving_way, _asked_back
    began = time.process_time()
    try:
        data = _worker_data(tuple(digits))  # loading, importing: never cut short, they would be paid for again
        fastai = any(config.model == "fastai" for config in configs)
        if fastai:
            import digitviz.fastai_model  # noqa: F401
        outcomes, ok = [None] * len(configs), []
        for i, config in enumerate(configs):  # a run that can't train fails alone, not its carpool
            try:
                config.check_data(data)
                ok.append(i)
            except Exception as e:  # noqa: BLE001
                outcomes[i] = "error", _portable(e)
        records, _asked_back = {i: [] for i in ok}, False
        try:
            _giving_way = "now" if fastai else "after the epoch"
            for i, record in _records(configs, data, starts, ok):
                records[i].append(record)
                if (_asked_back or time.process_time() - began >= cpu_left) and _epoch_in(configs, records):
                    break
        except Preempted:
            pass
        finally:
            _giving_way = None
    except Exception as e:  # handed to the run's thread and raised there, as ProcessPoolExecutor does
        return "error", _portable(e)
    for i in ok:
        outcomes[i] = "done", records[i]
    return "done", outcomes, time.process_time() - began


def _epoch_in(configs, records):
    """Whether the chunk's latest epoch is in for every run it had: a carpool yields each epoch's records run by run,
    after the one compiled call that made them all. A run with fewer records has ended (its epochs done, or
    diverged)."""
    latest = max(len(r) for r in records.values())
    return all(len(r) == latest or len(r) >= configs[i].epochs or (r and r[-1].diverged) for i, r in records.items())


def _records(configs, data, starts, which):
    """(index, EpochRecord) of the runs `which`, as they are computed: as one carpool (maybe of one), or fastai's
    Learner alone (the pool never groups it with others)."""
    if which and carpool_key(configs[which[0]]) is None:
        from digitviz.engine import train  # imports torch
        i, = which
        return ((i, record) for record in train(configs[i], data, start=starts[i]))
    from digitviz.carpool import train_carpool
    pairs = train_carpool([configs[i] for i in which], data, [starts[i] for i in which])
    return ((which[k], record) for k, record in pairs)


def call_with_data(function, digits, kwargs):
    """function(data=the digits' data, **kwargs) in a worker: ("done", result, cpu seconds), or ("error", exception)."""
    began = time.process_time()
    try:
        result = function(data=_worker_data(tuple(digits)), **kwargs)
    except Exception as e:
        return "error", _portable(e)
    return "done", result, time.process_time() - began


def _portable(error):
    """The exception itself if it survives a trip through pickle, else a RuntimeError that says what it was."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 (custom __init__ arguments, unpicklable attributes, ...)
        return RuntimeError(f"{type(error).__name__}: {error}")


def _serve(conn):
    """A worker's life: announce itself, then do each task it is sent (a function and its arguments) until told to
    stop."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which then closes the pool
    signal.signal(signal.SIGUSR1, _preempt)
    # As many workers as cores: more threads each would only fight over them. torch, if a task imports it, reads this
    # then (the kernel is single-threaded).
    os.environ["OMP_NUM_THREADS"] = "1"
    from digitviz.carpool import warm_up
    warm_up()  # the carpool kernel compiled (or loaded from numba's cache) before the first run, not during it
    conn.send(("ready", os.getpid()))
    try:
        while (task := conn.recv()) is not None:
            function, args = task
            reply = function(*args)
            try:
                conn.send(reply)
            except Exception as e:  # noqa: BLE001 (a result that can't travel must not end the worker)
                conn.send(("error", RuntimeError(f"the result could not be sent back ({type(e).__name__}: {e})")))
    except (EOFError, OSError):  # the server has gone
        pass


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self, context):
        self.conn, child = context.Pipe()
        # daemon: at exit multiprocessing terminates it instead of waiting for it
        self.process = context.Process(target=_serve, args=(child,), daemon=True,
                                       name="digitviz-trainer")
        self.process.start()
        child.close()
        self.started = time.monotonic()
        self.pid = self.process.pid

    def cpu_seconds(self):
        """User + system CPU time the worker has used, or None once it has gone."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            return None
        if fields[0] in "ZX":  # a zombie: dead, not yet reaped
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self):
        """SIGKILL (it works on a stopped process too) and reap it."""
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class TrainingPool:
    """Worker processes that train runs a chunk at a time, taking turns; faults end only the run they hit."""

    def __init__(self, processes):
        if processes < 1:
            raise ValueError(f"a training pool needs at least 1 process, got {processes}")
        self.processes = processes
        self._context = worker_context()  # workers forked from a fork server that has loaded the kernel once
        self._lock = threading.Lock()
        self._turns = threading.Condition(self._lock)  # the keeper waits on it for a worker to replace
        self._tickets = itertools.count()
        self._queue = []  # keys of the requests waiting for a worker, in the order they are served (sorted)
        self._requests = {}  # key -> _Request: each waiting one's guesses and its own condition to wake it
        self._free = []  # ready workers
        self._busy = {}  # worker -> (monotonic time its chunk should end, its request's key, its first share left)
        self._shares = {}  # session -> _Share
        self._left = threading.Condition(self._lock)  # notified when a session's run leaves the pool
        self._starting = []  # workers not yet ready
        self.carpools = self.carpooled = 0  # carpools formed (two runs or more), and the runs that trained in them
        self._closed = False
        # The keeper starts every worker and lives as long as the pool: Linux ties PDEATHSIG to the thread that
        # started a process, so workers started from a page's script thread would die when that run ended.
        self._keeper = threading.Thread(target=self._keep, name="digitviz-training-pool", daemon=True)
        self._keeper.start()
        _pools.add(self)

    @property
    def closed(self):
        return self._closed

    @property
    def broken(self):
        """Closed, or its keeper has died so that lost workers would never be replaced."""
        return self._closed or not self._keeper.is_alive()

    def pids(self):
        """The worker processes' ids, starting ones included."""
        with self._turns:
            return [w.pid for w in [*self._free, *self._busy, *self._starting]]

    def train(self, config, digits, start=None, chunk_seconds=0.25, cpu_seconds=RUN_CPU_SECONDS, session=None):
        """Yield the run's records like engine.train, and a Waiting now and then while every worker is busy.

        `session`: whose run it is (a browser tab's id), whose budgets it draws on; None: a budget of its own.
        Raises TrainingError (its message is for the student) if the run's worker is lost or stuck, or the
        server closes, and RunBudgetError once the run has used cpu_seconds or its session its share; the
        records yielded before stand."""
        share = yield from self._admit(session)
        try:
            yield from self._chunks(config, digits, start, chunk_seconds, cpu_seconds, share)
        finally:
            with self._lock:
                share.refill(time.monotonic()).runs -= 1
                self._left.notify_all()

    def _chunks(self, config, digits, start, chunk_seconds, cpu_seconds, share):
        done, size, spent = 0, 1, 0.0  # the first chunk is one epoch: it shows something at once, and times it
        guess, per_epoch, arrival = chunk_seconds, None, next(self._tickets)
        while done < config.epochs:
            with self._lock:
                share.refill(time.monotonic())
                first, left = share.first, min(cpu_seconds - spent, share.cpu)
            if left <= 0:
                raise RunBudgetError(_out_of_budget(share, cpu_seconds, start))
            n = min(size, config.epochs - done)
            rest = guess if per_epoch is None else (config.epochs - done) * per_epoch
            if first > 0:  # keeps its place in line, so it goes on until its session's first share is used
                key, hold = (0, arrival), min(rest, first)
            else:  # a long run: to the back of the line, behind every newer short run
                key, hold = (1, next(self._tickets)), guess
            chunk = _Chunk(replace(config, epochs=n), tuple(digits), start, left, PREEMPT_SECONDS if key[0] else first)
            began = start.seconds if start is not None else 0.0
            records, cpu, preempted = yield from self._train_chunk(key, guess, max(hold, guess), chunk)
            with self._lock:
                share.charge(cpu)
                if preempted:  # it gave way to a first share: it must not come back in front of it
                    share.first = min(share.first, 0.0)
            spent += cpu
            yield from records
            if not records:  # preempted before an epoch ended: its turn comes again
                continue
            done, start = done + len(records), records[-1]
            if start.diverged:
                return
            per_epoch = max((start.seconds - began) / len(records), 1e-4)
            size = max(1, int(chunk_seconds / per_epoch))
            guess = min(size, config.epochs - done) * per_epoch

    def _train_chunk(self, key, guess, hold, chunk):
        """Train the chunk on a worker once its turn comes, taking along the waiting runs that can share its
        carpool; or, if another run took it along, wait for that. Returns (records, cpu seconds charged to it,
        whether it was asked to give way); no records: it must queue again (a generator: `yield from`)."""
        request = yield from self._wait_for_worker(key, guess, hold, chunk)
        if request.carpool:
            return self._ride_back(request)
        chunks = [chunk, *(rider.chunk for rider in request.riders)]
        cpu_left = min(c.cpu_left for c in chunks) * len(chunks)  # each run pays its part of the carpool's CPU
        task = _packed(train_chunk, [c.config for c in chunks], chunk.digits, [c.start for c in chunks], cpu_left)
        outcomes = None
        try:
            outcomes, cpu, preempted = self._run_chunk(request.worker, task, cpu_left,
                                                       max(c.preempt_after for c in chunks))
        finally:  # its riders get their records, or, if the worker failed, queue again: the fault is this run's
            self._hand_back(request.riders, outcomes and [(o, cpu / len(chunks), preempted) for o in outcomes[1:]])
        status, *result = outcomes[0]
        if status == "error":
            raise result[0]
        return result[0], cpu / len(chunks), preempted

    def _hand_back(self, riders, outcomes):
        """Give each rider its (outcome, cpu, preempted), or None: it trains no epochs this time and queues again."""
        with self._lock:
            for i, rider in enumerate(riders):
                rider.outcome, rider.back = outcomes[i] if outcomes else None, True
                rider.turn.notify()

    def _ride_back(self, request):
        """A rider's (records, cpu, preempted) once the carpool it rode in is back."""
        with self._lock:
            while not request.back:
                if self._closed:
                    raise TrainingError(CLOSING)
                request.turn.wait(WATCH_SECONDS)
        if request.outcome is None:  # its carpool's worker failed: nothing trained, queue again
            return [], 0.0, False
        (status, *result), cpu, preempted = request.outcome
        if status == "error":
            raise result[0]
        return result[0], cpu, preempted

    def _admit(self, session):
        """The session's account once it has fewer than SESSION_RUNS runs in the pool, yielding Waiting till then
        (a generator: `yield from`); a fresh account for no session."""
        while True:
            with self._lock:
                share = self._share(session).refill(time.monotonic())
                if share.runs < SESSION_RUNS:
                    share.runs += 1
                    return share
                self._left.wait(WAIT_REPORT_SECONDS)
            yield Waiting(1, WAIT_REPORT_SECONDS)

    def _share(self, session):
        """The session's account (holds the lock); accounts back to full and unused are forgotten."""
        if session is None:
            return _Share(SESSION_CPU_SECONDS, FIRST_SHARE_SECONDS)
        if session not in self._shares and len(self._shares) >= 1000:
            now = time.monotonic()
            self._shares = {k: v for k, v in self._shares.items() if not v.refill(now).idle}
        return self._shares.setdefault(session, _Share(SESSION_CPU_SECONDS, FIRST_SHARE_SECONDS))

    def call(self, function, digits, kwargs, waiting=None, guess=0.25, cpu_seconds=RUN_CPU_SECONDS):
        """function(data=load_digits(digits), **kwargs) in a worker, in line like a new run's first chunk (or, if
        it should take longer than a first share, behind newer short runs, as a long run's chunk); while every
        worker is busy, waiting(Waiting) now and then. Returns what it returns and raises what it raises (it and
        its result travel by pickle), or TrainingError as train does. guess: the seconds it should take."""
        task = _packed(call_with_data, function, tuple(digits), kwargs)  # one that can't travel fails here, at once
        key = (0 if guess <= FIRST_SHARE_SECONDS else 1, next(self._tickets))
        turn = self._wait_for_worker(key, guess, guess)
        with contextlib.closing(turn):  # a page stopped in waiting() leaves the line at once
            worker = _outcome(turn, waiting or (lambda item: None)).worker
        try:
            result, *_ = self._run_chunk(worker, task, cpu_seconds, preempt_after=None)
        except RunBudgetError as e:
            raise RunBudgetError("This took more than its share of the server's computing, so it was stopped.") from e
        except TrainingError as e:  # a call has no epochs to keep or resume
            raise TrainingError(str(e).removesuffix(TRY_AGAIN)) from e
        return result

    def close(self):
        """Stop every worker now; runs that are training or waiting end with TrainingError(CLOSING)."""
        with self._turns:
            if not self._closed and self.carpools:
                log.info("training pool closing: %d carpools formed, %d runs trained in them", self.carpools,
                         self.carpooled)
            self._closed = True
            workers = [*self._free, *self._busy, *self._starting]
            self._free, self._starting = [], []
            self._turns.notify_all()
            for request in self._requests.values():
                request.turn.notify()
        for w in workers:
            w.process.terminate()
        deadline = time.monotonic() + 1.0
        for w in workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1)
        self._keeper.join(2)

    # ------------------------------------------------------------------ taking turns

    def _wait_for_worker(self, key, guess, hold, chunk=None):
        """The request once its turn comes, with a free worker (and the riders it takes along), or taken along in
        another run's carpool; yielding Waiting while others hold every worker (a generator: `yield from`).
        guess: how long its chunk should take; hold: how long it should keep workers from those behind it (its
        whole first share, for a run in it); chunk: a run's chunk (None: a call, which never carpools)."""
        request = _Request(guess, hold, threading.Condition(self._lock), chunk)
        with self._lock:
            bisect.insort(self._queue, key)
            self._requests[key] = request
        try:
            timeout = WATCH_SECONDS  # a worker that comes free at once spares the page a Waiting
            while not self._take(key, request, timeout):
                yield self._waiting(key, guess)
                timeout = WAIT_REPORT_SECONDS
            return request
        finally:
            with self._lock:
                if key in self._requests:  # the page stopped the run while it waited
                    self._queue.remove(key)
                    del self._requests[key]
                    self._wake_heads()

    def _take(self, key, request, timeout):
        """True once fewer requests are ahead of it in line than workers are free (it takes one, and the riders for
        its carpool), or once another run took it along; False after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                if self._closed:
                    raise TrainingError(CLOSING)
                if request.carpool:
                    return True
                if bisect.bisect_left(self._queue, key) < len(self._free):  # as many in front as there are free
                    self._leave_line(key)
                    request.worker = self._free.pop()
                    request.riders = self._riders(request.chunk)
                    now = time.monotonic()
                    self._busy[request.worker] = (now + request.guess, key, request.hold - request.guess)
                    self._wake_heads()  # the next in line may take another free worker
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                request.turn.wait(left)

    def _leave_line(self, key):
        """Take a request out of the line (holds the lock)."""
        del self._queue[bisect.bisect_left(self._queue, key)]
        del self._requests[key]

    def _riders(self, chunk):
        """Take out of the line the waiting runs that can share this chunk's carpool (up to CARPOOL_RUNS in all, and
        CARPOOL_ROW_DIGITS of work, in line order), marked as taken along (holds the lock). The pool only groups;
        digitviz.carpool computes."""
        stream = chunk.stream if chunk is not None else None
        if stream is None:
            return []
        room = min(CARPOOL_RUNS, int(CARPOOL_ROW_DIGITS // epoch_cost(chunk.config, chunk.digits)))
        riders = []
        for key in list(self._queue):
            if len(riders) >= room - 1:
                break
            rider = self._requests[key]
            if rider.chunk is None or rider.chunk.stream != stream:
                continue
            self._leave_line(key)
            rider.carpool = True
            rider.turn.notify()
            riders.append(rider)
        if riders:
            self.carpools, self.carpooled = self.carpools + 1, self.carpooled + 1 + len(riders)
        return riders

    def _wake_heads(self):
        """Wake the requests that a free worker now waits for (one each), and no others: waking a whole class in line
        at every chunk's end is work for the server's one Python. Holds the lock."""
        for key in self._queue[:len(self._free)]:
            self._requests[key].turn.notify()

    def _waiting(self, key, guess):
        """Where the request stands in line, and when a worker should come free for it if everyone ahead holds
        workers as long as guessed."""
        with self._lock:
            if key not in self._requests:  # taken along in a carpool a moment ago: it is training
                return Waiting(1, round(guess, 1))
            now = time.monotonic()
            position = self._queue.index(key) + 1
            free_at = []
            for ends, holder, more in self._busy.values():
                # A chunk past its guess is running late (a loaded machine): guess it runs late by as much again.
                late = ends if ends >= now else now + min(now - ends, START_GUESS_SECONDS)
                free_at.append(late + (more if holder < key else 0.0))  # a run ahead keeps its worker for its share
            free_at += [now] * len(self._free)
            free_at += [max(now, w.started + START_GUESS_SECONDS) for w in self._starting]
            if not free_at:  # every worker is being replaced
                free_at = [now + START_GUESS_SECONDS]
            heapq.heapify(free_at)
            for ahead in self._queue[:position - 1]:
                heapq.heappush(free_at, heapq.heappop(free_at) + self._requests[ahead].hold)
            return Waiting(position, round(free_at[0] - now, 1), starting=not self._free and not self._busy)

    def _give_back(self, worker, healthy):
        """The worker is free again, or, if it failed, killed and a new one started in its place."""
        with self._lock:
            self._busy.pop(worker, None)
            if healthy and not self._closed:
                self._free.append(worker)
                self._wake_heads()
            else:
                self._turns.notify_all()  # the keeper replaces it
        if not healthy or self._closed:
            worker.kill()

    # ------------------------------------------------------------------ one chunk on one worker

    def _run_chunk(self, worker, task, cpu_left, preempt_after):
        """Send one task (a chunk of a run, or a call; _packed) to the worker and watch it: (its result, cpu seconds,
        whether it was asked to give way), or TrainingError. A chunk may be asked to give way after `preempt_after`
        seconds (None: a call, never)."""
        healthy = False
        try:
            worker.conn.send_bytes(task)
            preempted = self._watch(worker, cpu_left, preempt_after)
            reply = worker.conn.recv_bytes()
            healthy = True
        except (EOFError, OSError) as e:
            raise TrainingError(self._lost_message()) from e
        finally:
            self._give_back(worker, healthy)
        try:
            reply = pickle.loads(reply)
        except Exception as e:  # noqa: BLE001 (the worker is fine; what it sent could not be rebuilt here)
            raise TrainingError("The server could not read back what the training process computed.") from e
        if reply[0] == "error":
            raise reply[1]
        return reply[1], reply[2], preempted

    def _watch(self, worker, cpu_left, preempt_after):
        """Return once the worker has replied (True if it was asked to give way); raise if it dies, stops computing,
        overruns the budget or the pool closes. Past `preempt_after` seconds, ask the worker back (SIGUSR1) while a
        first share waits."""
        first = last = worker.cpu_seconds()
        asked = False
        progress_at = time.monotonic()
        preempt_at = None if preempt_after is None else progress_at + preempt_after
        if first is None:
            raise TrainingError(WORKER_LOST + TRY_AGAIN)
        while not worker.conn.poll(min(WATCH_SECONDS, preempt_after or WATCH_SECONDS)):
            if preempt_at is not None and time.monotonic() >= preempt_at and self._first_share_waits():
                os.kill(worker.pid, signal.SIGUSR1)  # again a moment later if unheard (a worker importing fastai)
                preempt_at, asked = time.monotonic() + WATCH_SECONDS, True
            if self._closed:
                raise TrainingError(CLOSING)
            cpu = worker.cpu_seconds()
            if cpu is None:
                raise TrainingError(WORKER_LOST + TRY_AGAIN)
            if cpu > last:
                last, progress_at = cpu, time.monotonic()
            elif time.monotonic() - progress_at > STALL_SECONDS:
                log.warning("training worker %s used no CPU for %s s: killing it", worker.pid, STALL_SECONDS)
                raise TrainingError(WORKER_STUCK + TRY_AGAIN)
            if cpu - first > cpu_left + STALL_SECONDS:  # one epoch far longer than the run had left
                raise RunBudgetError("This run has used its share of the server's computing, so it stopped.")
        return asked

    def _first_share_waits(self):
        """A run in its first share waits for a worker while none is free."""
        with self._lock:
            return bool(self._queue) and self._queue[0][0] == 0 and not self._free

    def _lost_message(self):
        return CLOSING if self._closed else WORKER_LOST + TRY_AGAIN

    # ------------------------------------------------------------------ the keeper: workers in, workers out

    def _keep(self):
        """Keep `processes` workers alive: start the missing ones and hand each to the pool once it is ready."""
        while not self._closed:
            try:
                self._start_missing()
                self._admit_ready()
            except Exception:  # the keeper must outlive any one failure, or lost workers would not come back
                log.exception("training pool keeper")
                time.sleep(1)

    def _start_missing(self):
        with self._turns:
            missing = self.processes - len(self._free) - len(self._busy) - len(self._starting)
        for _ in range(missing):
            worker = _Worker(self._context)
            with self._turns:
                if self._closed:
                    worker.kill()
                    return
                self._starting.append(worker)

    def _admit_ready(self):
        """Wait a moment for starting workers to say they are ready; replace any that never will."""
        with self._turns:
            starting = list(self._starting)
        if not starting:
            with self._turns:
                self._turns.wait_for(lambda: self._closed or self._missing(), timeout=1.0)
            return
        ready = wait([w.conn for w in starting], timeout=WATCH_SECONDS)
        for w in starting:
            ok = False
            if w.conn in ready:
                try:
                    ok = w.conn.recv()[0] == "ready"
                except (EOFError, OSError):
                    pass
            elif time.monotonic() - w.started < START_SECONDS:
                continue
            with self._turns:
                if w not in self._starting:  # the pool closed meanwhile and stopped it
                    continue
                self._starting.remove(w)
                if ok and not self._closed:
                    self._free.append(w)
                    self._wake_heads()
                    continue
            log.warning("training worker %s did not start; replacing it", w.pid)
            w.kill()
            time.sleep(0.5)  # a worker that can't start now probably can't in the next millisecond either

    def _missing(self):
        return self.processes - len(self._free) - len(self._busy) - len(self._starting) > 0


def _out_of_budget(share, cpu_seconds, start):
    """Why a run stopped for budget, in words for its student."""
    where = f" at epoch {start.epoch}" if start is not None else ""
    if share.cpu <= 0:
        return (f"This page has used its share of the server for now ({SESSION_CPU_SECONDS:g} s of computing), so "
                f"the run stopped{where}. The share comes back at {60 * SESSION_REFILL:g} s a minute: press "
                "**Resume** in a minute to go on.")
    return f"This run has used its share of the server ({cpu_seconds:g} s of computing), so it stopped{where}."


_shared = None
_shared_lock = threading.Lock()
_pools = weakref.WeakSet()  # every open pool, closed at exit


def shared_pool(processes):
    """This server process's one pool, started at the first call and started again if it broke or was closed;
    None for 0 processes (train in the caller's thread). Nothing a browser can send closes it."""
    global _shared
    if processes < 1:
        return None
    with _shared_lock:
        if _shared is None or _shared.broken or _shared.processes != processes:
            if _shared is not None:
                _shared.close()
            _shared = TrainingPool(processes)
        return _shared


def close_all():
    """At exit, or when the server stops: every pool's workers end now, and runs still training end with
    TrainingError(CLOSING)."""
    for pool in list(_pools):
        pool.close()


# Before the interpreter waits for its threads at exit, not after: a page thread in the middle of a run then
# ends at once with TrainingError(CLOSING) instead of holding the server's exit up (concurrent.futures does so).
try:
    threading._register_atexit(close_all)
except (AttributeError, RuntimeError):
    atexit.register(close_all)
