"""`python -m digitviz train|baseline`: the lesson from a terminal, with the page's engine."""
import argparse
import sys
from dataclasses import fields
from pathlib import Path

from digitviz.baselines import pixel_similarity
from digitviz.config import LOSSES, MODELS, TrainConfig
from digitviz.data import DataError, load_digits
from digitviz.engine import train
from digitviz.export import model_npz, records_csv

DEFAULTS = TrainConfig()
CLEAR = "\r\033[K"  # back to the start of the line and erase it: where the progress bar was


def parser():
    p = argparse.ArgumentParser(prog="python -m digitviz", description="Train the fastai lesson's 3-vs-7 model.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train and print the lesson's accuracy table")
    t.add_argument("--lr", type=float, default=DEFAULTS.lr, help="learning rate (default %(default)s)")
    t.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="epochs, 1 to 10,000 (default %(default)s)")
    t.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="default %(default)s")
    t.add_argument("--init-std", type=float, default=DEFAULTS.init_std, help="std of the random init (default %(default)s)")
    t.add_argument("--seed", type=int, default=DEFAULTS.seed, help="default %(default)s")
    t.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=DEFAULTS.shuffle,
                   help="shuffle the training set each epoch (the lesson does not)")
    t.add_argument("--loss", choices=LOSSES, default=DEFAULTS.loss, help="default %(default)s")
    t.add_argument("--model", choices=MODELS, default=DEFAULTS.model, help="default %(default)s")
    t.add_argument("--every", type=int, default=None, help="print a line every N epochs (default: a tenth of the run)")
    t.add_argument("--csv", help="write every epoch's record to this CSV file")
    t.add_argument("--save", help="write the final parameters and the settings to this .npz file")
    for cmd in (t, sub.add_parser("baseline", help="print the mean-image baseline's accuracy")):
        cmd.add_argument("--pair", type=int, nargs=2, default=(3, 7), metavar=("A", "B"), help="digits (default 3 7)")
        cmd.add_argument("--all-digits", action="store_true",
                         help="all ten digits (train with --model softmax --loss cross_entropy --shuffle)")
        cmd.add_argument("--source", default="bundled", help="bundled (default), fastai (downloads), or a folder path")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        data = load_digits("all" if args.all_digits else tuple(args.pair), args.source)
        if args.command == "baseline":
            return print_baseline(data)
        config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        config.check_data(data)
    except DataError as e:
        print(f"digitviz: error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"python -m digitviz {args.command}: error: {e}", file=sys.stderr)
        return 2
    return run(config, data, args)


def print_baseline(data):
    b = pixel_similarity(data)
    print(f"Mean-image baseline on {len(data.valid_x):,} validation images ({'s vs '.join(map(str, data.digits))}s):")
    for acc in (b.l1, b.l2):
        per_digit = "  ".join(f"{d}s {a:.4f}" for d, a in acc.per_digit.items())
        print(f"  {acc.norm.upper()} distance: {per_digit}  overall {acc.overall:.4f}")
    return 0


def run(config, data, args):
    every = args.every or max(1, config.epochs // 10)
    records = []
    bar = sys.stderr.isatty()
    for r in train(config, data):
        records.append(r)
        if r.epoch % every == 0 or r.diverged:
            print(f"{CLEAR if bar else ''}Accuracy after {r.epoch} epochs: {round(r.valid_acc, 4)}", flush=True)
        if r.diverged:
            print(f"The run diverged at epoch {r.epoch}: {r.diverged}. Try a smaller learning rate.")
        elif bar:
            progress(r.epoch, config.epochs)
    if bar:
        print(CLEAR, end="", file=sys.stderr)
    last = records[-1]
    print(f"Final: validation accuracy {last.valid_acc:.4f}, loss {last.valid_loss:.4f}, "
          f"{last.seconds:.2f} s ({1000 * last.seconds / len(records):.1f} ms an epoch); "
          f"mean-image baseline {pixel_similarity(data).l1.overall:.4f}")
    if args.csv:
        Path(args.csv).write_text(records_csv(records))
    if args.save:
        Path(args.save).write_bytes(model_npz(last.params, config, data.digits))
    return 0


def progress(epoch, total, width=30):
    """A one-line bar on stderr, redrawn in place, so stdout keeps only the table."""
    done = width * epoch // total
    print(f"\r[{'#' * done}{'.' * (width - done)}] epoch {epoch}/{total}", end="", file=sys.stderr, flush=True)

