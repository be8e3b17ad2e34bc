"""The page's live training against the engine alone, for the lesson's 300-epoch run.

    .venv/bin/python -m benchmarks.bench_page [--epochs 300] [--repeats 3]

Runs the real page with Streamlit's AppTest (the script, its throttled redraws and every chart it
builds, but not a browser: benchmarks/bench_browser.py measures that), and the engine alone in a
thread set up as the page sets up its own, side by side in one process. Prints both and the ratio
(target: the page within 2x the engine).
"""
import argparse
import time

from streamlit.testing.v1 import AppTest

from digitviz import TrainConfig, load_digits
from tools import APP
from tools.timing import engine_alone


def page_seconds(epochs, seed):
    """From pressing Train to the end of the script run that draws the last epoch; and how many redraws.
    Each call a seed of its own, so that no run comes from the server's run cache (digitviz/trajectories.py)."""
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.slider(key="epochs").set_value(epochs)
    at.number_input(key="seed").set_value(seed).run()
    at.button(key="train").click()
    began = time.perf_counter()
    at.run()
    took = time.perf_counter() - began
    assert not at.exception, at.exception
    run = at.session_state.run
    assert len(run.records) == epochs
    return took, run.records[-1].seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    data = load_digits()
    config = TrainConfig(epochs=args.epochs)
    page_seconds(5, seed=1000), engine_alone(config, data)[0]  # warm up: imports, caches, first charts
    rows = [(engine_alone(config, data)[0], *page_seconds(args.epochs, seed=1001 + i)) for i in range(args.repeats)]
    engine, (page, inside) = min(r[0] for r in rows), min((r[1], r[2]) for r in rows)
    print(f"lesson's run: {args.epochs} epochs, lr 1, batch 256, best of {args.repeats}")
    print(f"engine alone          : {engine:6.2f} s")
    print(f"page, Train to drawn  : {page:6.2f} s (of which training {inside:.2f} s)")
    print(f"ratio                 : {page / engine:6.2f}x the engine's time (target: at most 2x)")


if __name__ == "__main__":
    main()
