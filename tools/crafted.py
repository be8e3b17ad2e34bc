"""Model files crafted to attack the loader (truncated, zip bombs, huge headers, odd types), shared by the unit
tests of digitviz.export and the fault tests that upload them through the page. Each maps a name to (the file's
bytes, or a function making them, and words its message must contain)."""
import io
import zipfile
from functools import partial

import numpy as np

from digitviz import TrainConfig
from digitviz.export import model_npz


def npy(array, **kw):
    """An array as .npy bytes."""
    buf = io.BytesIO()
    np.save(buf, array, **kw)
    return buf.getvalue()


def zipped(members, compression=zipfile.ZIP_STORED):
    """A zip holding `members` ({name: bytes}), as np.savez lays one out."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, content in members.items():
            z.writestr(name, content)
    return buf.getvalue()


def npy_header(descr, shape, version=(1, 0)):
    """A .npy header claiming `shape` of `descr`, with no data after it."""
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    write = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    write(buf, header)
    return buf.getvalue()


def zeros_bomb(claimed_shape, size):
    """A deflated .npz member: a header claiming `claimed_shape` float64, then `size` bytes of zeros."""
    head = npy_header("<f8", claimed_shape)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("weights.npy", "w", force_zip64=True) as f:
        f.write(head)
        zeros = bytes(min(size, 1 << 20))
        for _ in range(size // len(zeros)):
            f.write(zeros)
    return buf.getvalue()


GOOD = model_npz({"weights": np.ones((784, 1), np.float32), "bias": np.zeros(1, np.float32)}, TrainConfig(), (3, 7))
HUGE_V2_HEADER = b"\x93NUMPY\x02\x00" + (0xFFFFFFFF).to_bytes(4, "little") + b"{'descr': '<f4'"
CRAFTED = {
    "truncated npz": (GOOD[:len(GOOD) // 2], "damaged"),
    "truncated npz, end record kept": (GOOD[:200] + GOOD[-22:], "damaged"),
    "truncated npy": (npy(np.ones((784, 1)))[:1000], "damaged"),
    "zip bomb, honest size": (partial(zeros_bomb, (784, 1), 300 << 20), "too large"),
    "zip bomb, header claims 2 GB": (partial(zeros_bomb, (16384, 16384), 100_000), "wrong shape"),
    "npy claims a huge array": (npy_header("<f8", (10**9, 10**9)), "wrong shape"),
    "npy claims a 4 GB header": (HUGE_V2_HEADER, "damaged"),
    "npz member claims a huge array": (zipped({"weights.npy": npy_header("<f4", (784, 10**8))}), "wrong shape"),
    "non-numeric digits": (zipped({"weights.npy": npy(np.ones((784, 1))), "bias.npy": npy(np.zeros(1)),
                                   "digits.npy": npy(np.array(["a", "b"]))}), "digits are stored as <U1"),
    "non-finite digits": (zipped({"weights.npy": npy(np.ones((784, 1))), "bias.npy": npy(np.zeros(1)),
                                  "digits.npy": npy(np.array([np.nan, np.inf]))}), "digits are stored as float64"),
    "huge digits": (zipped({"weights.npy": npy(np.ones((784, 1))), "bias.npy": npy(np.zeros(1)),
                            "digits.npy": npy(np.array([2**62, 7]))}), "digits that don't fit"),
    "non-finite weights": (zipped({"weights.npy": npy(np.full((784, 1), np.inf)), "bias.npy": npy(np.zeros(1))}),
                           "not all finite"),
    "complex weights": (npy(np.ones((784, 1), np.complex128)), "stored as complex128"),
    "text weights": (npy(np.full((784, 1), "1")), "stored as <U1"),
    "structured weights": (npy(np.zeros(784, dtype=[("a", "<f4")])), "which is not a digitviz model's type"),
    "pickled object array in an npz": (zipped({"weights.npy": npy(np.array([{}], dtype=object), allow_pickle=True),
                                               "bias.npy": npy(np.zeros(1))}), "Python objects"),
    "too many arrays": (zipped({f"a{i}.npy": b"" for i in range(1000)}), "too many arrays"),
    "an unknown array": (zipped({"weights.npy": npy(np.ones((784, 1))), "evil.npy": npy(np.zeros(1))}),
                         "arrays other than"),
    "bzip2 compression": (zipped({"weights.npy": npy(np.ones((784, 1)))}, zipfile.ZIP_BZIP2), "compressed in a way"),
    "a zip of something else": (zipped({"readme.txt": b"hello"}), "arrays other than"),
}
