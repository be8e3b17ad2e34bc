"""MNIST digits as the lesson shapes them: (n, 784) floats in 0..1 and (n, 1) targets.

The default source is the copy that ships inside this package, so nothing downloads. The lesson's
own download (fastai's `untar_data(URLs.MNIST_SAMPLE)`) and a folder of the user's own PNGs in the
same `train/3/*.png` layout are one argument away.

The digits are read into NumPy arrays (`digit_arrays`), and `load_digits` hands the engine torch tensors that
share their memory. torch is imported only then: the page draws from the arrays (the baseline, the counts) and
its server never loads torch, which the workers import instead (1.6-1.9 s of a cold start).
"""
import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

BUNDLE = Path(__file__).parent / "data" / "mnist.npz"
# Built by scripts/build_mnist.py from MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0); rebuilding gives these bytes.
BUNDLE_SHA256 = "f4d7530799d60fca2fc3a032b4a8610282627451b64bc91134108b20ddc85c95"
ALL_DIGITS = tuple(range(10))
LESSON_DIGITS = (3, 7)  # the lesson's pair: every page opens with it


class DataError(ValueError):
    """Data that cannot be used as it is; the message names the file or folder and what is wrong."""


@dataclass(frozen=True, eq=False)
class DigitData:
    """Train and validation sets for the chosen digits, as the lesson builds them: torch tensors from
    `load_digits`, NumPy arrays from `digit_arrays` (the same numbers, the same memory)."""
    train_x: object  # (n, 784) float32 in 0..1
    train_y: object  # (n, 1) float32, 1 for the first digit of a pair; (n,) int64 labels for all ten
    valid_x: object
    valid_y: object
    digits: tuple  # (3, 7) for the lesson; ALL_DIGITS for the ten-class mode
    source: str

    @property
    def is_pair(self):
        return len(self.digits) == 2

    def counts(self, split="train"):
        """How many images of each digit a split holds, in `digits` order."""
        y = getattr(self, f"{split}_y")
        if self.is_pair:
            ones = int(y.sum())
            return {self.digits[0]: ones, self.digits[1]: len(y) - ones}
        return {d: int((y == d).sum()) for d in self.digits}


def load_digits(pair: tuple[int, ...] | str = LESSON_DIGITS, source: str | Path = "bundled") -> DigitData:
    """Load two digits (or `pair="all"`, or all ten in order, for all ten) from "bundled", "fastai", or a folder,
    as torch tensors."""
    return as_tensors(digit_arrays(pair, source))


def as_tensors(data):
    """The same DigitData as torch tensors (sharing the arrays' memory); tensors already are returned as they are."""
    import torch
    if isinstance(data.train_x, torch.Tensor):
        return data
    x = (torch.from_numpy(getattr(data, name)) for name in ("train_x", "train_y", "valid_x", "valid_y"))
    return DigitData(*x, digits=data.digits, source=data.source)


def digit_arrays(pair: tuple[int, ...] | str = LESSON_DIGITS, source: str | Path = "bundled") -> DigitData:
    """load_digits' data as NumPy arrays, without importing torch."""
    digits = _check_digits(pair)
    if isinstance(source, str) and source == "bundled":
        images = _bundled_images()
        name = "bundled MNIST"
    elif isinstance(source, str) and source == "fastai":
        path = fastai_sample_path()
        images = _folder_images(path, digits)
        name = f"fastai MNIST_SAMPLE ({path})"
    else:
        images = _folder_images(Path(source), digits)
        name = str(source)
    return _stack(images, digits, name)


def _check_digits(pair):
    if isinstance(pair, str) and pair == "all":
        return ALL_DIGITS
    try:
        digits = tuple(pair)
    except TypeError:
        digits = ()
    if digits == ALL_DIGITS:  # a DigitData's own digits load it again, whichever mode it is in
        return ALL_DIGITS
    ok = len(digits) == 2 and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in digits)
    if not ok or digits[0] == digits[1] or not all(0 <= d <= 9 for d in digits):
        raise ValueError(f"pair must be two different digits 0..9 or 'all', got {pair!r}")
    return tuple(int(d) for d in digits)


def fastai_sample_path(url=None):
    """The lesson's download, cached in fastai's own data folder (~/.fastai/data); needs the network once."""
    from fastai.data.external import URLs, untar_data  # fastai takes seconds to import: only here
    url = url or URLs.MNIST_SAMPLE
    try:
        return Path(untar_data(url))
    except OSError as e:  # urllib's URLError included: no network, or the server refused
        raise DataError(f"could not download {url} with fastai's untar_data ({e}); "
                        "the bundled copy (source='bundled') needs no network") from e


@lru_cache(maxsize=1)
def _bundled_images():
    """{("train"|"valid", digit): (k, 28, 28) uint8}, read once per process and checked against its SHA-256."""
    try:
        raw = BUNDLE.read_bytes()
    except OSError as e:
        raise DataError(f"{BUNDLE}: cannot read the bundled MNIST file ({e.strerror}); reinstall digitviz") from e
    sha = hashlib.sha256(raw).hexdigest()
    if sha != BUNDLE_SHA256:
        raise DataError(f"{BUNDLE} is damaged: its SHA-256 is {sha[:12]}..., expected {BUNDLE_SHA256[:12]}... "
                        "Restore it from git (git checkout -- digitviz/data) or rebuild it with "
                        "scripts/build_mnist.py.")
    with np.load(io.BytesIO(raw)) as z:
        arrays = {k: z[k] for k in z.files}
    return _by_digit(arrays)


def _by_digit(arrays):
    out = {}
    for split in ("train", "valid"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        for d in ALL_DIGITS:
            out[split, d] = x[y == d]
    return out


def _folder_images(root, digits):
    """Read `root/{train,valid}/<digit>/*.png` (sorted by name) into the same layout as the bundle."""
    from PIL import Image, UnidentifiedImageError
    out = {}
    for split in ("train", "valid"):
        for d in digits:
            folder = root / split / str(d)
            files = sorted(folder.glob("*.png")) if folder.is_dir() else []
            if not files:
                raise DataError(f"{folder}: no PNG images; a data folder needs train/<digit>/*.png and "
                                "valid/<digit>/*.png")
            imgs = []
            for f in files:
                try:
                    with Image.open(f) as im:
                        im = im.convert("L")
                        # a user's own images may be any size: show them to the model as MNIST is
                        if im.size != (28, 28):
                            im = im.resize((28, 28), Image.LANCZOS)
                        imgs.append(np.asarray(im, dtype=np.uint8))
                except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as e:
                    raise DataError(f"{f}: not a readable image ({e})") from e
            out[split, d] = np.stack(imgs)
    return out


def _stack(images, digits, name):
    """Concatenate digit by digit: (n, 28, 28) uint8 -> (n, 784) float32 in 0..1, plus targets. (Dividing by
    255 in float32 gives the same bits as torch's `.float() / 255`; tests/unit/test_data.py checks.)"""
    splits = {}
    for split in ("train", "valid"):
        parts = [images[split, d] for d in digits]
        x = np.concatenate(parts).reshape(-1, 28 * 28).astype(np.float32) / np.float32(255)
        if len(digits) == 2:  # the lesson's targets: 1 for a three, 0 for a seven, as a column
            y = np.concatenate([np.ones(len(parts[0]), np.float32), np.zeros(len(parts[1]), np.float32)])[:, None]
        else:
            y = np.concatenate([np.full(len(p), d, dtype=np.int64) for d, p in zip(digits, parts)])
        splits[split] = (x, y)
    return DigitData(*splits["train"], *splits["valid"], digits=digits, source=name)
