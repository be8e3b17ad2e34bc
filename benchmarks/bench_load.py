"""A class at once: N simulated students open the page in the same minute and all press Train.

    .venv/bin/python -m benchmarks.bench_load [--students 1 10 30] [--epochs 30] [--timeout 300]
                                              [--same-settings | --realistic]

Starts the real server (`streamlit run streamlit_app.py` on a free 127.0.0.1 port, as the tests do) and
drives it with tools/student.py's websocket clients, which speak the browser's protocol. For each N:

- N students connect at once, each with its own link `?seed=<i>&epochs=E`, and wait for the page; each class
  has seeds no earlier class had, so that no run comes from the server's run cache (digitviz.trajectories):
  every student's run is computed. With --same-settings, a class all has one fresh seed: the teacher's
  settings, which the server computes once and everyone follows. With --realistic, a class as it really
  is (tools/classroom.py): each student its own seed, one of the lesson's learning rates and init stds, and
  one in five at another batch size; the runs that share a data stream train as carpools;
- all press Train at the same moment; each waits until its run is fully drawn (the status line says
  `: done` and the player has all E epochs of the "Accuracy" curve) and its script run has finished;
- while they train, one more client loads the page without training: how long a newcomer waits;
- every student's "validation accuracy" curve is compared, value for value, with the engine's own run
  for its seed, computed here with the same code (`digitviz.train`): a run leaking into another
  session, or lost, shows up as a mismatch.

Reports per N: completed runs, seconds from the click to fully drawn and to the end of the script run
(median, 95th percentile, max), the player's updates during the run and the longest wait between two
(the browser animates between them), the newcomer's page load, the server's CPU seconds per page load and
per Train, its resident memory (before, after, growth per session), and the server log's warnings and errors.
The server's RSS and its training workers' are reported after each class, and the number of carpools the pool
formed (it says so in the server's log when it closes).
Targets (issue 7): at N=30 every run completes with its own records and p95 < 10 s; a few MB a session.
Issue 11: at N=100 all complete with their own records, page load p95 < 5 s, p95 click->drawn < 10 s; at
N=200 all complete; a page load and a Train together cost the server at most 0.08 s of CPU per student.
Issue 21, --realistic: at N=100 all complete with their own records, p95 click->drawn < 5 s, page load p95 < 3 s,
the whole app (server and workers, PSS: shared pages counted once) at most 2.0 GB after it; at N=300 all
complete, p95 click->drawn < 15 s.
A first student loads and trains once before the measurements, so one-time work (imports, the data
cache, the default model) is not charged to N=1.
"""
import argparse
import asyncio
import math
import multiprocessing
import os
import re
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import torch

from digitviz import load_digits, train
from digitviz.settings import DEFAULTS, config_of
from tools.classroom import link_query, student_values
from tools.server import Server
from tools.student import Student, StudentError, trace

MB = 1024 * 1024


# ------------------------------------------------------------------ the server process, seen from outside

class ProcessMeter:
    """CPU seconds (user + system, all threads) and resident memory of a process: psutil if installed,
    else Linux's /proc."""

    def __init__(self, pid):
        self.pid = pid
        try:
            import psutil
            self._proc = psutil.Process(pid)
        except ImportError:
            self._proc = None

    def cpu_seconds(self):
        if self._proc is not None:
            t = self._proc.cpu_times()
            return t.user + t.system
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self):
        if self._proc is not None:
            return self._proc.memory_info().rss
        return int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def workers_rss(self):
        """The resident memory of each of the process's children (the training workers), bytes."""
        try:
            import psutil
            return [child.memory_info().rss for child in psutil.Process(self.pid).children(recursive=True)]
        except (ImportError, OSError):
            return []

    def app_pss(self):
        """The whole app's memory, the server and its children, each page counted once: the sum of their
        proportional set sizes (a page that n processes share counts 1/n in each). Adding up RSS counts the
        libraries they all map (torch's alone is about 0.5 GB resident) once per process."""
        try:
            import psutil
            procs = [psutil.Process(self.pid), *psutil.Process(self.pid).children(recursive=True)]
            return sum(p.memory_full_info().pss for p in procs)
        except (ImportError, OSError, AttributeError):
            return None

    def threads(self):
        if self._proc is not None:
            return self._proc.num_threads()
        return len(os.listdir(f"/proc/{self.pid}/task"))


def machine_cpu():
    """(busy, total) CPU seconds of the whole machine so far, all processes: others' work shows up here."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), sum(fields) / os.sysconf("SC_CLK_TCK")


async def sample_threads(meter, peak, every=0.05):
    """Keep peak[0] at the most threads the server had: a script run is a thread, so this counts the runs
    in flight at once (plus the server's own half a dozen)."""
    while True:
        try:
            peak[0] = max(peak[0], meter.threads())
        except (OSError, ValueError):
            pass
        await asyncio.sleep(every)


def own_cpu_seconds():
    t = os.times()
    return t.user + t.system


# ------------------------------------------------------------------ one class

def expected_curves(values, cores):
    """(seed -> the validation accuracies the engine gives for that seed's page values, wall seconds per run).
    Computed as the server's workers train alone: `cores` processes at once, one torch thread each, so that the
    seconds per run are the training's own floor on this machine. Two runs at once each take 30-40% more CPU here
    than one alone (the cores share what lies beneath them), so one thread's time would flatter the floor."""
    with ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("spawn"),
                             initializer=torch.set_num_threads, initargs=(1,)) as pool:
        list(pool.map(ready, [1.0] * cores))  # every process started, torch imported and the digits loaded
        began = time.perf_counter()
        curves = dict(zip(values, pool.map(engine_curve, values.values())))
        return curves, (time.perf_counter() - began) / len(values)


@lru_cache(maxsize=1)
def digits():
    return load_digits()


def ready(seconds):
    """Load the digits, then hold this process a moment, so that each of the pool's processes gets one of these."""
    digits()
    time.sleep(seconds)


def engine_curve(values):
    """One run's validation accuracies, in a process of the pool above."""
    return [r.valid_acc for r in train(config_of(values), digits())]


def class_values(first_seed, n, epochs, same=False, realistic=False):
    """{seed: page values} of a class of n: the page's defaults with a seed each (or one seed for all), or a
    realistic class's settings."""
    if same:
        return {first_seed: {**DEFAULTS, "seed": first_seed, "epochs": epochs}}
    if realistic:
        return {first_seed + i: student_values(i, first_seed + i, epochs) for i in range(n)}
    return {seed: {**DEFAULTS, "seed": seed, "epochs": epochs} for seed in range(first_seed, first_seed + n)}


def drawn_at(student, epochs):
    """When the run was fully drawn: the status says done and the Accuracy chart has all its points.
    The time of the later of those two deltas, or None if the page does not show that."""
    status = [t for t, body in student.texts(with_times=True) if re.match(r"Run \d+, .*: done$", body)]
    at, spec = student.chart("Accuracy", with_time=True)
    curve = trace(spec, "validation accuracy") if spec else None
    if not status or curve is None or len(curve["y"]) != epochs:
        return None
    return max(status[0], at)


def check_records(student, seed, expected, epochs):
    """'' if the student's Accuracy chart is exactly the engine's run for its seed, else what is wrong."""
    spec = student.chart("Accuracy")
    if spec is None:
        return "no Accuracy chart"
    curve = trace(spec, "validation accuracy")
    if curve is None:
        return "no validation accuracy trace"
    if curve["x"] != list(range(1, epochs + 1)):
        return f"epochs {curve['x'][:3]}... ({len(curve['x'])} points)"
    if curve["y"] != expected[seed]:
        others = [s for s, ys in expected.items() if ys == curve["y"]]
        close = all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(curve["y"], expected[seed]))
        return (f"got seed {others[0]}'s run" if others else
                "within 1e-9 but not exactly equal" if close else "values differ from the engine's")
    if not any(f"seed {seed}" in t for t in student.texts()):
        return "status line names another seed"
    return ""


def redraw_times(student):
    """(seconds from the click to the first Accuracy chart, longest wait between two Accuracy charts)."""
    times = [t for t, title, _ in student.redraws if title == "Accuracy"]
    first = times[0] - student.clicked_at if times else None
    return first, max((b - a for a, b in zip(times, times[1:])), default=None)


async def probe_load(url, delay):
    """A newcomer who opens the page `delay` s after the class pressed Train: seconds to a drawn page."""
    await asyncio.sleep(delay)
    began = time.perf_counter()
    newcomer = Student(url, name="newcomer")
    try:
        await newcomer.connect(timeout=120)
        return newcomer.finished_at - began, newcomer.finished_at
    finally:
        await newcomer.close()


async def one_class(server, meter, n, values, epochs, expected, timeout, same=False):
    result = {"n": n, "errors": []}
    rss_before, cpu_before, own_before = meter.rss(), meter.cpu_seconds(), own_cpu_seconds()
    seeds = list(values) * n if same else list(values)
    students = [Student(server.url, link_query(values[i]), name=f"seed {i}") for i in seeds]

    began = time.perf_counter()
    loads = await asyncio.gather(*(s.connect(timeout=timeout) for s in students), return_exceptions=True)
    result["load_all_s"] = time.perf_counter() - began
    result["load_s"] = [s.finished_at - began for s, e in zip(students, loads) if not isinstance(e, BaseException)]
    for s, e in zip(students, loads):
        if isinstance(e, BaseException):
            result["errors"].append(f"{s.name}: load: {e!r}")
    ready = [s for s, e in zip(students, loads) if not isinstance(e, BaseException)]
    result["rss_loaded"] = meter.rss()

    result["cpu_load_s"] = meter.cpu_seconds() - cpu_before
    peak = [meter.threads()]
    result["threads_idle"] = peak[0]
    sampler = asyncio.create_task(sample_threads(meter, peak))
    cpu_click, machine_click, load_click = meter.cpu_seconds(), machine_cpu(), os.getloadavg()[0]
    clicked = time.perf_counter()
    await asyncio.gather(*(s.click("train") for s in ready))
    probe = asyncio.create_task(probe_load(server.url, 0.2))
    waits = await asyncio.gather(*(s.wait_until_finished(timeout) for s in ready), return_exceptions=True)
    result["train_wall_s"] = time.perf_counter() - clicked
    result["cpu_train_s"] = meter.cpu_seconds() - cpu_click
    busy, total = (b - a for a, b in zip(machine_click, machine_cpu()))
    result["machine_busy"] = busy / total * (os.cpu_count() or 1) if total else None
    result["load_before"] = load_click
    sampler.cancel()
    result["threads_peak"] = peak[0]
    try:
        result["probe_s"], probe_done = await probe
        result["busy_at_probe"] = sum(1 for s in ready if s.finished_at is None or s.finished_at > probe_done)
    except (StudentError, OSError) as e:
        result["errors"].append(f"newcomer: {e!r}")
        result["probe_s"], result["busy_at_probe"] = None, None

    drawn, settled, firsts, gaps, redraws, wrong = [], [], [], [], [], []
    for s, e in zip(ready, waits):
        seed = int(s.name.split()[1])
        if isinstance(e, BaseException):
            result["errors"].append(f"{s.name}: train: {e!r}")
            continue
        at = drawn_at(s, epochs)
        problem = check_records(s, seed, expected, epochs) if at is not None else "never fully drawn"
        if problem:
            wrong.append(f"{s.name}: {problem}")
            continue
        drawn.append(at - s.clicked_at)
        settled.append(s.finished_at - s.clicked_at)
        first, gap = redraw_times(s)
        firsts.append(first)
        if gap is not None:
            gaps.append(gap)
        redraws.append(sum(1 for _, title, _ in s.redraws if title == "Accuracy"))
    result.update(completed=len(drawn), wrong=wrong, drawn=drawn, settled=settled, firsts=firsts, gaps=gaps,
                  redraws=redraws,
                  exceptions=sum(len(s.exceptions_seen) for s in students),
                  largest_msg=max((s.largest_message for s in students), default=0))
    result["rss_trained"], result["workers_rss"], result["app_pss"] = meter.rss(), meter.workers_rss(), meter.app_pss()
    result["cpu_s"] = meter.cpu_seconds() - cpu_before
    result["client_cpu_s"] = own_cpu_seconds() - own_before
    result["rss_before"] = rss_before
    await asyncio.gather(*(s.close() for s in students))
    await asyncio.sleep(1.0)
    result["rss_closed"] = meter.rss()
    return result


# ------------------------------------------------------------------ the report

def pct(values, q):
    """The q-th percentile (nearest rank), or None."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def spread(values):
    return f"{fmt(statistics.median(values) if values else None)} / {fmt(pct(values, 95))} / " \
           f"{fmt(max(values) if values else None)}"


def report(results, epochs, cores, same=False, per_run=None, realistic=False):
    rows = [("students", lambda r: str(r["n"])),
            ("completed, own records", lambda r: f"{r['completed']}/{r['n']}"),
            ("page load, all at once: median / p95 / max s", lambda r: spread(r["load_s"])),
            ("click -> fully drawn: median / p95 / max s", lambda r: spread(r["drawn"])),
            ("click -> script run ended: median / p95 / max s", lambda r: spread(r["settled"])),
            ("player updates per run: min / median", lambda r: f"{min(r['redraws'], default=0)} / "
             f"{fmt(statistics.median(r['redraws']) if r['redraws'] else None, '.0f')}"),
            ("click -> first player update: median / p95 / max s", lambda r: spread(r["firsts"])),
            ("longest wait between redraws: median / p95 / max s", lambda r: spread(r["gaps"])),
            ("newcomer's page load during training s", lambda r: fmt(r["probe_s"])
             + ("" if r["busy_at_probe"] is None else f" ({r['busy_at_probe']} still training)")),
            ("server CPU s (load + train)", lambda r: f"{r['cpu_s']:.1f}"),
            ("server CPU s per student: page load / Train run", lambda r: f"{r['cpu_load_s'] / r['n']:.3f} / "
                                                                         f"{r['cpu_train_s'] / r['n']:.3f}"),
            ("server CPU while training, cores busy",
             lambda r: f"{r['cpu_train_s'] / r['train_wall_s']:.2f} of {cores}"),
            ("whole machine while training, cores busy", lambda r: f"{fmt(r['machine_busy'])} of {cores}"),
            ("load average at the click (1 min)", lambda r: f"{r['load_before']:.1f}"),
            ("server threads idle -> peak while training", lambda r: f"{r['threads_idle']} -> {r['threads_peak']}"),
            ("this script's own CPU s (clients)", lambda r: f"{r['client_cpu_s']:.2f}"),
            ("server RSS before -> loaded -> trained MB", lambda r: f"{r['rss_before'] / MB:.0f} -> "
             f"{r['rss_loaded'] / MB:.0f} -> {r['rss_trained'] / MB:.0f}"),
            ("growth per session MB", lambda r: f"{(r['rss_trained'] - r['rss_before']) / MB / r['n']:.2f}"),
            ("server RSS 1 s after closing MB", lambda r: f"{r['rss_closed'] / MB:.0f}"),
            ("training workers' RSS after training MB",
             lambda r: " + ".join(f"{w / MB:.0f}" for w in r["workers_rss"])),
            ("whole app after training: RSS summed / PSS GB",
             lambda r: f"{(r['rss_trained'] + sum(r['workers_rss'])) / 1024 / MB:.2f} / "
                       f"{fmt(r['app_pss'] and r['app_pss'] / 1024 / MB)}"),
            ("largest ForwardMsg KB", lambda r: f"{r['largest_msg'] / 1024:.0f}"),
            ("exception elements received", lambda r: str(r["exceptions"]))]
    width = max(len(name) for name, _ in rows)
    cols = [[cell(r) for r in results] for _, cell in rows]
    colw = max(len(c) for col in cols for c in col) + 2
    whose = ("the whole class with one seed (the same run)" if same else
             "a realistic class (own seeds, the lesson's rates and init stds, one in five at batch size 64)"
             if realistic else "each with a seed of its own")
    print(f"\n{epochs}-epoch runs, one per student, {whose}; times from each student's own click\n")
    for (name, _), col in zip(rows, cols):
        print(name.ljust(width), "|", "".join(c.rjust(colw) for c in col))
    for r in results:
        for line in r["errors"] + r["wrong"]:
            print(f"N={r['n']}: {line}")
    for r in results:
        cpu = (r["cpu_load_s"] + r["cpu_train_s"]) / r["n"]
        print(f"N={r['n']}: server CPU per student {cpu:.3f} s (page load {r['cpu_load_s'] / r['n']:.3f} + Train "
              f"{r['cpu_train_s'] / r['n']:.3f}); issue 11's budget 0.08 s: {'met' if cpu <= 0.08 else 'NOT met'}")
        if per_run and not same:
            # every student's run is computed: even with the server and the clients costing nothing, the last run
            # can't end before the runs have been trained on all the cores at once
            floor = r["n"] * per_run
            print(f"N={r['n']}: the training alone, {cores} runs at a time as the workers train, takes {floor:.1f} s "
                  f"({per_run:.3f} s a run); p95 click->drawn {fmt(pct(r['drawn'], 95))} s is "
                  f"{fmt((pct(r['drawn'], 95) or 0) / floor, '.2f')} x that floor")
        if realistic and r["n"] in (100, 300):
            p95, load, app = pct(r["drawn"], 95), pct(r["load_s"], 95), r["app_pss"] or 99 * 1024 * MB
            if r["n"] == 100:
                met = r["completed"] == 100 and (p95 or 99) < 5 and (load or 99) < 3 and app <= 2 * 1024 * MB
                print(f"issue 21's target at N=100 (all own records, p95 click->drawn < 5 s, page load p95 < 3 s, "
                      f"app's PSS <= 2.0 GB): {'met' if met else 'NOT met'} (p95 {fmt(p95)} s, page load p95 "
                      f"{fmt(load)} s, {app / 1024 / MB:.2f} GB)")
            else:
                met = r["completed"] == 300 and (p95 or 99) < 15
                print(f"issue 21's target at N=300 (all complete, p95 click->drawn < 15 s): "
                      f"{'met' if met else 'NOT met'} (p95 {fmt(p95)} s)")
        elif r["n"] == 100:
            met = r["completed"] == 100 and (pct(r["load_s"], 95) or 99) < 5 and (pct(r["drawn"], 95) or 99) < 10
            print(f"issue 11's target at N=100 (all own records, page load p95 < 5 s, p95 click->drawn < 10 s): "
                  f"{'met' if met else 'NOT met'} (page load p95 {fmt(pct(r['load_s'], 95))} s)")
        if r["n"] == 200:
            print(f"issue 11's target at N=200 (all complete): {'met' if r['completed'] == 200 else 'NOT met'}")
        if r["n"] == 30:
            p95 = pct(r["drawn"], 95)
            met = r["completed"] == 30 and p95 is not None and p95 < 10
            print(f"\nissue 7's target at N=30 (all complete with their own records, p95 click->drawn < 10 s): "
                  f"{'met' if met else 'NOT met'} ({r['completed']}/30, p95 {fmt(p95)} s)")


def log_summary(text):
    lines = text.splitlines()
    bad = [line for line in lines if re.search(r"\b(WARNING|ERROR|CRITICAL|Traceback|Exception)\b", line)]
    print(f"\nserver log: {len(lines)} lines, {len(bad)} warning/error lines")
    for line in bad[:15]:
        print("   ", line[:200])
    formed = re.findall(r"\d+ carpools formed, \d+ runs trained in them", text)
    print(f"training pool: {formed[-1] if formed else 'no carpools formed'}")


async def run(args):
    classes, first_seed = [], 1  # seed 0 for the warm-up, then fresh seeds for each class
    for n in args.students:
        classes.append(class_values(first_seed, n, args.epochs, args.same_settings, args.realistic))
        first_seed += len(classes[-1])
    t = time.perf_counter()
    expected, per_run = expected_curves({seed: v for c in classes for seed, v in c.items()}, os.cpu_count())
    print(f"engine's own curves for seeds 1..{first_seed - 1}, on {os.cpu_count()} processes at once: "
          f"{time.perf_counter() - t:.1f} s, {per_run:.3f} s a run (this machine's speed varies from hour to hour: the "
          "floor below is measured with it)")
    server = Server()
    try:
        meter = ProcessMeter(server.pid)
        print(f"server pid {server.pid} on {server.url}; RSS {meter.rss() / MB:.0f} MB before any session")
        t = time.perf_counter()
        async with Student(server.url, f"seed=0&epochs={args.epochs}", name="warm-up") as first:
            loaded = time.perf_counter() - t
            await first.click("train")
            await first.wait_until_finished(args.timeout)
            print(f"warm-up student: first page load {loaded:.1f} s (imports, data, default model), "
                  f"first run {first.finished_at - first.clicked_at:.1f} s")
        results = []
        for n, values in zip(args.students, classes):
            results.append(await one_class(server, meter, n, values, args.epochs, expected, args.timeout,
                                           args.same_settings))
            r = results[-1]
            print(f"N={n}: {r['completed']}/{n} done, p95 click->drawn {fmt(pct(r['drawn'], 95))} s")
            if not server.alive():
                raise RuntimeError(f"the server died during N={n}")
        report(results, args.epochs, os.cpu_count(), args.same_settings, per_run, args.realistic)
        server.stop()  # the pool says how many carpools it formed as it closes
        log_summary(server.log_text())
        return results
    finally:
        server.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, nargs="+", default=[1, 10, 30])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--timeout", type=float, default=300, help="seconds a student waits for one script run")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--same-settings", action="store_true", help="every student of a class trains the same run")
    which.add_argument("--realistic", action="store_true", help="each student the settings of tools/classroom.py")
    args = p.parse_args()
    if not all(1 <= n <= 300 for n in args.students) or not 1 <= args.epochs <= 1000:
        p.error("students: 1 to 300 each; epochs: 1 to 1000")
    results = asyncio.run(run(args))
    ok = all(r["completed"] == r["n"] for r in results)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
