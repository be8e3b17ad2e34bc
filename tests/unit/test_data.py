"""digitviz.data and digitviz.baselines against reference values: MNIST's own counts, the bundle's raw
pixels, the fastai book's baseline accuracies, and small folders and tarballs written here."""
import shutil
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

import digitviz.data
from digitviz import baselines
from digitviz.baselines import mnist_distance, pixel_similarity
from digitviz.data import DataError, load_digits

# MNIST's digit counts, 0..9: the 60,000 training images and the 10,000 test images.
MNIST_TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)


@pytest.fixture(scope="module")
def npz():
    """The bundle's raw uint8 arrays, read with numpy alone."""
    with np.load(digitviz.data.BUNDLE) as z:
        return {k: z[k] for k in z.files}


def raw_digits(npz, split, digits):
    """(n, 784) float32 k/255 for the given digits in the bundle's order, one digit after another."""
    x, y = npz[f"{split}_x"], npz[f"{split}_y"]
    k = np.concatenate([x[y == d] for d in digits]).reshape(-1, 784)
    return torch.from_numpy(k.astype(np.float32) / np.float32(255))


# Bundled data


def test_lesson_shapes_and_ranges(data):
    for x, y in ((data.train_x, data.train_y), (data.valid_x, data.valid_y)):
        assert x.dtype == torch.float32 and x.shape == (len(y), 784)
        assert y.dtype == torch.float32 and y.shape == (len(x), 1)
        assert x.min() == 0 and x.max() == 1
    assert data.digits == (3, 7) and data.is_pair and data.source == "bundled MNIST"


def test_lesson_counts_match_fastai_mnist_sample(data):
    assert data.counts("train") == {3: 6131, 7: 6265}
    assert data.counts("valid") == {3: 1010, 7: 1028}
    assert data.train_x.shape == (12396, 784) and data.valid_x.shape == (2038, 784)


def test_lesson_targets_are_one_for_threes_then_zero_for_sevens(data):
    expected = torch.cat([torch.ones(6131), torch.zeros(6265)]).unsqueeze(1)
    assert torch.equal(data.train_y, expected)
    assert torch.equal(data.valid_y, torch.cat([torch.ones(1010), torch.zeros(1028)]).unsqueeze(1))


def test_lesson_pixels_are_the_bundles_bytes_over_255(data, npz):
    assert torch.equal(data.train_x, raw_digits(npz, "train", (3, 7)))
    assert torch.equal(data.valid_x, raw_digits(npz, "valid", (3, 7)))
    k = data.valid_x * 255
    assert torch.equal(k, k.round())  # every value is exactly k/255


@pytest.mark.parametrize("pair", [(3, 7), "all"])
def test_the_arrays_are_the_tensors_numbers_and_memory(pair, npz):
    """digit_arrays (what the page reads, without torch) against torch's own `uint8 tensor.float() / 255`, to the
    bit; load_digits' tensors are those arrays, not copies."""
    arrays, tensors = digitviz.data.digit_arrays(pair), load_digits(pair)
    digits = arrays.digits
    for split in ("train", "valid"):
        raw = np.concatenate([npz[f"{split}_x"][npz[f"{split}_y"] == d] for d in digits])
        reference = torch.from_numpy(raw).view(-1, 784).float() / 255
        assert np.array_equal(getattr(arrays, f"{split}_x").view(np.uint32), reference.numpy().view(np.uint32))
        for name in ("x", "y"):
            a, t = getattr(arrays, f"{split}_{name}"), getattr(tensors, f"{split}_{name}")
            assert isinstance(a, np.ndarray) and isinstance(t, torch.Tensor) and np.array_equal(a, t.numpy())
    assert tensors.train_y.dtype == (torch.float32 if len(digits) == 2 else torch.int64)
    assert digitviz.data.as_tensors(arrays).train_x.numpy().base is not None  # a view of the arrays' memory


def test_other_pair_targets_first_digit(npz):
    d = load_digits(pair=(1, 8))
    assert d.digits == (1, 8)
    assert d.counts("train") == {1: MNIST_TRAIN_COUNTS[1], 8: MNIST_TRAIN_COUNTS[8]}
    assert d.counts("valid") == {1: MNIST_TEST_COUNTS[1], 8: MNIST_TEST_COUNTS[8]}
    assert torch.equal(d.valid_y.view(-1)[:1135], torch.ones(1135))
    assert torch.equal(d.valid_x, raw_digits(npz, "valid", (1, 8)))


def test_reversed_pair_targets_sevens():
    d = load_digits(pair=(7, 3))
    assert d.counts("train") == {7: 6265, 3: 6131}
    assert d.train_y[:6265].eq(1).all() and d.train_y[6265:].eq(0).all()


@pytest.mark.slow
def test_all_digits_gives_full_mnist_with_integer_labels(npz):
    d = load_digits(pair="all")
    assert not d.is_pair and d.digits == tuple(range(10))
    assert d.train_x.shape == (60000, 784) and d.valid_x.shape == (10000, 784)
    assert d.train_y.dtype == torch.int64 and d.train_y.shape == (60000,)
    assert d.counts("train") == dict(enumerate(MNIST_TRAIN_COUNTS))
    assert d.counts("valid") == dict(enumerate(MNIST_TEST_COUNTS))
    assert torch.equal(d.valid_y, torch.from_numpy(np.sort(npz["valid_y"], kind="stable")).long())
    assert torch.equal(d.valid_x, raw_digits(npz, "valid", range(10)))
    again = load_digits(d.digits)  # a DigitData's own digits load it again
    assert again.digits == d.digits and torch.equal(again.train_y, d.train_y)


@pytest.mark.parametrize("pair", [(0, 9), (9, 0), (9, 4), (0, 1)])
def test_pairs_with_0_and_9_load(pair):
    """0 and 9 are digits too: the range check's ends are inclusive."""
    d = load_digits(pair=pair)
    assert d.digits == pair
    assert d.counts("valid") == {pair[0]: MNIST_TEST_COUNTS[pair[0]], pair[1]: MNIST_TEST_COUNTS[pair[1]]}


@pytest.mark.parametrize("pair", [(3, 3), (3,), (3, 11), "x", (3, 7, 8), (-1, 3), 37, None, (3.0, 7), (True, 7)])
def test_bad_pair_is_refused(pair):
    with pytest.raises(ValueError, match="pair"):
        load_digits(pair=pair)


# A damaged bundle


@pytest.fixture
def fresh_bundle_cache():
    """The bundle is read once per process: forget it here, and again after, so later tests read the real one."""
    digitviz.data._bundled_images.cache_clear()
    yield
    digitviz.data._bundled_images.cache_clear()


def truncated(raw):
    return raw[: len(raw) // 2]


def one_byte_flipped(raw):
    i = len(raw) // 2
    return raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:]


@pytest.mark.parametrize("damage", [truncated, one_byte_flipped])
def test_damaged_bundle_says_damaged_and_names_file(damage, tmp_path, monkeypatch, fresh_bundle_cache):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(damage(digitviz.data.BUNDLE.read_bytes()))
    monkeypatch.setattr(digitviz.data, "BUNDLE", bad)
    with pytest.raises(DataError, match="damaged") as err:
        load_digits()
    assert str(bad) in str(err.value)


def test_missing_bundle_names_file(tmp_path, monkeypatch, fresh_bundle_cache):
    gone = tmp_path / "nowhere" / "mnist.npz"
    monkeypatch.setattr(digitviz.data, "BUNDLE", gone)
    with pytest.raises(DataError) as err:
        load_digits()
    assert str(gone) in str(err.value)


def test_real_bundle_loads_after_damage_tests(fresh_bundle_cache):
    assert load_digits().counts("valid") == {3: 1010, 7: 1028}


# A folder of the user's own PNGs

NAMES = ("b.png", "10.png", "a.png", "9.png")  # sorted by name: 10, 9, a, b


def write_digit_folder(root, digits=(3, 7), per_folder=NAMES, seed=0):
    """root/{train,valid}/<digit>/*.png of random 28x28 pixels; returns {(split, digit): (k, 28, 28)} in name order."""
    rng = np.random.default_rng(seed)
    expected = {}
    for split in ("train", "valid"):
        for d in digits:
            folder = root / split / str(d)
            folder.mkdir(parents=True)
            pixels = {name: rng.integers(0, 256, (28, 28), dtype=np.uint8) for name in per_folder}
            for name, p in pixels.items():
                Image.fromarray(p).save(folder / name)
            expected[split, d] = np.stack([pixels[n] for n in sorted(per_folder)])
    return expected


def expected_x(expected, split, digits=(3, 7)):
    k = np.concatenate([expected[split, d] for d in digits]).reshape(-1, 784)
    return torch.from_numpy(k).float() / 255


@pytest.fixture
def digit_folder(tmp_path):
    root = tmp_path / "digits"
    return root, write_digit_folder(root)


def test_folder_pixels_in_sorted_name_order_threes_first(digit_folder):
    root, expected = digit_folder
    d = load_digits(source=root)
    assert torch.equal(d.train_x, expected_x(expected, "train"))
    assert torch.equal(d.valid_x, expected_x(expected, "valid"))
    assert torch.equal(d.train_y.view(-1), torch.tensor([1.0] * 4 + [0.0] * 4))
    assert d.counts("valid") == {3: 4, 7: 4} and d.source == str(root)


def test_folder_given_as_string(digit_folder):
    root, expected = digit_folder
    assert torch.equal(load_digits(source=str(root)).valid_x, expected_x(expected, "valid"))


def test_folder_image_of_other_size_is_resized_to_28(digit_folder):
    root, _ = digit_folder
    big = np.random.default_rng(1).integers(0, 256, (56, 40), dtype=np.uint8)
    Image.fromarray(big).save(root / "train" / "3" / "0.png")  # sorts first
    Image.fromarray(np.full((70, 70), 200, np.uint8)).save(root / "train" / "3" / "1.png")
    d = load_digits(source=root)
    reference = np.array(Image.fromarray(big).resize((28, 28), Image.LANCZOS))
    assert d.train_x.shape == (10, 784)
    assert torch.equal(d.train_x[0], torch.from_numpy(reference.reshape(784)).float() / 255)
    assert torch.equal(d.train_x[1], torch.full((784,), 200 / 255))


def test_folder_missing_digit_names_folder(digit_folder):
    root, _ = digit_folder
    shutil.rmtree(root / "valid" / "7")
    with pytest.raises(DataError) as err:
        load_digits(source=root)
    assert str(root / "valid" / "7") in str(err.value)


@pytest.mark.parametrize("spoil", [lambda png: b"this is not a png", lambda png: png[: len(png) // 2]],
                         ids=["text", "truncated"])
def test_folder_corrupt_png_names_file(digit_folder, spoil):
    root, _ = digit_folder
    bad = root / "valid" / "3" / "a.png"
    bad.write_bytes(spoil(bad.read_bytes()))
    with pytest.raises(DataError, match="not a readable image") as err:
        load_digits(source=root)
    assert str(bad) in str(err.value)


# The lesson's own download, through fastai's real untar_data


@pytest.fixture
def fastai_home(tmp_path, monkeypatch):
    """Point fastai's config and data folders at tmp_path; fastai caches its config, so re-read it on both sides."""
    from fastai.data import external
    home = tmp_path / "fastai_home"
    monkeypatch.setenv("FASTAI_HOME", str(home))
    external.fastai_cfg.cache_clear()
    yield home
    external.fastai_cfg.cache_clear()


@pytest.fixture
def sample_tarball(tmp_path):
    """A tiny mnist_sample.tgz laid out as fastai's URLs.MNIST_SAMPLE; returns its file:// URL and the pixels."""
    src = tmp_path / "src"
    expected = write_digit_folder(src / "mnist_sample", per_folder=("7.png", "12.png"), seed=2)
    tarball = tmp_path / "mnist_sample.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(src / "mnist_sample", arcname="mnist_sample")
    return tarball, "file://" + str(tarball), expected


@pytest.mark.slow
def test_fastai_sample_path_downloads_and_extracts_into_fastai_home(fastai_home, sample_tarball):
    tarball, url, _ = sample_tarball
    path = digitviz.data.fastai_sample_path(url)
    assert path == fastai_home / "data" / "mnist_sample"
    assert (fastai_home / "archive" / "mnist_sample.tgz").read_bytes() == tarball.read_bytes()
    assert sorted(p.name for p in (path / "valid" / "7").iterdir()) == ["12.png", "7.png"]
    tarball.unlink()
    assert digitviz.data.fastai_sample_path(url) == path  # downloaded once, then read from fastai's folder


def test_load_digits_fastai_runs_untar_data_end_to_end(fastai_home, sample_tarball, monkeypatch):
    from fastai.data.external import URLs
    _, url, expected = sample_tarball
    monkeypatch.setattr(URLs, "MNIST_SAMPLE", url)
    d = load_digits(source="fastai")
    assert torch.equal(d.train_x, expected_x(expected, "train"))
    assert torch.equal(d.valid_x, expected_x(expected, "valid"))
    assert torch.equal(d.valid_y.view(-1), torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert d.source == f"fastai MNIST_SAMPLE ({fastai_home / 'data' / 'mnist_sample'})"


# The mean-image baseline


@pytest.fixture(scope="module")
def baseline(data):
    return pixel_similarity(data)


def numpy_baseline_correct(npz, norm):
    """The lesson's baseline in float64 numpy from the raw bundle: correct count on valid 3s and on valid 7s."""
    x, y = npz["train_x"] / 255, npz["train_y"]
    mean3, mean7 = x[y == 3].mean(0), x[y == 7].mean(0)
    dist = {"l1": lambda a, b: np.abs(a - b).mean((-1, -2)),
            "l2": lambda a, b: np.sqrt(((a - b) ** 2).mean((-1, -2)))}[norm]
    vx, vy = npz["valid_x"] / 255, npz["valid_y"]
    threes, sevens = vx[vy == 3], vx[vy == 7]
    right3 = int((dist(threes, mean3) < dist(threes, mean7)).sum())
    return right3, int((dist(sevens, mean3) >= dist(sevens, mean7)).sum())


def test_l1_baseline_matches_the_book(baseline):
    """Chapter 4: accuracy_3s 0.9168, accuracy_7s 0.9854."""
    assert baseline.digits == (3, 7) and baseline.l1.norm == "l1"
    assert round(baseline.l1.first, 4) == 0.9168
    assert round(baseline.l1.second, 4) == 0.9854


def test_overall_is_count_weighted_mean(baseline):
    for acc in (baseline.l1, baseline.l2):
        assert acc.overall == pytest.approx((acc.first * 1010 + acc.second * 1028) / 2038, abs=1e-6)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_baseline_matches_numpy_reference(baseline, npz, norm):
    acc = getattr(baseline, norm)
    assert (round(acc.first * 1010), round(acc.second * 1028)) == numpy_baseline_correct(npz, norm)


def test_l2_baseline_differs_from_l1(baseline):
    assert baseline.l2.norm == "l2"
    assert (baseline.l2.first, baseline.l2.second) != (baseline.l1.first, baseline.l1.second)


def test_mean_images_are_the_train_means(baseline, npz):
    x, y = npz["train_x"] / 255, npz["train_y"]
    assert baseline.mean3.shape == (28, 28) and baseline.mean7.shape == (28, 28)
    np.testing.assert_allclose(baseline.mean3, x[y == 3].mean(0), atol=1e-7)  # float64 sums: to float32's bit
    np.testing.assert_allclose(baseline.mean7, x[y == 7].mean(0), atol=1e-7)


def test_mnist_distance_by_hand():
    a = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]]])  # (2, 2, 2): the lesson's tensors
    b = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    # differences: [[0, 1], [2, 2]] and [[1, 1], [1, 0]]
    np.testing.assert_allclose(mnist_distance(a, b), [5 / 4, 3 / 4])
    np.testing.assert_allclose(mnist_distance(a.numpy(), b.numpy(), "l2"), [(9 / 4) ** 0.5, (3 / 4) ** 0.5])
    assert mnist_distance(a[0], b).shape == ()


def test_mnist_distance_bad_norm():
    with pytest.raises(ValueError, match="norm"):
        mnist_distance(torch.zeros(28, 28), torch.zeros(28, 28), "l3")


def test_baseline_on_hand_built_data():
    """Two bright and two dark training images; a validation image is called by its brightness."""
    def imgs(*levels):
        return torch.stack([torch.full((784,), v) for v in levels])
    d = digitviz.data.DigitData(torch.cat([imgs(1.0, 0.8), imgs(0.0, 0.2)]), torch.tensor([[1.0], [1.0], [0.0], [0.0]]),
                       imgs(0.9, 0.1, 0.0, 0.7), torch.tensor([[1.0], [1.0], [0.0], [0.0]]),
                       digits=(3, 7), source="hand")
    b = pixel_similarity(d)
    np.testing.assert_allclose(b.mean3, np.full((28, 28), 0.9), rtol=1e-7)
    np.testing.assert_allclose(b.mean7, np.full((28, 28), 0.1), rtol=1e-7)
    assert baselines.is_first(d.valid_x, b.mean3, b.mean7).tolist() == [True, False, False, True]
    assert (b.l1.first, b.l1.second, b.l1.overall) == (0.5, 0.5, 0.5)


@pytest.mark.slow
def test_ten_digit_baseline_is_the_nearest_mean_image(npz):
    """All ten digits: call each validation image by its nearest mean image, checked with numpy in float64."""
    b = pixel_similarity(load_digits(pair="all"))
    x, y = npz["train_x"].astype(np.float64) / 255, npz["train_y"]
    means = np.stack([x[y == d].mean(0) for d in range(10)])
    vx, vy = npz["valid_x"].astype(np.float64) / 255, npz["valid_y"]
    dist = np.stack([np.abs(vx - m).mean((1, 2)) for m in means], axis=1)
    correct = dist.argmin(1) == vy
    assert b.means.shape == (10, 28, 28) and list(b.l1.per_digit) == list(range(10))
    assert b.l1.overall == pytest.approx(correct.mean(), abs=2e-4)
    assert b.l1.per_digit[1] == pytest.approx(correct[vy == 1].mean(), abs=2e-3)
    assert 0.5 < b.l1.overall < 0.9 and b.l2.overall != b.l1.overall
