"""The page as a person gets it: the real `streamlit run` server and headless Chromium, for the lesson's run.

    .venv/bin/python -m benchmarks.bench_browser [--epochs 300] [--repeats 3]

Measures
  1. start-up: from launching `streamlit run` to a usable page (the Train button visible and the script
     idle), with the server's health check on the way;
  2. the lesson's run (epochs set with the keyboard, as a person does): from the click on Train to the last
     redraw (the Accuracy chart holds every epoch and the script is idle), timed inside the browser;
  3. the engine's own time: the page's "Training time" metric, and `digitviz.train` alone in a thread set
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
# chart holds every epoch and the script is idle; also count the progress bar's distinct texts (the redraws).
ARM = """epochs => {
  const m = window.__bench = {clicked: null, done: null, texts: new Set()};
  document.addEventListener('click', e => {
    if (m.clicked === null && e.target.closest('.st-key-train')) m.clicked = performance.now();
  }, true);
  const check = () => {
    if (m.done !== null) return;
    const bar = document.querySelector('[data-testid=stProgress]');
    if (m.clicked !== null && bar) m.texts.add(bar.innerText);
    const chart = window.__accuracy();
    const idle = document.querySelector('[data-testid=stApp]').dataset.testScriptState === 'notRunning';
    if (m.clicked !== null && idle && chart && chart.points === epochs) m.done = performance.now();
  };
  const frame = () => { check(); if (m.done === null) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  m.timer = setInterval(() => { check(); if (m.done !== null) clearInterval(m.timer); }, 5);
}"""


def new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.add_init_script(h.TRACK_RUNS)
    page.set_default_timeout(120_000)
    return page


def start_up(browser):
    """Seconds from launching `streamlit run` to a healthy server, and to a usable page."""
    began = time.perf_counter()
    server = h.start_server()
    healthy = time.perf_counter() - began
    page = new_page(browser)
    page.goto(server.url)
    h.wait_ready(page, since=0, start_timeout=60_000)
    h.button(page, "Train").wait_for(state="visible")
    usable = time.perf_counter() - began
    page.context.close()
    return server, healthy, usable


def one_run(browser, url, epochs):
    """(click to last redraw, the page's Training time, redraws seen) for one Train of `epochs` epochs."""
    page = new_page(browser)
    h.open_app(page, url)
    h.set_epochs(page, epochs)
    page.evaluate(ARM, epochs)
    h.button(page, "Train").click()
    page.wait_for_function("() => window.__bench.done !== null", polling=50)
    clicked, done, redraws = page.evaluate("() => [window.__bench.clicked, window.__bench.done, "
                                           "window.__bench.texts.size]")
    metric = page.get_by_test_id("stMetric").filter(has_text="Training time").get_by_test_id("stMetricValue")
    inside = float(metric.inner_text().split()[0])
    assert not h.errors_on_page(page), h.errors_on_page(page)
    page.context.close()
    return (done - clicked) / 1000, inside, redraws


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    chromium = h.find_chromium()
    if not chromium:
        sys.exit(h.MISSING_CHROMIUM)
    data = load_digits()
    config = TrainConfig(epochs=args.epochs)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=h.CHROMIUM_ARGS)
        server, healthy, usable = start_up(browser)
        with server:
            one_run(browser, server.url, 30)  # warm up: the server's first run, Plotly's first charts
            page_runs = [one_run(browser, server.url, args.epochs) for _ in range(args.repeats)]
        engine_alone(TrainConfig(epochs=5), data)[0]  # warm up
        alone = [engine_alone(config, data)[0] for _ in range(args.repeats)]
        browser.close()

    clicks, insides, redraws = zip(*page_runs)

    def both(xs, unit="s", fmt="6.2f"):
        return f"{min(xs):{fmt}} {unit} best, {statistics.median(xs):{fmt}} {unit} median"

    ratio = [c / min(alone) for c in clicks]
    print(f"digitviz in headless Chromium: streamlit {streamlit.__version__}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs ({platform.machine()}), server and browser on this machine")
    print(f"start-up, `streamlit run` to healthy server   : {healthy:6.2f} s")
    print(f"start-up, `streamlit run` to usable page      : {usable:6.2f} s  (Train visible, script idle)")
    print(f"lesson's run: {args.epochs} epochs, lr 1, batch 256, {args.repeats} repeats")
    print(f"  Train click to last redraw                  : {both(clicks)}  ({both(redraws, 'redraws', '3.0f')})")
    print(f"  engine inside the page ('Training time')    : {both(insides)}")
    print(f"  engine alone (a thread, 1 torch thread)     : {both(alone)}")
    print(f"  ratio, page / engine alone                  : {both(ratio, 'x', '6.2f')}")
    print(f"  ratio, page / engine inside the page        : "
          f"{both([c / i for c, i in zip(clicks, insides)], 'x', '6.2f')}")


if __name__ == "__main__":
    main()
