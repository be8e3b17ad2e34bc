"""Engine vs the lesson's own loop, side by side in one process, at the lesson's settings.

    .venv/bin/python -m benchmarks.bench_engine [--epochs 20] [--repeats 3]

Both start from the same weights with no shuffle; the lesson's loop is chapter 4's code
(fastai DataLoader over a list of (x, y) tuples, loss.backward()). Prints ms per epoch for each,
best of the repeats, interleaved so that both see the same machine load, and their ratio.
"""
import argparse
import dataclasses
import time

import torch

from digitviz import TrainConfig, lesson, load_digits, train
from digitviz.engine import initial_params


def lesson_ms(data, config):
    start = initial_params(config)
    params = lesson.lesson_params(start["weights"], start["bias"])
    dl, _ = lesson.lesson_dataloaders(data, config.batch_size)
    model = lesson.linear1(params)
    began = time.perf_counter()
    for _ in range(config.epochs):
        lesson.train_epoch(dl, model, config.lr, params)
    return 1000 * (time.perf_counter() - began) / config.epochs


def engine_ms(data, config):
    began = time.perf_counter()
    for _ in train(config, data):
        pass
    return 1000 * (time.perf_counter() - began) / config.epochs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    data = load_digits()
    config = TrainConfig(lr=1.0, epochs=args.epochs, batch_size=256, init_std=1.0, shuffle=False)
    engine_ms(data, dataclasses.replace(config, epochs=2))  # warm up both
    lesson_ms(data, dataclasses.replace(config, epochs=1))
    runs = [(lesson_ms(data, config), engine_ms(data, config)) for _ in range(args.repeats)]
    slow, fast = min(r[0] for r in runs), min(r[1] for r in runs)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.epochs} epochs x {args.repeats} repeats")
    print(f"lesson's loop : {slow:7.2f} ms/epoch")
    print(f"digitviz      : {fast:7.2f} ms/epoch (including validation and the per-epoch record)")
    print(f"ratio         : {slow / fast:7.1f}x faster (target: 10x)")


if __name__ == "__main__":
    main()
