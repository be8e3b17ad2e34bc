"""Build digitviz/data/mnist.npz, the MNIST copy that ships inside the package.

The bundle holds all ten digits as uint8 arrays, split the way fastai's URLs.MNIST splits them:
`train_*` are the 60,000 original training images and `valid_*` the 10,000 original test images.
It can be built from any of three public forms of MNIST:

    python scripts/build_mnist.py --pkl mnist.pkl.gz       # the classic pickled layout
    python scripts/build_mnist.py --idx DIR                # LeCun's four IDX files (.gz or not)
    python scripts/build_mnist.py --png DIR                # fastai URLs.MNIST: training/3/*.png, testing/3/*.png

The output is byte-for-byte reproducible (fixed zip timestamps and attributes), so anyone can rebuild it
from a public source and check its SHA-256 against `digitviz.data.BUNDLE_SHA256`. The compressed bytes
depend on the zlib build: the standard zlib (1.2.13 here) reproduces it; a variant such as zlib-ng writes
the same arrays in different bytes.
"""
import argparse
import gzip
import hashlib
import io
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "digitviz" / "data" / "mnist.npz"


def from_pkl(path):
    """The classic mnist.pkl.gz: train 50k + valid 10k = MNIST's 60k training set; test = its 10k test set."""
    with gzip.open(path) as f:
        (tx, ty), (vx, vy), (sx, sy) = pickle.load(f, encoding="latin1")
    def to_uint8(x):
        return np.rint(np.asarray(x) * 256).astype(np.uint8).reshape(-1, 28, 28)  # stored as k/256

    return dict(train_x=to_uint8(np.concatenate([tx, vx])), train_y=np.concatenate([ty, vy]).astype(np.uint8),
                valid_x=to_uint8(sx), valid_y=np.asarray(sy).astype(np.uint8))


def _read_idx(path):
    """One IDX file (http://yann.lecun.com/exdb/mnist/ format), gzipped or not."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(folder, stem):
    hits = sorted(Path(folder).glob(stem + "*"))
    if not hits:
        raise FileNotFoundError(f"no {stem}* file in {folder}")
    return hits[0]


def from_idx(folder):
    """train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte."""
    def read(stem):
        return _read_idx(_find(folder, stem))

    return dict(train_x=read("train-images"), train_y=read("train-labels"),
                valid_x=read("t10k-images"), valid_y=read("t10k-labels"))


def _png_split(folder):
    xs, ys = [], []
    for digit in range(10):
        for png in sorted((folder / str(digit)).glob("*.png"), key=lambda p: (len(p.stem), p.stem)):
            xs.append(np.asarray(Image.open(png).convert("L")))
            ys.append(digit)
    return np.stack(xs).astype(np.uint8), np.array(ys, np.uint8)


def from_png(folder):
    """fastai's URLs.MNIST folders: training/<digit>/*.png and testing/<digit>/*.png."""
    folder = Path(folder)
    train_x, train_y = _png_split(folder / "training")
    valid_x, valid_y = _png_split(folder / "testing")
    return dict(train_x=train_x, train_y=train_y, valid_x=valid_x, valid_y=valid_y)


def write_bundle(arrays, out=OUT):
    """np.savez_compressed's layout, with fixed timestamps so the same pixels give the same bytes."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system, info.external_attr = 3, 0o644 << 16  # as on Unix, whichever system builds it
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def check(arrays):
    """Refuse to write a bundle that is not shaped like MNIST."""
    for split in ("train", "valid"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) != len(y):
            raise ValueError(f"{split}: expected (n, 28, 28) uint8 images with n labels, got {x.shape} {x.dtype}")
        if y.dtype != np.uint8 or y.ndim != 1 or len(y) == 0 or y.max() > 9:
            raise ValueError(f"{split}: labels must be a non-empty 1-d uint8 array of digits 0..9")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pkl", help="mnist.pkl.gz (train/valid/test pickled as k/256 floats)")
    src.add_argument("--idx", help="folder with MNIST's four IDX files")
    src.add_argument("--png", help="folder with fastai's training/ and testing/ PNG folders")
    p.add_argument("--out", default=str(OUT), help="where to write the bundle (default: %(default)s)")
    args = p.parse_args(argv)
    arrays = from_pkl(args.pkl) if args.pkl else from_idx(args.idx) if args.idx else from_png(args.png)
    check(arrays)
    sha = write_bundle(arrays, args.out)
    counts = {s: len(arrays[f"{s}_y"]) for s in ("train", "valid")}
    print(f"wrote {args.out}: {counts}, sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
