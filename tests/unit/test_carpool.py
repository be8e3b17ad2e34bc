"""Carpools against their reference, the run trained alone: the same bits, whoever else is in the block."""
import dataclasses

import numba.core.caching
import numpy as np
import pytest
import torch
from numba.core.errors import TypingError

from digitviz import TrainConfig, losses, train
from digitviz.blocks import carpool_key
from digitviz.carpool import Carpool, epoch_order, signed_targets, train_carpool
from digitviz.data import load_digits
from digitviz.engine import ScratchTrainer, validate_epoch
from digitviz.kernel import LOSS_CODES, _jit, backward, forward, head_out, loss_grads, scores
from digitviz.losses import LOSS_FUNCS, accuracy, loss_grad
from digitviz.models import initial_params

SCALARS = ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "diverged")


def assert_same(ours, alone):
    """Bitwise the same records, all but the wall-clock seconds."""
    assert len(ours) == len(alone)
    for a, b in zip(ours, alone):
        assert [getattr(a, f) for f in SCALARS] == [getattr(b, f) for f in SCALARS]
        for k in b.params:
            assert a.params[k].tobytes() == b.params[k].tobytes()


def companions(config, count, seed=0):
    """Lesson-style runs beside `config`: their own seeds, learning rates and init stds."""
    rng = np.random.default_rng(seed)
    return [dataclasses.replace(config, seed=config.seed if config.shuffle else int(rng.integers(1000)),
                                lr=float(rng.choice([0.1, 0.5, 1.0, 2.0])), init_std=float(rng.choice([0.1, 1.0])))
            for _ in range(count)]


def records_of(pairs, index):
    return [record for i, record in pairs if i == index]


@pytest.mark.parametrize("size", [1, 3, 16, 100])
@pytest.mark.parametrize("loss", ["mnist_loss", "bce", "first_attempt"])
def test_a_run_in_a_block_equals_it_alone(data, loss, size):
    config = TrainConfig(lr=0.5, epochs=2, seed=7, init_std=0.5, loss=loss)
    configs = companions(config, size - 1)
    configs.insert(size // 2, config)  # first, in a pair, or the odd one out, as the size falls
    pairs = list(train_carpool(configs, data))
    assert_same(records_of(pairs, size // 2), list(train(config, data)))
    assert_same(records_of(pairs, 0), list(train(configs[0], data)))


@pytest.mark.parametrize("size", [3, 16])
def test_shuffled_runs_of_one_seed_share_a_block(data, size):
    config = TrainConfig(lr=0.5, epochs=2, seed=5, shuffle=True, batch_size=64)
    configs = [config] + companions(config, size - 1)
    pairs = list(train_carpool(configs, data))
    assert_same(records_of(pairs, 0), list(train(config, data)))
    assert_same(records_of(pairs, size - 1), list(train(configs[-1], data)))


def test_a_run_that_joins_late_and_one_that_stops_early(data):
    early, late = TrainConfig(lr=1.0, epochs=4, seed=1), TrainConfig(lr=0.1, epochs=2, seed=2)
    pool = Carpool(data)
    a = pool.join(early)
    firsts = [record for _, record in pool.step() + pool.step()]
    b = pool.join(late)
    seconds = pool.step()
    pool.leave(a)  # its student pressed Stop after 3 of its 4 epochs
    lasts = pool.step()
    assert [run for run, _ in seconds] == [a, b] and [run for run, _ in lasts] == [b] and len(pool) == 0
    assert_same(firsts + [seconds[0][1]], list(train(early, data))[:3])
    assert_same([seconds[1][1], lasts[0][1]], list(train(late, data)))


@pytest.mark.parametrize("loss, words", [("mnist_loss", "gradient is zero"), ("bce", "exploded")])
def test_a_run_that_diverges_leaves_alone(data, loss, words):
    wild, calm = TrainConfig(lr=1000, epochs=30, loss=loss), TrainConfig(lr=1.0, epochs=30, seed=3, loss=loss)
    pairs = list(train_carpool([calm, wild, calm], data))
    wild_records = records_of(pairs, 1)
    assert len(wild_records) < 30 and words in wild_records[-1].diverged
    assert_same(wild_records, list(train(wild, data)))
    assert_same(records_of(pairs, 2), list(train(calm, data)))


def test_a_resumed_run_in_a_block_equals_one_uninterrupted_run(data):
    config = TrainConfig(lr=0.5, epochs=4, seed=9)
    whole = list(train(config, data))
    rest = dataclasses.replace(config, epochs=2)
    pairs = list(train_carpool([TrainConfig(lr=2.0, epochs=3), rest], data, starts=[None, whole[1]]))
    assert_same(records_of(pairs, 1), whole[2:])


def test_a_shuffled_run_joins_only_at_its_own_epoch(data):
    config = TrainConfig(lr=0.5, epochs=4, seed=9, shuffle=True)
    whole = list(train(config, data))
    rest = dataclasses.replace(config, epochs=2)
    pool = Carpool(data)
    pool.join(rest, start=whole[1])
    assert not pool.can_join(rest)  # from epoch 1 it would need another batch order than epoch 3's
    pool.join(dataclasses.replace(rest, lr=2.0), start=whole[1])
    assert_same([r for _, r in pool.step()[:1] + pool.step()[:1]], whole[2:])


@pytest.mark.parametrize("change", [dict(loss="bce"), dict(batch_size=64), dict(shuffle=True),
                                    dict(model="two_layer"), dict(model="fastai")])
def test_runs_that_see_other_batches_never_share_a_block(data, change):
    config = TrainConfig(epochs=1)
    other = dataclasses.replace(config, **change)
    assert carpool_key(other) != carpool_key(config)
    pool = Carpool(data)
    pool.join(config)
    assert not pool.can_join(other)
    with pytest.raises(ValueError, match="can't share the block|has no block form"):
        pool.join(other)


def test_shuffled_runs_share_only_with_their_seed():
    one = TrainConfig(shuffle=True, seed=1)
    assert carpool_key(one) != carpool_key(dataclasses.replace(one, seed=2))
    assert carpool_key(one) == carpool_key(dataclasses.replace(one, lr=0.1, init_std=0.1, epochs=5))
    assert carpool_key(TrainConfig(seed=1)) == carpool_key(TrainConfig(seed=2))  # no shuffle: the seed only inits
    assert carpool_key(TrainConfig(model="fastai")) is None


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 - 1])
@pytest.mark.parametrize("epoch", [1, 2, 300])
@pytest.mark.parametrize("n", [1, 2, 3, 17, 12396, 60000])
def test_an_epochs_order_is_torchs_randperm_from_its_seed(seed, epoch, n):
    """Made without torch, the same order torch.randperm gives (the seed's low 32 bits, as torch's generator keeps
    them: seed * MAX_EPOCHS + epoch runs past 2**32)."""
    config = TrainConfig(shuffle=True, seed=seed)
    torchs = torch.randperm(n, generator=torch.Generator().manual_seed(config.shuffle_seed(epoch)))
    order = epoch_order(config, epoch, n)
    assert order.dtype == np.int64 and np.array_equal(order, torchs.numpy())
    assert epoch_order(dataclasses.replace(config, shuffle=False), epoch, n) is None


@pytest.mark.parametrize("size", [1, 5, 256, 12396])
def test_signed_targets_are_the_losses_own(data, size):
    y = data.train_y[:, 0]
    assert np.array_equal(signed_targets(y.numpy(), size), losses.signed_targets(y, size).numpy())


def lane_logits(x, w, b):
    """The kernel's logits as its docstring defines them, in numpy's float32: 16 lanes of pixels in order, the
    lanes added l + 8, l + 4, l + 2, l + 1, then the bias."""
    products = (x * w).reshape(len(x), 49, 16)  # a float32 product is the same bits in any order
    lanes = np.zeros((len(x), 16), np.float32)
    for j in range(49):
        lanes = lanes + products[:, j]
    for width in (8, 4, 2, 1):
        lanes = lanes[:, :width] + lanes[:, width:2 * width]
    return lanes[:, 0] + b


def test_kernel_logits_are_summed_in_the_documented_order():
    """Bitwise the 16-lane sum, for rows taken four at a time and the odd ones alone (303 = 75 x 4 + 3)."""
    g = torch.Generator().manual_seed(1)
    x, W = torch.rand(303, 784, generator=g).numpy(), torch.randn(3, 784, generator=g).numpy()
    b = np.float32([0.5, -1, 2])
    Z = np.empty((3, 303), np.float32)
    forward(x, 0, 303, W, b, Z, 0)
    for k in range(3):
        assert Z[k].tobytes() == lane_logits(x, W[k], b[k]).tobytes()
    assert not np.array_equal(Z[0], (x.astype(np.float64) @ W[0] + b[0]).astype(np.float32))  # the test can tell


def test_each_gradient_row_is_its_run_alone_whatever_pass_takes_it():
    """Seven runs: four in a pass, then two, then one; each row the same bits as that run's gradient alone."""
    g = torch.Generator().manual_seed(2)
    x, dZ = torch.rand(37, 784, generator=g).numpy(), torch.randn(7, 37, generator=g).numpy()
    G, gb = np.empty((7, 784), np.float32), np.empty(7, np.float32)
    backward(x, 0, 37, dZ, G, gb)
    for k in range(7):
        alone, alone_b = np.empty((1, 784), np.float32), np.empty(1, np.float32)
        backward(x, 0, 37, dZ[k:k + 1].copy(), alone, alone_b)
        assert G[k].tobytes() == alone[0].tobytes() and gb[k] == alone_b[0], k


def test_the_kernels_logits_refuse_images_not_laid_out_as_rows():
    """The logits' loop steps through memory itself: a column-major array must fail to compile, not read wrong."""
    x = np.asfortranarray(np.ones((8, 784), np.float32))
    with pytest.raises(TypingError, match="C-contiguous"):
        forward(x, 0, 8, np.ones((1, 784), np.float32), np.zeros(1, np.float32), np.empty((1, 8), np.float32), 0)


def test_kernel_matches_torchs_products_and_ignores_its_companions():
    """Logits and gradients as torch's matrix products give them (to float32 rounding), and row 3 of a block
    the same bits as the run alone, which a matrix library does not promise. Images 40:300 begin mid-chunk."""
    g = torch.Generator().manual_seed(0)
    x, W, b = torch.rand(300, 784, generator=g), torch.randn(101, 784, generator=g), torch.randn(101, generator=g)
    Z, Z3 = np.empty((101, 260), np.float32), np.empty((1, 260), np.float32)
    forward(x.numpy(), 40, 300, W.numpy(), b.numpy(), Z, 0)
    forward(x.numpy(), 40, 300, W[3:4].numpy(), b[3:4].numpy(), Z3, 0)
    torch.testing.assert_close(torch.from_numpy(Z), W @ x[40:].T + b[:, None], rtol=1e-5, atol=1e-4)
    assert Z[3].tobytes() == Z3[0].tobytes()
    dZ = torch.randn(101, 260, generator=g).numpy()
    G, gb = np.empty((101, 784), np.float32), np.empty(101, np.float32)
    G3, gb3 = np.empty((1, 784), np.float32), np.empty(1, np.float32)
    backward(x.numpy(), 40, 300, dZ, G, gb)
    backward(x.numpy(), 40, 300, dZ[3:4].copy(), G3, gb3)
    torch.testing.assert_close(torch.from_numpy(G), torch.from_numpy(dZ) @ x[40:], rtol=1e-5, atol=1e-4)
    assert G[3].tobytes() == G3[0].tobytes() and gb[3] == gb3[0]


@pytest.mark.parametrize("loss", [loss for loss in LOSS_CODES if loss != "cross_entropy"])
def test_kernel_scores_are_the_lessons_loss_and_accuracy(loss):
    """Logits near 0 (the sigmoid rounds them to 0.5: a 7) and far out (where a naive bce overflows) included."""
    g = torch.Generator().manual_seed(1)
    z = torch.cat([torch.randn(500, generator=g) * 5, torch.tensor([0.0, 1e-9, -1e-9, 60.0, -60.0, 200.0])])
    y = (torch.rand(len(z), generator=g) > 0.5).float()
    totals = np.empty((1, 2))
    scores(z.numpy()[None].copy(), y.numpy(), LOSS_CODES[loss], totals)
    out = (totals / len(z)).astype(np.float32)
    assert out[0, 0] == pytest.approx(LOSS_FUNCS[loss](z[:, None], y[:, None]).item(), rel=1e-5, abs=1e-6)
    assert out[0, 1] == accuracy(z[:, None], y[:, None]).item()


def test_kernel_scores_ten_digits_as_cross_entropy_and_argmax_do():
    """Two runs' ten rows each; logits far out (where a naive softmax overflows), ties (the first digit wins, as
    argmax says), and each image's gradient (softmax minus one-hot over the batch) as losses.loss_grad gives it."""
    g = torch.Generator().manual_seed(2)
    z = torch.randn(300, 20, generator=g) * 5
    z[0, :10], z[1, 10:] = 100.0, -100.0  # every digit tied, for each run
    z[2, 3] = 120.0  # one huge logit
    y = torch.randint(0, 10, (300,), generator=g)
    y[:2] = 0  # the tied images are 0s: right only if the first tied digit wins
    Z, labels = z.T.contiguous().numpy(), y.numpy().astype(np.float32)
    totals = np.empty((2, 2))
    scores(Z, labels, LOSS_CODES["cross_entropy"], totals)
    dZ, trained = np.empty_like(Z), np.zeros((2, 2))
    loss_grads(Z, 0, 300, 300, labels, np.zeros(300, np.float32), LOSS_CODES["cross_entropy"], dZ, trained)
    assert trained.tolist() == totals.tolist()
    for k, run in enumerate((z[:, :10], z[:, 10:])):
        assert totals[k, 0] / 300 == pytest.approx(LOSS_FUNCS["cross_entropy"](run, y).item(), rel=1e-6)
        assert np.float32(totals[k, 1] / 300) == accuracy(run, y).item()  # as Carpool._means rounds it
        torch.testing.assert_close(torch.from_numpy(dZ[10 * k:10 * k + 10].T), loss_grad("cross_entropy", run, y, None),
                                   rtol=1e-5, atol=1e-8)


def test_the_kernel_compiles_where_no_cache_can_be_written(monkeypatch):
    """A read-only install and home: numba finds no cache directory; the kernel compiles in each process."""
    monkeypatch.setattr(numba.core.caching.CacheImpl, "_locator_classes", [])

    def double(a):
        return 2 * a
    assert _jit(double)(3) == 6


@pytest.fixture(scope="module")
def ten():
    """All ten digits, 5,000 of the training images picked at random: the softmax model's data, kept quick."""
    full = load_digits(pair="all")
    some = torch.randperm(len(full.train_x), generator=torch.Generator().manual_seed(0))[:5000]
    return dataclasses.replace(full, train_x=full.train_x[some], train_y=full.train_y[some])


SOFTMAX = TrainConfig(model="softmax", loss="cross_entropy", lr=0.5, epochs=2, batch_size=100, seed=4)


def trained_as_torch_trains(config, data):
    """The kernel's records of `config`, each epoch checked against torch's from-scratch trainer (the code that
    trained these models before they had a block form) to float32 rounding: every score, and every parameter under
    the same name."""
    ours = list(train(config, data))
    theirs = ScratchTrainer(config, data, initial_params(config))
    for record in ours:
        scores = theirs.train_epoch(record.epoch) + validate_epoch(theirs.model, data, LOSS_FUNCS[config.loss])
        assert [record.train_loss, record.train_acc, record.valid_loss, record.valid_acc] == pytest.approx(
            scores, rel=1e-4)
        assert list(record.params) == list(theirs.params)
        for name, value in theirs.params.items():
            torch.testing.assert_close(torch.tensor(record.params[name]), value, rtol=1e-4, atol=1e-4)
    return ours


@pytest.mark.parametrize("shuffle", [False, True])
def test_the_softmax_model_trains_as_torch_trains_it(ten, shuffle):
    """The kernel's ten-row runs against torch's from-scratch Linear with the closed-form softmax gradient."""
    ours = trained_as_torch_trains(dataclasses.replace(SOFTMAX, shuffle=shuffle), ten)
    assert ours[-1].params["weights"].shape == (784, 10) and ours[-1].valid_acc > 0.5  # it learned: chance is 0.1


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_softmax_run_in_a_block_equals_it_alone(ten, shuffle):
    """Ten rows a run: a run among companions (which shuffled must share its seed); one that joins late, from
    another run's record, and trains on alone once that run has left; each the same bits as alone."""
    config = dataclasses.replace(SOFTMAX, shuffle=shuffle)
    configs = [config, *companions(config, 2, seed=1)]
    pairs = list(train_carpool(configs, ten))
    for i in range(3):
        assert_same(records_of(pairs, i), list(train(configs[i], ten)))
    pool = Carpool(ten)
    a = pool.join(configs[1])
    first = pool.step()
    b = pool.join(config, first[0][1])  # continues from a's first epoch, for two more
    second, third = pool.step(), pool.step()  # a ends after the second: its ten rows leave, b's stay
    assert [run for run, _ in second] == [a, b] and [run for run, _ in third] == [b] and len(pool) == 0
    assert_same([first[0][1], second[0][1]], list(train(configs[1], ten)))
    assert_same([second[1][1], third[0][1]], list(train(config, ten, first[0][1])))


TWO_LAYER = TrainConfig(model="two_layer", lr=0.5, epochs=2, batch_size=100, seed=4)


@pytest.mark.parametrize("loss, shuffle", [("mnist_loss", False), ("mnist_loss", True), ("bce", False),
                                           ("first_attempt", True)])
def test_the_two_layer_net_trains_as_torch_trains_it(data, loss, shuffle):
    """The kernel's thirty-row runs and their output layer against torch's from-scratch TwoLayer (matrix products,
    relu_, backprop written out): weights, bias, out_weights, out_bias."""
    config = dataclasses.replace(TWO_LAYER, loss=loss, shuffle=shuffle, lr=0.01 if loss == "first_attempt" else 0.5)
    ours = trained_as_torch_trains(config, data)
    assert ours[-1].params["weights"].shape == (784, 30) and ours[-1].params["out_weights"].shape == (30, 1)
    if shuffle and loss == "mnist_loss":
        assert ours[-1].valid_acc > 0.9  # it learned (unshuffled, all 3s then all 7s, it takes longer)
    assert ours[0].params["weights"].tobytes() != initial_params(config)["weights"].numpy().tobytes()


def test_a_two_layer_run_in_a_block_equals_it_alone(data):
    """Thirty rows and an output row a run: runs among companions, one that joins late from another run's record,
    and one that leaves first (its rows and its output row go; the others' must not shift); each the same bits as
    alone."""
    configs = [TWO_LAYER, *companions(TWO_LAYER, 4, seed=2)]
    pairs = list(train_carpool(configs, data))
    for i in (0, 2, 4):
        assert_same(records_of(pairs, i), list(train(configs[i], data)))
    pool = Carpool(data)
    b, a = pool.join(dataclasses.replace(configs[2], epochs=1)), pool.join(configs[1])
    first = pool.step()  # b leaves after its one epoch: its rows and output row were the first, a's move up
    c = pool.join(TWO_LAYER, first[1][1])  # continues from a's first epoch
    second, third = pool.step(), pool.step()
    assert [run for run, _ in first] == [b, a] and [run for run, _ in second] == [a, c]
    assert [run for run, _ in third] == [c] and len(pool) == 0
    assert_same([first[1][1], second[0][1]], list(train(configs[1], data)))
    assert_same([first[0][1]], list(train(dataclasses.replace(configs[2], epochs=1), data)))
    assert_same([second[1][1], third[0][1]], list(train(TWO_LAYER, data, first[1][1])))


def test_a_resumed_two_layer_run_equals_one_uninterrupted_run(data):
    """A chunk of a run continues from the last record: its output layer comes back with its hidden units."""
    whole = list(train(dataclasses.replace(TWO_LAYER, epochs=3), data))
    assert_same(whole[1:], list(train(TWO_LAYER, data, whole[0])))


def test_a_block_that_empties_takes_another_model_next():
    """A worker's block of two-layer runs ends; a linear run joins the empty block and trains as it does alone (no
    head, one row), and a two-layer run after it gets a head again."""
    data = load_digits()
    pool = Carpool(data)
    pool.join(dataclasses.replace(TWO_LAYER, epochs=1))
    pool.step()
    assert len(pool) == 0
    linear = TrainConfig(epochs=1, seed=3)
    pool.join(linear)
    assert_same([r for _, r in pool.step()], list(train(linear, data)))
    two = dataclasses.replace(TWO_LAYER, epochs=1, seed=5)
    pool.join(two)
    assert_same([r for _, r in pool.step()], list(train(two, data)))


def test_a_two_layer_run_that_diverges_leaves_and_its_companions_go_on(data):
    """bce at lr 1000 explodes in its first epoch: its thirty rows and its output row leave; the runs either side
    of it train on with their own numbers."""
    calm = dataclasses.replace(TWO_LAYER, loss="bce", epochs=4)
    wild = dataclasses.replace(calm, lr=1000, seed=8)
    pairs = list(train_carpool([calm, wild, dataclasses.replace(calm, seed=9)], data))
    wild_records = records_of(pairs, 1)
    assert len(wild_records) == 1 and "exploded" in wild_records[0].diverged
    assert_same(wild_records, list(train(wild, data)))
    for i, config in ((0, calm), (2, dataclasses.replace(calm, seed=9))):
        assert_same(records_of(pairs, i), list(train(config, data)))


def test_the_two_layer_output_is_summed_in_unit_order():
    """head_out as its docstring says: the ReLU on each hidden logit (a NaN stays NaN), then the units' products
    added in order, then the bias; two runs of five units, so a run reading its neighbour's rows would show."""
    g = torch.Generator().manual_seed(3)
    H, V, c = (torch.randn(10, 40, generator=g).numpy(), torch.randn(2, 5, generator=g).numpy(),
               np.float32([0.25, -1]))
    H[7, 3] = np.nan
    want = np.empty((2, 40), np.float32)
    for k in range(2):
        s = np.zeros(40, np.float32)
        for u in range(5):
            s = s + np.maximum(H[5 * k + u], 0) * V[k, u]
        want[k] = s + c[k]
    want[1, 3] = np.nan
    out, relu = np.empty((2, 40), np.float32), H.copy()
    head_out(relu, V, c, out)
    assert out.tobytes() == want.tobytes()
    assert np.isnan(relu[7, 3]) and (np.nan_to_num(relu) >= 0).all()
