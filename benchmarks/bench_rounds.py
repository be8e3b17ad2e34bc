"""A class round at scale: N simulated students vote within seconds, a projector counts, then all watch the reveal.

    .venv/bin/python -m benchmarks.bench_rounds [--students 100] [--vote-seconds 10] [--question lr_10]

Starts the real server (as the tests do) and drives it with tools/student.py's websocket clients, which speak the
browser's protocol, timers included: every page reruns its `run_every` fragments every 2 s, as a browser does (the
round's stage watch). A first student loads the page and trains once, so the workers are warm.

1. The teacher opens a round (through digitviz.rounds, on the server's own database).
2. A projector and N students open `?round=CODE`. Each student votes once, at a random moment within
   --vote-seconds (a radio choice, its name and the Vote button in one rerun, as a browser sends them), and must
   read "Vote counted." back.
3. Checked: the database holds exactly N first votes, each student's as it sent it. Measured: how long after the
   last vote the projector's "Votes so far" shows N (it polls as a browser does).
4. The teacher reveals. Each student's page notices at its next poll, trains the question's run (the trajectory
   cache makes it one computation) and draws it. Measured per student: seconds from the teacher's click to the
   page fully drawn (its player has every epoch, and the student's own vote is shown beside the outcome).

Targets (issue 22): at N=100 every vote counted exactly once, the projected count live within 2 s, the reveal
drawn for all with p95 under 5 s after the teacher's click. The summary line:
`N=100: 100/100 votes counted once, count projected 1.2 s after the last vote, reveal drawn p95 3.4 s`.
"""
import argparse
import asyncio
import random
import statistics
import time

from digitviz.board import Board
from digitviz.questions import BANK
from digitviz.rounds import Rounds
from tools.server import Server
from tools.student import Student, StudentError, trace

PASS = "bench"
POLL_SECONDS = 2.0  # the page's stage watch: st.fragment(run_every=2)


def metric(student, label):
    """The value a metric element labelled `label` shows, or None."""
    for element in student.elements.values():
        if element.WhichOneof("type") == "metric" and element.metric.label.startswith(label):
            return element.metric.body
    return None


def drawn(student, epochs):
    """The reveal is on this page: its player has every epoch and the student's own vote is beside it."""
    valid = trace(student.chart("Accuracy") or {}, "validation accuracy") or {}
    return len(valid.get("x", [])) == epochs and any("You predicted" in t for t in student.texts())


async def vote(student, code, label, at):
    """At `at` seconds, vote for the option `label` under the student's name; when the page said it counted."""
    await asyncio.sleep(at)
    await student.vote(code, "vote", label, name=student.name)
    if "Vote counted." not in student.texts():
        raise StudentError(f"{student.name}: no 'Vote counted.' after voting: {student.texts()[-2:]}")
    return time.perf_counter()


async def watch(student, until, timeout, phase):
    """Poll as the browser does (every POLL_SECONDS, from a phase of its own) until `until(student)`; when."""
    deadline = time.perf_counter() + timeout
    await asyncio.sleep(phase)
    while not until(student):
        if time.perf_counter() > deadline:
            raise StudentError(f"{student.name}: not seen within {timeout} s")
        began = time.perf_counter()
        await student.poll(timeout)
        if until(student):
            break
        await asyncio.sleep(max(0.0, POLL_SECONDS - (time.perf_counter() - began)))
    return time.perf_counter()


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def one_round(server, rounds, n, vote_seconds, question, rng):
    code = rounds.open(question, PASS, PASS)
    epochs = question.settings()["epochs"]
    projector = Student(server.url, f"round={code}", name="projector")
    students = [Student(server.url, f"round={code}", name=f"student{i}") for i in range(n)]
    try:
        await projector.connect()
        began = time.perf_counter()
        await asyncio.gather(*(s.connect(timeout=180) for s in students))
        loaded = time.perf_counter() - began
        choices = [rng.randrange(len(question.options)) for _ in students]
        moments = [rng.uniform(0, vote_seconds) for _ in students]
        began = time.perf_counter()
        projected = asyncio.create_task(watch(projector, lambda p: metric(p, "Votes so far") == str(n), 120, 0))
        voted = await asyncio.gather(*(vote(s, code, question.options[c], m)
                                       for s, c, m in zip(students, choices, moments)))
        voting = time.perf_counter() - began
        count_seen = await projected
        state = rounds.get(code)
        sent = {s.name: c for s, c in zip(students, choices)}  # each student typed its name: its row is its own
        exact = sum(sent.get(v.name) == v.option for v in state.votes.get(1, {}).values())
        counted = state.voters(1)

        rounds.advance(code, "reveal", PASS, PASS)
        clicked = time.perf_counter()
        seen = await asyncio.gather(*(watch(s, lambda s: drawn(s, epochs), 180, rng.uniform(0, POLL_SECONDS))
                                      for s in students), return_exceptions=True)
        reveal = [t - clicked for t in seen if isinstance(t, float)]
        errors = [e for e in seen if not isinstance(e, float)]
        return dict(n=n, loaded=loaded, voting=voting, counted=counted, exact=exact,
                    projected=count_seen - max(voted), reveal=reveal, errors=errors,
                    exceptions=sum(len(s.exceptions_seen) for s in students))
    finally:
        await asyncio.gather(projector.close(), *(s.close() for s in students))


async def warm(server):
    """One student trains once, so that the workers are up and the kernel loaded before anything is measured."""
    async with Student(server.url, "epochs=3", name="warm-up") as s:
        await s.click("train")
        await s.wait_until_finished(300)


def report(r):
    reveal = r["reveal"]
    print(f"  {r['n']} pages loaded in {r['loaded']:.1f} s; votes sent over {r['voting']:.1f} s")
    print(f"  votes counted: {r['counted']} of {r['n']}, {r['exact']} as sent; page exceptions: {r['exceptions']}")
    print(f"  projected count reached {r['n']} {r['projected']:.2f} s after the last vote was acknowledged")
    if reveal:
        print(f"  reveal, teacher's click to fully drawn: median {statistics.median(reveal):.2f} s, "
              f"p95 {pct(reveal, 0.95):.2f} s, max {max(reveal):.2f} s ({len(reveal)} of {r['n']} drawn)")
    for e in r["errors"][:3]:
        print(f"  error: {e}")
    print(f"N={r['n']}: {r['exact']}/{r['n']} votes counted once, count projected {r['projected']:.1f} s after "
          f"the last vote, reveal drawn p95 {pct(reveal, 0.95) if reveal else float('nan'):.1f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=100)
    p.add_argument("--vote-seconds", type=float, default=10.0)
    p.add_argument("--question", default="lr_10", choices=sorted(BANK))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    with Server(extra_env={"DIGITVIZ_BOARD_PASSPHRASE": PASS}) as server:
        board = Board(f"sqlite:///{server.data_dir.name}/board.sqlite3")  # the server's own (ServerConfig)
        try:
            asyncio.run(warm(server))
            result = asyncio.run(one_round(server, Rounds(board), args.students, args.vote_seconds,
                                           BANK[args.question], random.Random(args.seed)))
        finally:
            board.engine.dispose()
    report(result)


if __name__ == "__main__":
    main()
