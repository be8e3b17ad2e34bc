"""The player's payload: a run's records in the compact form that the browser animates (digitviz/ui/player.py).

Pure, like figures.py: records in, bytes out, and `decode` reads them back for tests and the load benchmark.
Curves and times stay float64, so the browser's numbers are exactly the records'; weight maps are quantised to one
byte a pixel against each map's own symmetric limit (the weight map's colour scale: white is 0, each end is the
largest weight), a quarter of float32's size, except the last map, sent exactly, so the final picture's hover
values are today's. Layout: a 4-byte little-endian length, that many bytes of JSON (what is what), then the
arrays, each 8-byte aligned, where the JSON's "arrays" table says.
"""
import json
import math

import numpy as np
from plotly.colors import get_colorscale

from digitviz import text
from digitviz.engine import initial_params, weight_map
from digitviz.figures import BASELINE_DASH, DIVERGING, TRAINING, VALID, tile

CURVES = ("valid_acc", "train_acc", "valid_loss", "train_loss", "seconds")
CHARTS = [
    {"title": "Accuracy", "axis": "accuracy", "percent": True,
     "series": [["validation accuracy", "valid_acc", VALID, ""], ["training accuracy", "train_acc", TRAINING, "dot"]]},
    {"title": "Loss", "axis": "loss", "percent": False,
     "series": [["validation loss", "valid_loss", VALID, ""], ["training loss", "train_loss", TRAINING, "dot"]]},
]
COLORSCALE = [[round(at, 4), color] for at, color in get_colorscale(DIVERGING)]  # as Plotly draws "RdBu"
LEVELS = 127  # codes 1..255 stand for -limit..+limit, 128 is 0; code 0 is a blank (NaN: the gaps between tiles)
MAP_BYTES = 1_500_000  # beyond this, every k-th epoch's map (and always the last): a two-layer net's 1,000 epochs


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


def map_title(run, learned):
    """The weight map's title, with {epoch} for the browser to fill in."""
    title = "Change in the weights after epoch {epoch}" if learned else "Weights after epoch {epoch}"
    return title + (" (hidden units)" if run.config.model == "two_layer" else "")


def run_payload(run, baseline, learned=False):
    """A run's records so far as the player's bytes; `learned`: maps of the change since the random start."""
    records, digits = run.records, run.digits
    start = weight_map(initial_params(run.config)) if learned else None
    epochs = [r.epoch for r in records]
    chosen = set(frame_epochs(epochs, np.asarray(records[0].weights).size))
    maps = np.stack([map_image(r.weights - (start if learned else 0), digits) for r in records if r.epoch in chosen])
    ends = ("against", "for") if len(digits) == 10 else (f"→ {digits[1]}", f"→ {digits[0]}")
    meta = {"run": run.number, "status": run.status, "target": max(run.target, epochs[-1]), "count": len(records),
            "baseline": {"value": baseline, "label": f"mean-image baseline {baseline:.1%}", "dash": BASELINE_DASH},
            "charts": CHARTS, "final": final_text(records, baseline, run.target),
            "map": {"title": map_title(run, learned), "scale": "weight", "ends": [ends[0], "0", ends[1]], "zmid": 0,
                    "colorscale": COLORSCALE, "shape": list(maps.shape[1:]), "epochs": sorted(chosen),
                    "labels": map_labels(records[0].weights, digits)}}
    codes, limits = quantise(maps)
    arrays = {"epoch": np.array(epochs, dtype=np.int32),
              **{name: np.array([getattr(r, name) for r in records], dtype=np.float64) for name in CURVES},
              "map_codes": codes, "map_limits": limits, "map_last": maps[-1].astype(np.float32)}
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


def map_at(meta, arrays, epoch):
    """The weight map the player shows at `epoch`: the newest sent at or before it; exact for the last epoch."""
    if epoch == int(arrays["epoch"][-1]):
        return arrays["map_last"].astype(np.float64)
    i = max(k for k, e in enumerate(meta["map"]["epochs"]) if e <= epoch)
    return dequantise(arrays["map_codes"][i:i + 1], arrays["map_limits"][i:i + 1])[0]
