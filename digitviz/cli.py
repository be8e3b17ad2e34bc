"""`python -m digitviz train|baseline`: the lesson from a terminal, with the page's engine."""
import argparse
import sys
from dataclasses import fields
from pathlib import Path

from digitviz.baselines import pixel_similarity
from digitviz.config import TrainConfig
from digitviz.data import DataError, load_digits
from digitviz.engine import train
from digitviz.export import model_npz, records_csv
from digitviz.settings import training_flags
from digitviz.text import UNSHUFFLED_TEN, divergence_advice

CLEAR = "\r\033[K"  # back to the start of the line and erase it: where the progress bar was


def parser():
    p = argparse.ArgumentParser(prog="python -m digitviz", description="Train the fastai lesson's 3-vs-7 model.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train and print the lesson's accuracy table")
    for flag, field, default, text, choices in training_flags():  # one flag per row of the settings table
        if isinstance(default, bool):
            t.add_argument(flag, dest=field, action=argparse.BooleanOptionalAction, default=default, help=text)
        else:
            t.add_argument(flag, dest=field, type=type(default), choices=choices, default=default,
                           help=f"{text} (default %(default)s)")
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
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if args.command == "train" and args.all_digits:
        if not {"--shuffle", "--no-shuffle"} & set(argv):
            args.shuffle = True  # ten digits sorted by label make every batch one digit: shuffle unless told not to
        elif not args.shuffle:
            print(f"digitviz: warning: {UNSHUFFLED_TEN.replace('**', '')}", file=sys.stderr)
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
            print(divergence_advice(config, r).replace("**", ""))
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

