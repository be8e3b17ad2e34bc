"""A run's records, settings and weights as files to download, and a saved model read back safely."""
import csv
import io
import json
import math
import struct
import zipfile
import zlib
from dataclasses import asdict

import numpy as np
from PIL import Image
from plotly.colors import sample_colorscale

from digitviz.figures import DIVERGING, tile

MAX_MODEL_BYTES = 2 * 1024 * 1024  # the biggest model here (two layers, 30 units) saves to about 100 kB
# What a model file may claim, checked before anything is read: the two-layer net's (784, 30) weights are the
# biggest array (23,520 numbers, 188 kB as float64); np.savez writes headers of 128 bytes.
ARRAY_NAMES = {"weights", "bias", "out_weights", "out_bias", "digits", "config"}
MAX_ARRAYS = len(ARRAY_NAMES)
MAX_ELEMENTS = 784 * 32
MAX_ITEM_BYTES = {"f": 8, "i": 8, "u": 8, "U": 4 * 4096}  # float64 at most; the settings as one JSON string
MAX_HEADER_BYTES = 4096
MAX_ARRAY_BYTES = MAX_HEADER_BYTES + MAX_ELEMENTS * 8
NPY_MAGIC, ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"
NOT_A_MODEL = "That file is not a saved model: save one with 'model (.npz)' or 'weights (.npy)'."
DAMAGED = "That model file is damaged (cut short, or changed): save the model again."


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

    A model file comes from a browser, so it is read as plain arrays only (never unpickled), and every size
    it claims (the zip's directory, each array's header) is checked before anything is decompressed or
    allocated: any file gets a ModelFileError, or a model, within milliseconds and a few MB of memory."""
    if len(data) > MAX_MODEL_BYTES:
        raise ModelFileError("That file is too large to be a digitviz model (the limit is 2 MB).")
    if data[:6] == NPY_MAGIC:
        return _from_weights(_npy_array(data, "weights"))
    if data[:4] == ZIP_MAGIC:
        return _from_npz(_npz_arrays(data))
    raise ModelFileError(NOT_A_MODEL)


def _npz_arrays(data):
    """The .npz's arrays by name, each checked from the zip's directory and its .npy header before it is read."""
    if _zip_entries(data) > MAX_ARRAYS:
        raise ModelFileError(f"That model file holds too many arrays (a model has at most {MAX_ARRAYS}).")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            _check_members(infos)
            return {info.filename[:-4]: _npz_member(z, info) for info in infos}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, zlib.error) as e:
        raise ModelFileError(DAMAGED) from e


def _zip_entries(data):
    """How many files the zip's end record says it holds (read first: ZipFile would list them all)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))  # the end record, then at most a 64 kB comment
    if end < 0 or len(data) < end + 22:
        raise ModelFileError(DAMAGED)
    return int.from_bytes(data[end + 10:end + 12], "little")  # 0xFFFF (zip64) is far over MAX_ARRAYS too


def _check_members(infos):
    names = [info.filename for info in infos]
    if len(names) != len(set(names)) or not all(n.endswith(".npy") and n[:-4] in ARRAY_NAMES for n in names):
        raise ModelFileError(f"That model file holds arrays other than {', '.join(sorted(ARRAY_NAMES))}.")
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError("That model file is compressed in a way digitviz doesn't read.")
        if info.file_size > MAX_ARRAY_BYTES:
            raise ModelFileError(f"That model file's {info.filename[:-4]} array is too large for a digitviz model.")


def _npz_member(z, info):
    """One member: its header first (a bounded read), then exactly the bytes that header promises."""
    with z.open(info) as f:
        head = f.read(MAX_HEADER_BYTES)
        dtype, shape, offset = _npy_header(head, info.filename[:-4])
        if offset + dtype.itemsize * math.prod(shape) != info.file_size:
            raise ModelFileError(DAMAGED)
        raw = head + f.read(info.file_size - len(head))
        f.read(1)  # reaches the end of the member, where zipfile checks its CRC
    return _npy_array(raw, info.filename[:-4])


def _npy_array(raw, name):
    """A whole .npy in memory as an array, its header checked before the array is made."""
    dtype, shape, offset = _npy_header(raw[:MAX_HEADER_BYTES], name)
    if offset + dtype.itemsize * math.prod(shape) != len(raw):
        raise ModelFileError(DAMAGED)
    return np.frombuffer(raw, dtype, offset=offset).reshape(shape)


def _npy_header(head, name):
    """(dtype, shape, where the data starts) from a .npy header, refusing what no digitviz model holds."""
    f = io.BytesIO(head)
    try:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in read:
            raise ModelFileError(NOT_A_MODEL)
        shape, fortran_order, dtype = read[version](f, max_header_size=MAX_HEADER_BYTES)
    except (ValueError, SyntaxError, TypeError, struct.error) as e:  # a header cut short, or not a header at all
        raise ModelFileError(DAMAGED if head[:6] == NPY_MAGIC else NOT_A_MODEL) from e
    if dtype.hasobject:
        raise ModelFileError(NOT_A_MODEL + " (It holds Python objects, which digitviz never loads.)")
    allowed = "U" if name == "config" else "iu" if name == "digits" else "fiu"
    if dtype.kind not in allowed or dtype.fields is not None or dtype.itemsize > MAX_ITEM_BYTES[dtype.kind]:
        raise ModelFileError(f"That model file's {name} are stored as {dtype}, which is not a digitviz model's type.")
    if fortran_order or len(shape) > 2 or math.prod(shape) > MAX_ELEMENTS:
        raise ModelFileError(f"That model file's {name} array has the wrong shape, {shape}, for a digitviz model.")
    return dtype, shape, f.tell()


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
    digits = tuple(int(d) for d in saved.ravel())  # whole numbers: _npy_header let only integer types through
    if len(digits) != count or len(set(digits)) != count or not all(0 <= d <= 9 for d in digits):
        raise ModelFileError("That model file names digits that don't fit its weights.")
    return digits


def _finite(a, name):
    a = np.asarray(a)
    if a.dtype.kind not in "fiu" or not np.isfinite(a).all():
        raise ModelFileError(f"That model file's {name} are not all finite numbers.")
    return a.astype(np.float32)

