"""The page as a person gets it: the real `streamlit run` server and headless Chromium, for the lesson's run.

    .venv/bin/python -m benchmarks.bench_browser [--epochs 300] [--repeats 3] [--starts 3]

Measures
  1. start-up, `--starts` times: from launching `streamlit run` to a usable page (the Train button visible and
     the script idle), with the server's health check on the way;
     and the first Train on that page at once (a cold server): from the click to the first epoch drawn and to
     the last update; then the same for a server started before the class (left to get ready, as a teacher
     starts it), the first visitor's page load and first Train;
  2. the lesson's run (epochs set with the keyboard, as a person does): from the click on Train to the first
     epoch drawn, and to the last update (the player holds every epoch and the script is idle), timed inside
     the browser;
  3. the player playing that run at 100 epochs a second: frames a second (animation frames that drew a new
     epoch), distinct epochs shown a second, and the longest gap between two animation frames;
  4. the engine's own time: the page's "Training time" metric, and `digitviz.train` alone in a thread set
     up as the page sets up its own (one torch thread), run here while the browser is idle;
and prints the best and the median of the repeats, and the page's time over the engine's.
Needs Chromium (/usr/bin/chromium); the server and the browser share this machine's cores.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import streamlit
import torch
from playwright.sync_api import sync_playwright

from digitviz import TrainConfig, load_digits
from tools import browser as h
from tools.timing import engine_alone

# In the page: note when Train is clicked, then poll (every animation frame and every 5 ms) for the moment the
# player holds every epoch and the script is idle; also count the player's distinct record counts (its updates).
ARM = """epochs => {
  const m = window.__bench = {clicked: null, first: null, done: null, texts: new Set()};
  document.addEventListener('click', e => {
    if (m.clicked === null && e.target.closest('.st-key-train')) m.clicked = performance.now();
  }, true);
  const check = () => {
    if (m.done !== null) return;
    const chart = window.__accuracy();
    if (m.clicked !== null && chart) m.texts.add(chart.count);
    if (m.clicked !== null && m.first === null && chart && chart.points > 0) m.first = performance.now();
    const idle = document.querySelector('[data-testid=stApp]').dataset.testScriptState === 'notRunning';
    if (m.clicked !== null && idle && chart && chart.count === epochs) m.done = performance.now();
  };
  const frame = () => { check(); if (m.done === null) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  m.timer = setInterval(() => { check(); if (m.done !== null) clearInterval(m.timer); }, 5);
}"""


# While the player plays: every animation frame's time and the epoch on screen, until it stops.
WATCH_FRAMES = """() => new Promise(resolve => {
  const root = document.querySelector('[data-testid=digitviz-player]'), frames = [];
  const frame = now => {
    frames.push([now, Number(root.dataset.epoch)]);
    if (root.dataset.playing === 'true' || frames.length < 3) requestAnimationFrame(frame); else resolve(frames);
  };
  requestAnimationFrame(frame);
})"""


def playback(page, speed="100"):
    """(frames a second that showed a new epoch, distinct epochs a second, longest gap between frames in ms)
    while the player plays the finished run from epoch 1 at `speed`."""
    player = page.locator("[data-testid=digitviz-player]")
    player.get_by_role("button", name=speed, exact=True).click()
    if player.get_attribute("data-playing") == "true":
        player.get_by_role("button", name="Pause").click()
    player.get_by_role("button", name="Play").click()
    frames = page.evaluate(WATCH_FRAMES)
    seconds = (frames[-1][0] - frames[0][0]) / 1000
    new = sum(1 for (_, a), (_, b) in zip(frames, frames[1:]) if a != b)
    gaps = [b - a for (a, _), (b, _) in zip(frames, frames[1:])]
    return new / seconds, len({e for _, e in frames}) / seconds, max(gaps)


def new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.add_init_script(h.TRACK_RUNS)
    page.set_default_timeout(120_000)
    return page


def start_up(browser):
    """A class arriving with the server: seconds from launching `streamlit run` to a healthy server, and to a
    usable page (the browser asks at once); then that first student's Train at once, as the page comes (30 epochs):
    (click to the first epoch drawn, click to the last update)."""
    began = time.perf_counter()
    server = h.start_server(ready_for_class=False)
    healthy = time.perf_counter() - began
    usable, first = first_page(browser, server.url, began)
    server.cleanup()
    return healthy, usable, first


def first_visitor(browser):
    """A server started before the class, as a teacher does: left to get ready, then the first student's page load
    (seconds to a usable page) and first Train (click to the first epoch drawn, to the last update). Returns the
    server, still running, and (seconds it took to get ready, page load, (first epoch, last update))."""
    server = h.start_server(ready_for_class=False)
    ready = server.wait_ready_for_class()
    return server, (ready, *first_page(browser, server.url, time.perf_counter()))


def first_page(browser, url, began):
    """Open the page: seconds from `began` until it is usable (Train visible, the script idle), and its first Train
    at once (the page's default epochs): (click to the first epoch drawn, to the last update)."""
    page = new_page(browser)
    page.goto(url)
    h.wait_ready(page, since=0, start_timeout=60_000)
    h.button(page, "Train").wait_for(state="visible")
    usable = time.perf_counter() - began
    first = timed_train(page, TrainConfig().epochs)[:2]
    page.context.close()
    return usable, first


def timed_train(page, epochs):
    """Click Train (epochs already set) and time it in the page: (click to the first epoch drawn, click to the
    last update, the player's updates seen)."""
    page.evaluate(ARM, epochs)
    h.button(page, "Train").click()
    page.wait_for_function("() => window.__bench.done !== null", polling=50)
    clicked, first, done, redraws = page.evaluate("() => [window.__bench.clicked, window.__bench.first, "
                                                  "window.__bench.done, window.__bench.texts.size]")
    return (first - clicked) / 1000, (done - clicked) / 1000, redraws


def one_run(browser, url, epochs):
    """(click to the first epoch drawn, click to last update, the page's Training time, updates seen, playback)
    for one Train of `epochs` on a page of its own."""
    page = new_page(browser)
    h.open_app(page, url)
    h.set_epochs(page, epochs)
    first, last, redraws = timed_train(page, epochs)
    h.accuracy_chart(page, settle_timeout=120_000)  # played to the end: the metrics show the run's last epoch
    metric = page.locator("[data-testid=digitviz-player] .dvp-metric").filter(has_text="Training time")
    inside = float(metric.locator(".dvp-value").inner_text().split()[0])
    played = playback(page)
    assert not h.errors_on_page(page), h.errors_on_page(page)
    page.context.close()
    return first, last, inside, redraws, played


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--starts", type=int, default=3, help="cold starts to time (each a new server; they vary by "
                   "seconds on a shared machine)")
    args = p.parse_args()
    chromium = h.find_chromium()
    if not chromium:
        sys.exit(h.MISSING_CHROMIUM)
    data = load_digits()
    config = TrainConfig(epochs=args.epochs)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=h.CHROMIUM_ARGS)
        healthy, usable, cold = zip(*[start_up(browser) for _ in range(args.starts)])
        cold_firsts, cold_lasts = zip(*cold)
        server, visitor = first_visitor(browser)
        with server:
            one_run(browser, server.url, 30)  # warm up: the server's first run, Plotly's first charts
            # each repeat a seed of its own: a run the server has computed once comes from its run cache
            page_runs = [one_run(browser, f"{server.url}/?seed={100 + i}", args.epochs) for i in range(args.repeats)]
        engine_alone(TrainConfig(epochs=5), data)[0]  # warm up
        alone = [engine_alone(config, data)[0] for _ in range(args.repeats)]
        browser.close()

    firsts, clicks, insides, redraws, played = zip(*page_runs)
    fps, distinct, gaps = zip(*played)

    def both(xs, unit="s", fmt="6.2f"):
        return f"{min(xs):{fmt}} {unit} best, {statistics.median(xs):{fmt}} {unit} median"

    ratio = [c / min(alone) for c in clicks]
    print(f"digitviz in headless Chromium: streamlit {streamlit.__version__}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs ({platform.machine()}), server and browser on this machine")
    print(f"start-up, {args.starts} times, each a new server:")
    print(f"  `streamlit run` to healthy server           : {both(healthy)}")
    print(f"  `streamlit run` to usable page              : {both(usable)}  (Train visible, script idle; "
          f"all: {', '.join(f'{u:.2f}' for u in usable)} s)")
    print(f"  its first Train at once, {TrainConfig().epochs} epochs          : click to the first epoch drawn "
          f"{both(cold_firsts)}; to the last update {statistics.median(cold_lasts):.2f} s median")
    print(f"a server started before the class: ready for a class {visitor[0]:.1f} s after it answered")
    print(f"  the first visitor's page, usable after      : {visitor[1]:6.2f} s")
    print(f"  their first Train, {TrainConfig().epochs} epochs               : click to the first epoch "
          f"drawn {visitor[2][0]:.2f} s, to the last update {visitor[2][1]:.2f} s")
    print(f"lesson's run: {args.epochs} epochs, lr 1, batch 256, {args.repeats} repeats")
    print(f"  Train click to the first epoch drawn        : {both(firsts)}")
    print(f"  Train click to last update                  : {both(clicks)}  ({both(redraws, 'updates', '3.0f')})")
    print(f"  playing it at 100 epochs/s, frames a second : {both(fps, 'fps', '6.1f')}")
    print(f"  distinct epochs on screen a second          : {both(distinct, '/s', '6.1f')}")
    print(f"  longest gap between animation frames        : {min(gaps):6.1f} ms best, "
          f"{statistics.median(gaps):6.1f} ms median, {max(gaps):6.1f} ms worst")
    print(f"  engine inside the page ('Training time')    : {both(insides)}")
    print(f"  engine alone (a thread, 1 torch thread)     : {both(alone)}")
    print(f"  ratio, page / engine alone                  : {both(ratio, 'x', '6.2f')}")
    print(f"  ratio, page / engine inside the page        : "
          f"{both([c / i for c, i in zip(clicks, insides)], 'x', '6.2f')}")


if __name__ == "__main__":
    main()
