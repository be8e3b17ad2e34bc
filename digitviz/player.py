"""The player's payload: a run's records in the compact form that the browser animates (digitviz/ui/player.py).

Pure, like figures.py: records in, bytes out, and `decode` reads them back for tests and the load benchmark.
Curves and times stay float64, so the browser's numbers are exactly the records'; weight maps are quantised to one
byte a pixel against each map's own symmetric limit (the weight map's colour scale: white is 0, each end is the
largest weight), a quarter of float32's size, except the last map, sent exactly, so the final picture's hover
values are today's. Layout: a 4-byte little-endian length, that many bytes of JSON (what is what), then the
arrays, each 8-byte aligned, where the JSON's "arrays" table says.

A run is sent again each time it has more epochs and at each rerun of the page (whole, or while it trains only
its new maps: run_payload's parts), so each record's quantised maps are made once and kept beside the record
(`_codes`) for as long as the record lives: a class that follows one run (a round's reveal, a shared link) shares
them too.
"""
import functools
import json
import math
import threading
import weakref

import numpy as np
from plotly.colors import get_colorscale

from digitviz import text
from digitviz.config import TrainConfig
from digitviz.figures import BASELINE_DASH, DIVERGING, TRAINING, VALID, accuracy_range, tile
from digitviz.init import initial_arrays
from digitviz.records import weight_map

CURVES = ("valid_acc", "train_acc", "valid_loss", "train_loss", "seconds")
CHARTS = [
    {"title": "Accuracy", "axis": "accuracy", "percent": True,
     "series": [["validation accuracy", "valid_acc", VALID, ""], ["training accuracy", "train_acc", TRAINING, "dot"]]},
    {"title": "Loss", "axis": "loss", "percent": False, "from_zero": True,
     "series": [["validation loss", "valid_loss", VALID, ""], ["training loss", "train_loss", TRAINING, "dot"]]},
]
COLORSCALE = [[round(at, 4), color] for at, color in get_colorscale(DIVERGING)]  # as Plotly draws "RdBu"
LEVELS = 127  # codes 1..255 stand for -limit..+limit, 128 is 0; code 0 is a blank (NaN: the gaps between tiles)
MAP_BYTES = 1_500_000  # beyond this, every k-th epoch's map (and always the last): a two-layer net's 1,000 epochs

_made = weakref.WeakKeyDictionary()  # record -> {"map" or "change": (start, codes, limit)}, gone with the record
_made_lock = threading.Lock()  # every session's script thread draws; records are shared between sessions
# A run's missing maps are made by one session while the others that draw the same run at that moment (a round's
# reveal: a class at once) wait and then read them, rather than each making them all. Striped by the first record
# drawn, so that sessions drawing other runs do not wait.
_making = [threading.Lock() for _ in range(16)]
# One start map per start, even for sessions asking at once: the change maps are kept for the start map they were
# made against (`_codes`), and a second object made meanwhile would have them all made again.
_start_lock = threading.Lock()


def quantise(maps):
    """(k, h, w) maps -> (codes uint8, limits float32): each map scaled by its largest finite |value|."""
    maps = np.asarray(maps, dtype=np.float64)
    finite = np.isfinite(maps)
    limits = np.where(finite, np.abs(maps), 0).max(axis=(1, 2))
    limits[limits == 0] = 1.0  # as figures._symmetric_range: an all-zero map still has a scale
    scaled = np.where(finite, maps, 0) / limits[:, None, None]
    codes = np.rint(scaled * LEVELS).astype(np.int16) + 128
    return np.where(finite, codes, 0).astype(np.uint8), limits.astype(np.float32)


def dequantise(codes, limits):
    """The inverse of quantise, within half a step (limit / 254); blanks come back as NaN."""
    values = (codes.astype(np.float64) - 128) / LEVELS * limits[:, None, None].astype(np.float64)
    return np.where(codes == 0, np.nan, values)


def frame_epochs(epochs, pixels):
    """Which epochs' maps to send: all of them, or every k-th so they fit MAP_BYTES; always the last."""
    step = max(1, math.ceil(len(epochs) * pixels / MAP_BYTES))
    chosen = list(epochs[::step])
    if chosen[-1] != epochs[-1]:
        chosen.append(epochs[-1])
    return chosen


def map_image(weights, digits):
    """A record's weights as the weight map draws them: (28, 28), or maps tiled as figures.weight_map_figure does."""
    weights = np.asarray(weights)
    return tile(weights, 5 if len(digits) == 10 else None) if weights.ndim == 3 else weights


def map_labels(weights, digits):
    """[x, y, text] of the label in each tile's top-left corner, for one map per digit; else none."""
    weights = np.asarray(weights)
    if weights.ndim != 3 or len(digits) != len(weights):
        return []
    columns = 5 if len(digits) == 10 else int(np.ceil(np.sqrt(len(weights) * 1.5)))
    return [[c * 29 + 1, r * 29 + 1, str(d)] for (r, c), d in zip((divmod(i, columns) for i in range(len(digits))),
                                                                   digits)]


def final_text(records, baseline, target):
    """The metrics as the page words them for the last record: the browser shows exactly these on the last frame."""
    last = records[-1]
    return {"accuracy": f"{last.valid_acc:.2%}",
            "delta": f"{(last.valid_acc - baseline) * 100:+.2f} pts vs mean-image baseline",
            "loss": f"{last.valid_loss:.4f}" if math.isfinite(last.valid_loss) else "not a number",
            "time": f"{last.seconds:.2f} s", "per_epoch": text.ms_per_epoch(last, len(records)),
            "progress": f"epoch {last.epoch} of {max(target, last.epoch)}"}


def map_titles(config):
    """The raw map's and the change map's titles, with {epoch} for the browser to fill in."""
    units = " (hidden units)" if config.model == "two_layer" else ""
    return f"Weights after epoch {{epoch}}{units}", f"Change, epoch 0 → {{epoch}}{units}"


def map_ends(config, digits):
    """The colour bar's three labels: where a weight pushes; a hidden unit's weights push no digit, only the unit."""
    if config.model == "two_layer":
        ends = ("inhibits", "excites")
    else:
        ends = ("against", "for") if len(digits) == 10 else (f"→ {digits[1]}", f"→ {digits[0]}")
    return [ends[0], "0", ends[1]]


def maps_part(name, title, config, digits, codes, limits, last, chosen, weights):
    """One weight map's meta and arrays: every chosen epoch's map quantised (`codes`, `limits`) and, unless `last`
    is None (a part, see run_payload), the last one exact. `weights` is a record's own (for the digits' labels on
    tiled maps)."""
    meta = {"title": title, "scale": "weight", "ends": map_ends(config, digits), "zmid": 0, "colorscale": COLORSCALE,
            "shape": list(codes.shape[1:]), "epochs": chosen, "labels": map_labels(weights, digits)}
    arrays = {f"{name}_codes": codes, f"{name}_limits": limits}
    if last is not None:
        arrays[f"{name}_last"] = last.astype(np.float32)
    return meta, arrays


def start_weights(config):
    """The weights `config`'s run starts from (its seed and init std draw them) as weight maps: read-only, shared."""
    with _start_lock:
        return _start_weights(_start_of(config))


def start_image(config, digits):
    """start_weights as the player shows them: one map, or the maps tiled. Read-only, shared."""
    with _start_lock:
        return _start_image(_start_of(config), tuple(digits))


def _start_of(config):
    """Only what decides where a run starts, so that runs of other rates, epochs or batch sizes share one start."""
    return TrainConfig(init_std=config.init_std, seed=config.seed, loss=config.loss, model=config.model)


@functools.lru_cache(maxsize=256)
def _start_weights(start):
    weights = weight_map(initial_arrays(start))
    weights.flags.writeable = False
    return weights


@functools.lru_cache(maxsize=256)
def _start_image(start, digits):
    image = map_image(_start_weights(start), digits)
    image.flags.writeable = False
    return image


def _codes(records, digits, which="map", start=None):
    """The records' maps quantised: (codes (k, h, w), limits (k,)). "map" is the weights, "change" the weights less
    `start`. Each map is quantised once, the first time it is drawn: a whole run sends all its maps, and tiling and
    quantising them all again made a redraw of a two-layer run's 100 epochs take 19 ms, not 0.9."""
    with _making[hash(records[0]) % len(_making)]:
        return _made_codes(records, digits, which, start)


def _made_codes(records, digits, which, start):
    with _made_lock:
        made = [_made.get(r, {}).get(which) for r in records]
    missing = [i for i, m in enumerate(made) if m is None or m[0] is not start]
    if missing:
        images = np.stack([map_image(records[i].weights, digits) for i in missing])
        codes, limits = quantise(images if start is None else images - start)
        with _made_lock:
            for j, i in enumerate(missing):
                made[i] = (start, codes[j].copy(), limits[j])  # a copy: a view would keep all the rows alive
                _made.setdefault(records[i], {})[which] = made[i]
    return np.stack([m[1] for m in made]), np.array([m[2] for m in made], dtype=np.float32)


def baseline_meta(baseline):
    """The accuracy chart's dashed line: the mean-image baseline the run has to beat."""
    return {"value": baseline, "label": f"mean-image baseline {baseline:.1%}", "dash": BASELINE_DASH}


def run_payload(run, baseline, learned=False, after=None):
    """A run's records so far as the player's bytes: the curves, the weight maps and, with `learned`, maps of the
    change since the random start beside them.

    `after`: while a run trains, the newest epoch whose map this stretch of training already sent the player. Then
    the payload is a part: the curves still whole (a few bytes an epoch, and a player that missed a part still has
    every point), but only the maps of later epochs, quantised, which the player adds to those it has; the exact
    last maps come with the whole run once it stops. The maps are most of the bytes: measured with a redraw every
    quarter of a second, a 300-epoch run's redraws sent 2.0 MB whole and 1.0 MB in parts, a 1,000-epoch run's 14.4
    and 2.8 MB, a 1,000-epoch two-layer run's 261 and 18 MB."""
    records, digits = run.records, run.digits
    epochs = [r.epoch for r in records]
    chosen = sorted(set(frame_epochs(epochs, np.asarray(records[0].weights).size * (2 if learned else 1))))
    if after is not None:
        chosen = [e for e in chosen if e > after] or chosen[-1:]
    wanted = set(chosen)
    shown = [r for r in records if r.epoch in wanted]
    last = map_image(records[-1].weights, digits) if after is None else None
    raw_title, change_title = map_titles(run.config)
    first = records[0].weights
    map_meta, arrays = maps_part("map", raw_title, run.config, digits, *_codes(shown, digits), last, chosen, first)
    meta = {"run": run.number, "status": run.status, "target": max(run.target, epochs[-1]), "count": len(records),
            "part": after, "baseline": baseline_meta(baseline), "accuracy_range": accuracy_range(records, baseline),
            "charts": CHARTS, "final": final_text(records, baseline, run.target), "map": map_meta}
    if learned:
        start = start_image(run.config, digits)
        meta["change"], change_arrays = maps_part("change", change_title, run.config, digits,
                                                  *_codes(shown, digits, "change", start),
                                                  None if last is None else last - start, chosen, first)
        arrays.update(change_arrays)
    arrays = {"epoch": np.array(epochs, dtype=np.int32),
              **{name: np.array([getattr(r, name) for r in records], dtype=np.float64) for name in CURVES}, **arrays}
    return encode(meta, arrays)


def start_payload(config, digits, baseline, learned=False):
    """The frame a run will fill, before there is one: the starting (random) weights that `config`'s seed and init
    std give, as the lesson draws them, and empty axes with the baseline's dashed line. No records: the player
    shows epoch 0 of `config.epochs` and waits for Train."""
    weights, start = start_weights(config), start_image(config, digits)
    units = " (hidden units)" if config.model == "two_layer" else ""
    map_meta, arrays = maps_part("map", f"Starting weights, random{units}", config, digits, *quantise(start[None]),
                                 start, [0], weights)
    meta = {"run": 0, "status": "start", "target": config.epochs, "count": 0, "baseline": baseline_meta(baseline),
            "accuracy_range": accuracy_range([], baseline), "charts": CHARTS, "final": None, "map": map_meta,
            "part": None}
    if learned:  # nothing has changed yet: a blank map, where the change will show
        blank = np.zeros_like(start)
        meta["change"], change_arrays = maps_part("change", f"Change since the start: none yet{units}", config,
                                                  digits, *quantise(blank[None]), blank, [0], weights)
        arrays.update(change_arrays)
    arrays = {"epoch": np.zeros(0, dtype=np.int32), **{name: np.zeros(0) for name in CURVES}, **arrays}
    return encode(meta, arrays)


def encode(meta, arrays):
    """meta (JSON) and named numpy arrays -> bytes: length, JSON, then each array 8-byte aligned."""
    table, blobs, offset = {}, [], 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        table[name] = [a.dtype.str, offset, list(a.shape)]
        pad = -a.nbytes % 8
        blobs += [a.tobytes(), b"\0" * pad]
        offset += a.nbytes + pad
    head = json.dumps({**meta, "arrays": table}, allow_nan=False).encode()
    head += b" " * (-(len(head) + 4) % 8)  # so the arrays start 8-byte aligned
    return len(head).to_bytes(4, "little") + head + b"".join(blobs)


def decode(blob):
    """bytes -> (meta, {name: array}): what the browser reads, for tests and the simulated students."""
    size = int.from_bytes(blob[:4], "little")
    meta = json.loads(blob[4:4 + size])
    body = memoryview(blob)[4 + size:]
    arrays = {name: np.frombuffer(body, dtype=dtype, count=int(np.prod(shape)), offset=offset).reshape(shape)
              for name, (dtype, offset, shape) in meta.pop("arrays").items()}
    return meta, arrays


def map_at(meta, arrays, epoch, which="map"):
    """The weight map ("map", or "change") the player shows at `epoch` from this payload alone: the newest sent at
    or before it; exact for the last epoch of a whole run, and for the start frame (no records), whose one map is
    its last."""
    if f"{which}_last" in arrays and (not arrays["epoch"].size or epoch == int(arrays["epoch"][-1])):
        return arrays[f"{which}_last"].astype(np.float64)
    i = max(k for k, e in enumerate(meta[which]["epochs"]) if e <= epoch)
    return dequantise(arrays[f"{which}_codes"][i:i + 1], arrays[f"{which}_limits"][i:i + 1])[0]
