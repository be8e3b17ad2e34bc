"""The engine against its floor and against the lesson's own loop, side by side in one process and one thread.

    .venv/bin/python -m benchmarks.bench_engine [--epochs 10] [--repeats 3] [--students 100]

- solo: one run at the lesson's settings through `engine.train` (a carpool of one, validation and records
  included) against its floor, the epoch's two matrix products over its 49 batches in torch
  (`xb @ w` and `xb.T @ dz`);
- carpool: `--students` lesson-style runs (each its own seed, learning rate and init std) trained as one block,
  per student-epoch, against the lesson's loop (chapter 4's code: fastai DataLoader, loss.backward()).
- ten digits (`--ten-epochs`, 0 to skip): the softmax model (all 60,000 images, shuffled, batch 256) through
  `engine.train` against torch's from-scratch trainer that trained it before it had a block form
  (`engine.ScratchTrainer`, validation included), and `--ten-students` such runs of one seed as a carpool;
- the two-layer net (`--two-epochs`, 0 to skip): the same three figures for the book's Linear-ReLU-Linear on 3s
  and 7s, with `--two-students` lesson-style runs as the carpool.

Each figure is the best of the repeats, interleaved so that all see the same machine load.
"""
import argparse
import dataclasses
import time

import numpy as np
import torch

from digitviz import TrainConfig, lesson, load_digits, train
from digitviz.carpool import train_carpool, warm_up
from digitviz.engine import ScratchTrainer, validate_epoch
from digitviz.losses import LOSS_FUNCS
from digitviz.models import initial_params


def lesson_ms(data, config):
    """The lesson's loop, ms an epoch."""
    start = initial_params(config)
    params = lesson.lesson_params(start["weights"], start["bias"])
    dl, _ = lesson.lesson_dataloaders(data, config.batch_size)
    model = lesson.linear1(params)
    began = time.perf_counter()
    for _ in range(config.epochs):
        lesson.train_epoch(dl, model, config.lr, params)
    return 1000 * (time.perf_counter() - began) / config.epochs


def floor_ms(data, config):
    """The epoch's two matrix products over its batches in torch, ms an epoch: what no solo run can beat by much."""
    x, w, bs = data.train_x, initial_params(config)["weights"], config.batch_size
    dz = torch.empty(bs, 1)
    began = time.perf_counter()
    for _ in range(config.epochs):
        for i in range(0, len(x), bs):
            xb = x[i:i + bs]
            torch.mm(xb, w, out=dz[:len(xb)])
            xb.T @ dz[:len(xb)]
    return 1000 * (time.perf_counter() - began) / config.epochs


def engine_ms(data, config):
    """engine.train, validation and records included, ms an epoch."""
    began = time.perf_counter()
    for _ in train(config, data):
        pass
    return 1000 * (time.perf_counter() - began) / config.epochs


def students(config, count):
    """A class of lesson-style runs: their own seeds, and one of a few learning rates and init stds each."""
    rng = np.random.default_rng(0)
    return [dataclasses.replace(config, seed=s, lr=float(rng.choice([0.1, 0.5, 1.0])),
                                init_std=float(rng.choice([0.1, 0.5, 1.0]))) for s in range(count)]


def carpool_ms(data, configs):
    """The block's training, validation and records, ms a student-epoch."""
    began = time.perf_counter()
    epochs = sum(1 for _ in train_carpool(configs, data))
    return 1000 * (time.perf_counter() - began) / epochs


def torch_scratch_ms(data, config):
    """The model as torch trained it from scratch before it had a block form, validation included, ms an epoch."""
    trainer = ScratchTrainer(config, data, initial_params(config))
    began = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        trainer.train_epoch(epoch)
        validate_epoch(trainer.model, data, LOSS_FUNCS[config.loss])
    return 1000 * (time.perf_counter() - began) / config.epochs


def against_torch(title, data, config, configs, repeats):
    """A model alone, through the kernel and through torch, and a carpool of `configs`, each the best of repeats."""
    runs = [(torch_scratch_ms(data, config), engine_ms(data, config), carpool_ms(data, configs))
            for _ in range(repeats)]
    scratch, solo, pool = (min(r[i] for r in runs) for i in range(3))
    print(f"{title}, {len(data.train_x):,} images, {config.epochs} epochs x {repeats} repeats:")
    print(f"  torch from scratch: {scratch:7.1f} ms an epoch")
    print(f"  engine, solo      : {solo:7.1f} ms an epoch, {scratch / solo:.1f}x faster")
    print(f"  carpool of {len(configs)}    : {pool:7.1f} ms a student-epoch, {scratch / pool:.1f}x faster than torch "
          f"alone")


def ten_digits(epochs, count, repeats):
    """The softmax model of all ten digits, shuffled (a block shares its seed's batch order, so the class differs
    in rates and init stds alone)."""
    config = TrainConfig(model="softmax", loss="cross_entropy", shuffle=True, epochs=epochs)
    configs = [dataclasses.replace(c, seed=0) for c in students(config, count)]
    against_torch("ten digits, softmax, shuffled", load_digits(pair="all"), config, configs, repeats)


def two_layer(epochs, count, repeats):
    """The two-layer net (30 hidden units: thirty rows of the block a run) at the lesson's other settings."""
    config = TrainConfig(model="two_layer", epochs=epochs)
    against_torch("3s and 7s, two-layer net", load_digits(), config, students(config, count), repeats)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--students", type=int, default=100)
    p.add_argument("--ten-epochs", type=int, default=2)
    p.add_argument("--ten-students", type=int, default=30)
    p.add_argument("--two-epochs", type=int, default=3)
    p.add_argument("--two-students", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(1)
    data = load_digits()
    config = TrainConfig(lr=1.0, epochs=args.epochs, batch_size=256, init_std=1.0, shuffle=False)
    warm_up()
    lesson_ms(data, dataclasses.replace(config, epochs=1))
    configs = students(config, args.students)
    runs = [(lesson_ms(data, config), floor_ms(data, config), engine_ms(data, config), carpool_ms(data, configs))
            for _ in range(args.repeats)]
    slow, floor, solo, pool = (min(r[i] for r in runs) for i in range(4))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, {args.epochs} epochs x {args.repeats} repeats")
    print(f"lesson's loop     : {slow:7.2f} ms an epoch")
    print(f"floor (2 products): {floor:7.2f} ms an epoch")
    print(f"engine, solo      : {solo:7.2f} ms an epoch, {solo / floor:.2f}x the floor (target: at most 1.3x), "
          f"{slow / solo:.1f}x faster than the lesson's loop")
    print(f"carpool of {args.students}: {pool:.2f} ms a student-epoch, {slow / pool:.1f}x the lesson's loop")
    if args.ten_epochs:
        ten_digits(args.ten_epochs, args.ten_students, args.repeats)
    if args.two_epochs:
        two_layer(args.two_epochs, args.two_students, args.repeats)


if __name__ == "__main__":
    main()
