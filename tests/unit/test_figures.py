"""The pure figure builders, read back from the Plotly figures (and the pictures) they return."""
import dataclasses
import io

import numpy as np
import pytest

from digitviz import TrainConfig, train
from digitviz.figures import accuracy_range, mean_images, png, tile, weight_map_figure
from digitviz.figures_sgd import lr_sweep_figure


@pytest.fixture(scope="module")
def records(data):
    return list(train(TrainConfig(epochs=4), data))


@pytest.mark.parametrize("baseline", [0.0, 0.5, 0.66, 0.9514, 0.999])
def test_accuracy_range_keeps_the_baseline_when_every_epoch_is_above_it(records, baseline):
    """The ten-digit baseline is about 0.66: a good run must not push its dashed line off the chart."""
    above = [dataclasses.replace(r, valid_acc=0.97 + r.epoch / 1000, train_acc=0.98) for r in records]
    low, high = accuracy_range(above, baseline)
    assert low <= baseline <= high and low <= 0.97 and high >= 1


def test_accuracy_range_zooms_in_and_ignores_a_diverged_epoch(records):
    low, high = accuracy_range(records, 0.9514)
    assert low == pytest.approx(min(0.9, *[r.valid_acc for r in records], *[r.train_acc for r in records]) - 0.02)
    blown = [*records, dataclasses.replace(records[-1], epoch=5, valid_acc=float("nan"), train_acc=float("nan"))]
    assert accuracy_range(blown, 0.9514) == [low, high]


def test_weight_map_is_centred_on_zero_in_a_colour_blind_safe_scale():
    w = np.zeros((28, 28))
    w[3, 4], w[10, 10] = 2.0, -0.5
    (heat,) = weight_map_figure(w, (3, 7)).data
    assert heat.zmid == 0 and heat.zmin == -2.0 and heat.zmax == 2.0
    assert [c[1] for c in heat.colorscale][0].lower() in ("rgb(103,0,31)", "#67001f")  # ColorBrewer RdBu's end
    assert list(heat.colorbar.ticktext) == ["→ 7", "0", "→ 3"]
    np.testing.assert_array_equal(np.array(heat.z), w)


def test_flat_weight_map_does_not_divide_by_zero():
    (heat,) = weight_map_figure(np.zeros((28, 28))).data
    assert heat.zmin == -1 and heat.zmax == 1


def test_hidden_units_are_tiled_with_blank_gaps():
    maps = np.arange(5 * 28 * 28, dtype=np.float32).reshape(5, 28, 28)
    image = tile(maps, columns=3)
    assert image.shape == (2 * 28 + 1, 3 * 28 + 2)
    np.testing.assert_array_equal(image[:28, 29:57], maps[1])
    np.testing.assert_array_equal(image[29:, 29:57], maps[4])
    assert np.isnan(image[28]).all() and np.isnan(image[29:, 58:]).all()
    (heat,) = weight_map_figure(maps).data
    assert np.array(heat.z, dtype=float).shape[0] > 28


def test_mean_images_and_their_difference(data):
    """The baseline's pictures against a reference: grey is the mean itself, 0..1 as 0..255; the difference is
    white where the means agree and the colour scale's ends where they differ most (blue: the first digit's ink)."""
    from digitviz import pixel_similarity
    b = pixel_similarity(data)
    (c3, m3), (c7, m7), (cd, diff) = mean_images(b.means)
    assert (c3, c7, cd) == ("mean 3", "mean 7", "mean 3 − mean 7")
    assert m3.shape == diff.shape == (28, 28, 3) and m3.dtype == diff.dtype == np.uint8
    np.testing.assert_array_equal(m3[..., 0], np.rint(b.mean3.astype(np.float64) * 255))
    assert (m7[..., 0] == m7[..., 2]).all()  # grey
    d = b.mean3 - b.mean7
    assert tuple(diff[np.unravel_index(d.argmax(), d.shape)]) == (5, 48, 97)  # RdBu's blue end
    red, _, blue = diff[np.unravel_index(d.argmin(), d.shape)]
    assert red > blue  # the second digit's ink: the red side
    assert tuple(diff[0, 0]) == (247, 247, 247)  # a corner: no ink in either mean, RdBu's white middle
    ten = mean_images(np.zeros((10, 28, 28)), tuple(range(10)))
    assert [c for c, _ in ten] == [str(d) for d in range(10)]


def test_png_keeps_every_pixel_as_a_square():
    from PIL import Image
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    back = np.asarray(Image.open(io.BytesIO(png(rgb, 4))))
    assert back.shape == (8, 12, 3)
    np.testing.assert_array_equal(back[::4, ::4], rgb)




def test_the_sweeps_run_labels_take_turns_above_and_below_their_points():
    points = [(0.001 * 3 ** i, 0.5 + i / 40, i + 2, False) for i in range(10)] + [(300.0, None, 12, True),
                                                                                 (1000.0, 0.5, 13, True)]
    ok, bad = lr_sweep_figure(points).data
    assert list(ok.text) == [f"run {i}" for i in range(2, 12)] and list(bad.text) == ["run 12", "run 13"]
    assert list(ok.textposition) == ["top center", "bottom center"] * 5
    assert list(bad.textposition) == ["top center", "bottom center"] and list(bad.y) == [0.5, 0.5]  # on by turns
