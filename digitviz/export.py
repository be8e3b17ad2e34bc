"""A run's records, settings and weights as files to download, and a saved model read back safely."""
import csv
import io
import json
from dataclasses import asdict

import numpy as np
from PIL import Image
from plotly.colors import sample_colorscale

from digitviz.figures import DIVERGING, tile

MAX_MODEL_BYTES = 2 * 1024 * 1024  # the biggest model here (two layers, 30 units) saves to about 100 kB


class ModelFileError(ValueError):
    """A model file we cannot use; the message says what is wrong in words a student can act on."""


def records_csv(records):
    """Every epoch's numbers, one row each."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0].as_row()))
    writer.writeheader()
    writer.writerows(r.as_row() for r in records)
    return out.getvalue()


def settings_json(config, digits, lr_changes=()):
    """The run's settings, enough to run it again, with each (epoch, lr) where it went on at another rate."""
    changes = {"lr_changes": [list(c) for c in lr_changes]} if lr_changes else {}
    return json.dumps({**asdict(config), "digits": list(digits), **changes}, indent=2)


def weights_npy(params):
    """The (784, k) weight matrix as a plain .npy file, for numpy or any other tool."""
    out = io.BytesIO()
    np.save(out, np.asarray(params["weights"]), allow_pickle=False)
    return out.getvalue()


def model_npz(params, config, digits):
    """Every parameter and the settings in one .npz: what `load_model` reads back."""
    out = io.BytesIO()
    np.savez(out, config=json.dumps(asdict(config)), digits=np.array(digits), **params)
    return out.getvalue()


def weight_map_png(weights, scale=10):
    """The weight map as a PNG in the page's colours (blue > 0 > red), each weight a scale x scale square."""
    image = tile(weights) if np.ndim(weights) == 3 else np.asarray(weights, dtype=np.float64)
    finite = np.isfinite(image)
    limit = np.abs(image[finite]).max() if finite.any() else 1.0
    unit = np.where(finite, image / (limit or 1.0) / 2 + 0.5, 0.5).ravel()  # -limit..limit -> 0..1
    rgb = np.array([[int(c) for c in s[4:-1].split(",")] for s in sample_colorscale(DIVERGING, unit)], np.uint8)
    rgb = rgb.reshape(*image.shape, 3)
    rgb[~finite] = 255  # the gaps between tiled maps are white
    rgb = rgb.repeat(scale, 0).repeat(scale, 1)
    out = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(out, "PNG")
    return out.getvalue()


def load_model(data):
    """(params, digits) from a saved .npz (all parameters) or .npy (a weight matrix, with zero bias).

    Never unpickles: a model file comes from a browser, so only plain arrays are read."""
    if len(data) > MAX_MODEL_BYTES:
        raise ModelFileError("That file is too large to be a digitviz model (the limit is 2 MB).")
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ModelFileError("That file is not a saved model: save one with 'model (.npz)' or 'weights (.npy)'.") from e
    if isinstance(loaded, np.ndarray):
        return _from_weights(loaded)
    with loaded:
        try:
            arrays = {k: loaded[k] for k in loaded.files}
        except (ValueError, OSError, EOFError) as e:
            raise ModelFileError("That model file is damaged: its arrays cannot be read.") from e
    return _from_npz(arrays)


def _from_weights(w):
    """A bare weight matrix: (784, 1) or (28, 28) for a pair, (784, 10) for all ten digits."""
    w = np.asarray(w)
    if w.shape == (28, 28):
        w = w.reshape(784, 1)
    if w.ndim != 2 or w.shape[0] != 784 or w.shape[1] not in (1, 10):
        raise ModelFileError(f"A weights file must hold a (784, 1), (28, 28) or (784, 10) array, not {w.shape}.")
    params = {"weights": _finite(w, "weights"), "bias": np.zeros(w.shape[1], np.float32)}
    return params, (3, 7) if w.shape[1] == 1 else tuple(range(10))


def _from_npz(arrays):
    names = {"weights", "bias"} | ({"out_weights", "out_bias"} if "out_weights" in arrays else set())
    missing = names - set(arrays)
    if missing:
        raise ModelFileError(f"That model file lacks {', '.join(sorted(missing))}.")
    params = {k: _finite(arrays[k], k) for k in names}
    w, b = params["weights"], params["bias"]
    k = w.shape[1] if w.ndim == 2 else 0
    ok = w.ndim == 2 and w.shape[0] == 784 and b.shape == (k,)
    if "out_weights" in params:
        ok = ok and params["out_weights"].shape == (k, 1) and params["out_bias"].shape == (1,)
    elif ok:
        ok = k in (1, 10)
    if not ok:
        raise ModelFileError("That model file's arrays have the wrong shapes for a digitviz model.")
    return params, _digits(arrays.get("digits"), 10 if k == 10 and "out_weights" not in params else 2)


def _digits(saved, count):
    if saved is None:
        return (3, 7) if count == 2 else tuple(range(10))
    digits = tuple(int(d) for d in np.asarray(saved).ravel())
    if len(digits) != count or len(set(digits)) != count or not all(0 <= d <= 9 for d in digits):
        raise ModelFileError("That model file names digits that don't fit its weights.")
    return digits


def _finite(a, name):
    a = np.asarray(a)
    if a.dtype.kind not in "fiu" or not np.isfinite(a).all():
        raise ModelFileError(f"That model file's {name} are not all finite numbers.")
    return a.astype(np.float32)

