"""scripts/build_mnist.py: each public form of MNIST read back exactly, and the bundle rebuilt byte for byte."""
import gzip
import hashlib
import importlib.util
import pickle
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

import digitviz.data
from tools import ROOT

SCRIPT = ROOT / "scripts" / "build_mnist.py"
SHARED_PKL = ROOT.parent / "shared" / "data" / "mnist.pkl.gz"  # beside the clone, here and in CI


def import_script():
    spec = importlib.util.spec_from_file_location("build_mnist", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_mnist = import_script()


def tiny_mnist(n_train=5, n_valid=3, seed=0):
    """A small bundle-shaped dict of random uint8 images and digit labels."""
    rng = np.random.default_rng(seed)
    return dict(train_x=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                train_y=rng.integers(0, 10, n_train, dtype=np.uint8),
                valid_x=rng.integers(0, 256, (n_valid, 28, 28), dtype=np.uint8),
                valid_y=rng.integers(0, 10, n_valid, dtype=np.uint8))


def assert_same_arrays(got, expected):
    assert sorted(got) == sorted(expected)
    for k in expected:
        assert got[k].dtype == np.uint8, k
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)


# IDX files, as on LeCun's page


def idx_bytes(array, magic):
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_folder(folder, arrays, gz):
    folder.mkdir(parents=True, exist_ok=True)
    names = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
             "valid_x": "t10k-images-idx3-ubyte", "valid_y": "t10k-labels-idx1-ubyte"}
    for key, name in names.items():
        raw = idx_bytes(arrays[key], 0x00000803 if key.endswith("_x") else 0x00000801)
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "plain"])
def test_from_idx_reads_images_and_labels(tmp_path, gz):
    expected = tiny_mnist()
    write_idx_folder(tmp_path, expected, gz)
    assert_same_arrays(build_mnist.from_idx(tmp_path), expected)


def test_from_idx_refuses_non_byte_idx(tmp_path):
    arrays = tiny_mnist()
    write_idx_folder(tmp_path, arrays, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(struct.pack(">I", 0x00000D01) + struct.pack(">I", 0))
    with pytest.raises(ValueError, match="unsigned-byte IDX"):
        build_mnist.from_idx(tmp_path)


def test_from_idx_names_missing_file(tmp_path):
    write_idx_folder(tmp_path, tiny_mnist(), gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels"):
        build_mnist.from_idx(tmp_path)


# PNG folders, as in fastai's URLs.MNIST


def write_png_split(folder, layout, rng):
    """folder/<digit>/<stem>.png for {digit: [stems]}; returns the images and labels in numeric stem order."""
    xs, ys = [], []
    for digit, stems in sorted(layout.items()):
        (folder / str(digit)).mkdir(parents=True)
        pixels = {stem: rng.integers(0, 256, (28, 28), dtype=np.uint8) for stem in stems}
        for stem, p in pixels.items():
            Image.fromarray(p).save(folder / str(digit) / f"{stem}.png")
        for stem in sorted(stems, key=int):
            xs.append(pixels[stem])
            ys.append(digit)
    return np.stack(xs), np.array(ys, np.uint8)


def test_from_png_reads_digits_in_numeric_file_order(tmp_path):
    rng = np.random.default_rng(1)
    train_x, train_y = write_png_split(tmp_path / "training", {0: ["10", "9", "100"], 3: ["2", "1"], 9: ["5"]}, rng)
    valid_x, valid_y = write_png_split(tmp_path / "testing", {7: ["11", "3"], 1: ["0"]}, rng)
    got = build_mnist.from_png(tmp_path)
    assert_same_arrays(got, dict(train_x=train_x, train_y=train_y, valid_x=valid_x, valid_y=valid_y))
    assert got["train_y"].tolist() == [0, 0, 0, 3, 3, 9] and got["valid_y"].tolist() == [1, 7, 7]


# The classic mnist.pkl.gz


def test_from_pkl_round_trips_to_exact_bytes(tmp_path):
    """x stored as k/256 float32 comes back as k for every k in 0..255; train+valid become train, test becomes valid."""
    k = (np.arange(7 * 784) % 256).astype(np.uint8).reshape(7, 784)
    k[3] = 255
    parts = [(k[:3], [1, 2, 3]), (k[3:5], [4, 9]), (k[5:], [0, 7])]
    classic = tuple((x.astype(np.float32) / np.float32(256), np.array(y, np.int64)) for x, y in parts)
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(classic, f, protocol=2)
    got = build_mnist.from_pkl(path)
    assert_same_arrays(got, dict(train_x=k[:5].reshape(-1, 28, 28), train_y=np.array([1, 2, 3, 4, 9], np.uint8),
                                 valid_x=k[5:].reshape(-1, 28, 28), valid_y=np.array([0, 7], np.uint8)))


# Writing and checking the bundle


def test_write_bundle_is_reproducible_and_loads_back(tmp_path):
    arrays = tiny_mnist()
    a, b = tmp_path / "a" / "mnist.npz", tmp_path / "b" / "deeper" / "mnist.npz"
    sha_a, sha_b = build_mnist.write_bundle(arrays, a), build_mnist.write_bundle(arrays, b)
    assert sha_a == sha_b == hashlib.sha256(a.read_bytes()).hexdigest()
    assert a.read_bytes() == b.read_bytes()
    with np.load(a) as z:
        assert sorted(z.files) == ["train_x", "train_y", "valid_x", "valid_y"]
        assert_same_arrays({k: z[k] for k in z.files}, arrays)


def test_write_bundle_changes_with_one_pixel(tmp_path):
    arrays = tiny_mnist()
    sha = build_mnist.write_bundle(arrays, tmp_path / "a.npz")
    arrays["valid_x"][0, 0, 0] ^= 1
    assert build_mnist.write_bundle(arrays, tmp_path / "b.npz") != sha


def test_check_accepts_mnist_shaped_arrays():
    assert build_mnist.check(tiny_mnist()) is None


@pytest.mark.parametrize("key, value, message", [
    ("train_x", np.zeros((5, 28, 28), np.float32), "uint8"),
    ("train_x", np.zeros((5, 784), np.uint8), "28, 28"),
    ("valid_x", np.zeros((3, 28, 27), np.uint8), "28, 28"),
    ("valid_x", np.zeros((4, 28, 28), np.uint8), "n labels"),
    ("train_y", np.array([0, 1, 2, 3, 10], np.uint8), "0..9"),
    ("valid_y", np.array([255, 0, 0], np.uint8), "0..9"),
])
def test_check_refuses_what_is_not_mnist(key, value, message):
    arrays = tiny_mnist()
    arrays[key] = value
    with pytest.raises(ValueError, match=message) as err:
        build_mnist.check(arrays)
    assert str(err.value).startswith(key.split("_")[0])


# The command line


def test_main_builds_from_idx(tmp_path, capsys):
    arrays = tiny_mnist()
    write_idx_folder(tmp_path / "idx", arrays, gz=True)
    out = tmp_path / "out" / "mnist.npz"
    assert build_mnist.main(["--idx", str(tmp_path / "idx"), "--out", str(out)]) == 0
    with np.load(out) as z:
        assert_same_arrays({k: z[k] for k in z.files}, arrays)
    printed = capsys.readouterr().out
    assert str(out) in printed and "'train': 5, 'valid': 3" in printed
    assert hashlib.sha256(out.read_bytes()).hexdigest() in printed


def test_main_refuses_bad_labels_and_writes_nothing(tmp_path):
    arrays = tiny_mnist()
    arrays["valid_y"][0] = 12
    write_idx_folder(tmp_path / "idx", arrays, gz=False)
    out = tmp_path / "out.npz"
    with pytest.raises(ValueError, match="0..9"):
        build_mnist.main(["--idx", str(tmp_path / "idx"), "--out", str(out)])
    assert not out.exists()


def test_script_without_arguments_prints_usage_and_fails():
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "usage:" in run.stderr and "--pkl" in run.stderr


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_PKL.exists(), reason=f"{SHARED_PKL} is absent: the public MNIST pickle to rebuild from")
def test_rebuild_from_public_pickle_gives_the_bundled_bytes(tmp_path, capsys):
    """Anyone can check the shipped bundle: rebuilding it from mnist.pkl.gz gives BUNDLE_SHA256."""
    out = tmp_path / "mnist.npz"
    assert build_mnist.main(["--pkl", str(SHARED_PKL), "--out", str(out)]) == 0
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert sha == digitviz.data.BUNDLE_SHA256, f"rebuilt bundle differs (zlib {zlib.ZLIB_RUNTIME_VERSION})"
    assert "'train': 60000, 'valid': 10000" in capsys.readouterr().out
