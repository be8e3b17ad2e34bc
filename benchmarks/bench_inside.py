"""What the Inside SGD views cost the shared server: each view opened and used by one student, step by step.

    .venv/bin/python -m benchmarks.bench_inside [--repeats 3] [--epochs 30] [--timeout 300]

Starts the real server (`streamlit run streamlit_app.py` on a free 127.0.0.1 port, as the tests do) and
drives it with tools/student.py's websocket client, which speaks the browser's protocol and sends each widget
the WidgetState the browser would: the segmented control `inside_view` its option's label as a
`string_array_value`, a toggle a `bool_value`, a slider a `double_array_value`, an integer number input an
`int_value`, a button its `trigger_value`. For each repeat a fresh student, with a seed of its own (so that
no run, finder or sweep comes from a cache), opens `?panel=inside` and, one step at a time:

- loads the page and presses Train (a 30-epoch run, waited for until fully drawn): what issue 11's budget
  counts, measured here beside the views;
- opens each view of the segmented control `inside_view` and uses it: "threshold" (slider `threshold` to
  1.0), "step" (Next batch `sgd-next`, then the toggle `sgd-forget`, which runs `mechanics.forgotten_zero`),
  "accuracy" (number inputs `sweep-row` 14 and `sweep-col` 10), "finder" (Run the finder `lr-find`, which
  runs `lr_finder.lr_find`) and "sweep" (`lr-sweep`: 12 runs, through the training workers).

Each step is timed as the server process's CPU seconds (its pid alone, all threads), the training workers'
CPU seconds (the server's child processes, those that exited included) and wall seconds; CPU is read from
each process's CPU-time clock, to the nanosecond, where /proc counts 10 ms ticks, as big as a step's cost.
After each step the page is checked for what it should now show (the view's chart or code, the finder's
"Learning-rate finder" chart, the sweep's 12 points, no exception element): a step that did not happen stops
the benchmark with a non-zero exit, so that no figure comes from a page that errored.

Prints, per step, the median over the repeats (and the largest CPU figures), the warm-up's beside them,
and each step's server CPU against issue 11's budget for the live view (a page load and a Train together cost the
server at most 0.08 s of CPU per student; issue 14: the views must stay within it, and cost nothing until opened),
both in seconds and as a multiple of the page load + Train measured in the same run: this machine's speed varies
by two or three times from hour to hour, and the ratio does not. A first student does every step once before the
measurements, so that one-time work (imports, data, the default model, fastai's import in whichever process runs
the finder) is not charged; a worker that has not yet run a step may still pay its own first import in a later
repeat.
"""
import argparse
import asyncio
import ctypes
import json
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

import psutil
from streamlit.proto.WidgetStates_pb2 import WidgetState

from benchmarks.bench_load import ProcessMeter, drawn_at, log_summary
from digitviz.settings import LEARNING_RATES
from tools.server import Server
from tools.student import Student, StudentError, plotly_title, plotly_values

BUDGET = 0.08  # issue 11: server CPU seconds per student for a page load and a Train
VIEW_LABELS = {"threshold": "Threshold and sigmoid", "step": "One SGD step", "accuracy": "Why not accuracy?",
               "finder": "LR finder", "sweep": "LR sweep"}  # the page's labels: the browser sends the label
SWEEP_RATES = len(LEARNING_RATES)  # the learning-rate slider's scale, one run each


class StepFailed(RuntimeError):
    """A step that did not happen as a student would see it: its figures must not be reported."""


# ------------------------------------------------------------------ the server and its workers, seen from outside

LIBC = ctypes.CDLL(None, use_errno=True)


def cpu_clock(pid):
    """The kernel's CPU-time clock of process `pid` (all its threads, to the nanosecond), or None."""
    clock = ctypes.c_int()
    return clock.value if LIBC.clock_getcpuclockid(pid, ctypes.byref(clock)) == 0 else None


def own_cpu_seconds(proc):
    """A process's CPU seconds from its CPU-time clock: psutil and /proc count 10 ms ticks, as big as a whole
    step's cost here; ticks only where the clock is not available."""
    clock = cpu_clock(proc.pid)
    if clock is not None:
        try:
            return time.clock_gettime(clock)
        except OSError:
            pass
    t = proc.cpu_times()
    return t.user + t.system


class ServerMeter(ProcessMeter):
    """bench_load's ProcessMeter, its CPU seconds read from the server's CPU-time clock."""

    def __init__(self, pid):
        super().__init__(pid)
        self._psutil = psutil.Process(pid)

    def cpu_seconds(self):
        return own_cpu_seconds(self._psutil)


class WorkersMeter:
    """CPU seconds of the server's child processes (the training workers, and whatever they start): the live
    ones' own and their reaped children's, plus what the server has reaped (a worker replaced or ended)."""

    def __init__(self, pid):
        self.server = psutil.Process(pid)

    def cpu_seconds(self):
        t = self.server.cpu_times()
        total = t.children_user + t.children_system
        for child in self.server.children(recursive=True):
            try:
                c = child.cpu_times()
                total += own_cpu_seconds(child) + c.children_user + c.children_system
            except psutil.NoSuchProcess:  # it ended since the listing: counted once the server reaps it
                continue
        return total

    def count(self):
        return len(self.server.children(recursive=True))


# ------------------------------------------------------------------ driving the widgets as the browser does

def widget_state(student, key, value):
    """The WidgetState the browser sends when the widget `key` takes `value`."""
    element = student.widget(key)
    if element is None:
        raise StepFailed(f"no widget {key!r} on the page")
    state = WidgetState(id=element.id)
    kind = type(element).__name__
    if kind == "ButtonGroup":  # a segmented control: the chosen option's label, as a one-item string array
        labels = [o.content for o in element.options]
        if value not in labels:
            raise StepFailed(f"{key!r} has no option {value!r} (it has {labels})")
        state.string_array_value.data.append(value)
    elif kind == "Checkbox":  # st.toggle and st.checkbox alike
        state.bool_value = bool(value)
    elif kind == "Slider":
        state.double_array_value.data.append(float(value))
    elif kind == "NumberInput":
        if element.data_type == element.INT:
            state.int_value = int(value)
        else:
            state.double_value = float(value)
    else:
        raise StepFailed(f"{key!r} is a {kind}, which this benchmark does not drive")
    return state


async def change(student, key, value, timeout):
    """Set one widget, as a student's click, drag or typing does, and wait for the script run it causes."""
    await student.rerun([widget_state(student, key, value)])
    await student.wait_until_finished(timeout)


async def press(student, key, timeout):
    await student.click(key)
    await student.wait_until_finished(timeout)


# ------------------------------------------------------------------ what the page shows

def element(student, key):
    """The element (a widget or a keyed chart) whose key is `key`, or None."""
    for wid, inner in student.widgets().items():
        if wid.endswith(f"-{key}"):
            return inner
    return None


def spec_of(student, key):
    chart = element(student, key)
    return json.loads(chart.spec) if chart is not None and hasattr(chart, "spec") else None


def codes(student):
    return [e.code.code_text for e in student.elements.values() if e.WhichOneof("type") == "code"]


def problems(student, charts=(), code=None, text=None):
    """What the page lacks of what it should show now: keyed charts, a code block with `code` in it, a text
    element with `text` in it; and any exception element."""
    out = [f"exception on the page: {e.type}: {e.message}" for e in student.exceptions()]
    out += [f"no chart {key!r}" for key in charts if spec_of(student, key) is None]
    if code is not None and not any(code in c for c in codes(student)):
        out.append(f"no code block with {code!r}")
    if text is not None and not any(text in t for t in student.texts()):
        out.append(f"no text with {text!r}")
    return out


def annotations(spec):
    layout = spec.get("layout", {})
    return [a.get("text", "") for a in layout.get("annotations", [])] + [json.dumps(layout.get("xaxis2", {}))]


# ------------------------------------------------------------------ the steps

@dataclass
class Step:
    name: str
    view: str  # which view it belongs to, for the summary; "live" for the page load and Train
    act: Callable[[Student, argparse.Namespace], Awaitable[None]]
    check: Callable[[Student, argparse.Namespace], list]
    trains: int = 0  # runs it trains: the sweep is compared with that many page loads + Trains, not with one


def open_view(view):
    return lambda s, a: change(s, "inside_view", VIEW_LABELS[view], a.timeout)


def trained(s, a):
    out = problems(s)
    return out + ([] if drawn_at(s, a.epochs) is not None else [f"the run was not fully drawn ({a.epochs} epochs)"])


def threshold_at(value):
    def check(s, a):
        spec = spec_of(s, "threshold-chart")
        out = problems(s, ["threshold-chart", "sigmoid-chart"])
        if spec is not None and not any(f"threshold {value:.2f}" in t for t in annotations(spec)):
            out.append(f"the threshold chart does not mark {value:.2f}")
        return out
    return check


def swept_pixel(s, a):
    spec = spec_of(s, "sweep-chart")
    out = problems(s, ["sweep-chart"])
    if spec is not None and not any("row 14, col 10" in t for t in annotations(spec)):
        out.append("the sweep chart is not of row 14, col 10")
    return out


def found(s, a):
    spec = spec_of(s, "lr-find-chart")
    out = problems(s, ["lr-find-chart"])
    if spec is not None and not plotly_title(spec).startswith("Learning-rate finder"):
        out.append(f"the finder's chart is titled {plotly_title(spec)!r}")
    return out


def swept(s, a):
    spec = spec_of(s, "lr-sweep-chart")
    out = problems(s, ["lr-sweep-chart"])
    if spec is not None:
        points = sum(len(plotly_values(t.get("x"))) for t in spec.get("data", []))
        if points != SWEEP_RATES:
            out.append(f"the sweep's chart has {points} points, not {SWEEP_RATES}")
    return out


async def set_pixel(s, a):
    await change(s, "sweep-row", 14, a.timeout)  # the browser sends one rerun for each input it changes
    await change(s, "sweep-col", 10, a.timeout)


STEPS = [
    Step("page load ?panel=inside", "live", lambda s, a: s.connect(a.timeout),
         lambda s, a: problems(s, text="Pick a view")),
    Step("Train, until fully drawn", "live", lambda s, a: press(s, "train", a.timeout), trained),
    Step("open threshold", "threshold", open_view("threshold"), threshold_at(0.0)),
    Step("  slider threshold -> 1.0", "threshold", lambda s, a: change(s, "threshold", 1.0, a.timeout),
         threshold_at(1.0)),
    Step("open step", "step", open_view("step"),
         lambda s, a: problems(s, ["step-maps", "weight-maps"], "p.grad.zero_()", "0 steps taken")),
    Step("  Next batch", "step", lambda s, a: press(s, "sgd-next", a.timeout),
         lambda s, a: problems(s, ["step-maps"], text="1 steps taken")),
    Step("  toggle Forget zero_() (forgotten_zero)", "step", lambda s, a: change(s, "sgd-forget", True, a.timeout),
         lambda s, a: problems(s, ["zero-chart"], text="Without `zero_()`")),
    Step("open accuracy", "accuracy", open_view("accuracy"),
         lambda s, a: problems(s, ["sweep-chart", "pixel-map"], "batch_accuracy")),
    Step("  row 14, column 10", "accuracy", set_pixel, swept_pixel),
    Step("open finder", "finder", open_view("finder"), lambda s, a: problems(s, code="learn.lr_find")),
    Step("  Run the finder (lr_find)", "finder", lambda s, a: press(s, "lr-find", a.timeout), found),
    Step("open sweep", "sweep", open_view("sweep"), lambda s, a: problems(s, code="for lr in")),
    Step(f"  Train at all {SWEEP_RATES} rates", "sweep", lambda s, a: press(s, "lr-sweep", a.timeout), swept,
         SWEEP_RATES),
]


async def one_student(server, meter, workers, seed, args):
    """Every step once, for a fresh student: {step name: (server CPU s, workers' CPU s, wall s)}."""
    student = Student(server.url, f"panel=inside&seed={seed}&epochs={args.epochs}", name=f"seed {seed}")
    figures = {}
    try:
        for step in STEPS:
            cpu, work, began = meter.cpu_seconds(), workers.cpu_seconds(), time.perf_counter()
            try:
                await step.act(student, args)
            except (StudentError, StepFailed) as e:  # the socket closed, a run never ended, a widget missing
                raise StepFailed(f"{student.name}, {step.name.strip()}: {e}") from None
            figures[step.name] = (meter.cpu_seconds() - cpu, workers.cpu_seconds() - work, time.perf_counter() - began)
            wrong = step.check(student, args)
            if wrong:
                raise StepFailed(f"{student.name}, {step.name.strip()}: " + "; ".join(wrong))
            if not server.alive():
                raise StepFailed(f"the server died at {step.name.strip()}")
    finally:
        await student.close()
    return figures


# ------------------------------------------------------------------ the report

def verdict(cpu):
    return "met" if round(cpu, 3) <= BUDGET else "NOT met"  # as printed: 0.07 + 0.01 is not above 0.08


def report(first, repeats, epochs):
    print(f"\nseconds per step ({epochs}-epoch Train): median of {len(repeats)} students (and the most any took), "
          "the warm-up's first time beside them")
    head = (f"{'step':42} | {'server CPU (max)':>16} | {'workers CPU (max)':>17} | {'wall s':>6} | "
            f"{'warm-up: server / workers / wall':>32}")
    print(head)
    print("-" * len(head))
    for step in STEPS:
        runs = [r[step.name] for r in repeats]
        server, workers, wall = (statistics.median([r[i] for r in runs]) for i in range(3))
        w = first[step.name]
        print(f"{step.name:42} | {server:8.3f} ({max(r[0] for r in runs):.3f}) | "
              f"{workers:9.3f} ({max(r[1] for r in runs):.3f}) | {wall:6.2f} | "
              f"{w[0]:12.3f} / {w[1]:7.3f} / {w[2]:6.2f}")
    live = [step for step in STEPS if step.view == "live"]
    load, train = (statistics.median([r[s.name][0] for r in repeats]) for s in live)
    print(f"\neach step against the live view, in the same run: a page load and a Train cost the server "
          f"{load:.3f} + {train:.3f} = {load + train:.3f} s of CPU per student (issue 11's budget {BUDGET} s: "
          f"{verdict(load + train)})")
    worst = 0.0
    for step in STEPS:
        if step in live:
            continue
        cpu = statistics.median([r[step.name][0] for r in repeats])
        work = statistics.median([r[step.name][1] for r in repeats])
        per = max(step.trains, 1)  # a student's Train is one run; the sweep's click trains twelve
        worst = max(worst, cpu / per / (load + train))
        runs = f", {cpu / per:.3f} s a run" if step.trains else ""
        print(f"  {step.name.strip():40}: server CPU {cpu:.3f} s{runs} = {cpu / per / (load + train):4.2f} x a page "
              f"load + Train (budget {BUDGET} s{' a run' if step.trains else ''}: {verdict(cpu / per)}); "
              f"workers {work:.3f} s")
    views_cpu = statistics.median([sum(r[s.name][0] for s in STEPS if s not in live) for r in repeats])
    print(f"issue 14: every step of a view (the sweep: each of its runs) costs the server at most {worst:.2f} x what a "
          f"student's page load and Train cost; all five views opened and used: {views_cpu:.3f} s")


async def run(args):
    server = Server()
    try:
        meter, workers = ServerMeter(server.pid), WorkersMeter(server.pid)
        print(f"server pid {server.pid} on {server.url}; {workers.count()} child processes before any session")
        t = time.perf_counter()
        first = await one_student(server, meter, workers, 0, args)
        print(f"warm-up student: every step once in {time.perf_counter() - t:.1f} s; "
              f"{workers.count()} child processes now")
        repeats = []
        for i in range(1, args.repeats + 1):
            repeats.append(await one_student(server, meter, workers, i, args))
            r = repeats[-1]
            print(f"student {i}: every step done, {time.perf_counter() - t:.1f} s so far; server CPU "
                  f"{sum(f[0] for f in r.values()):.2f} s, workers {sum(f[1] for f in r.values()):.2f} s")
        report(first, repeats, args.epochs)
        log_summary(server.log_text())
    except StepFailed:
        log_summary(server.log_text())
        raise
    finally:
        server.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="students measured, each a fresh session and seed")
    p.add_argument("--epochs", type=int, default=30, help="the Train run's epochs")
    p.add_argument("--timeout", type=float, default=300, help="seconds a student waits for one script run")
    args = p.parse_args()
    if not 1 <= args.repeats <= 50 or not 1 <= args.epochs <= 1000:
        p.error("repeats: 1 to 50; epochs: 1 to 1000")
    try:
        asyncio.run(run(args))
    except StepFailed as e:
        print(f"\nFAILED: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
