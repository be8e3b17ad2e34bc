"""The pure figure builders, read back from the Plotly figures they return."""
import numpy as np
import pytest

from digitviz import TrainConfig, train
from digitviz.figures import accuracy_figure, loss_figure, mean_images_figure, tile, weight_map_figure


@pytest.fixture(scope="module")
def records(data):
    return list(train(TrainConfig(epochs=4), data))


def test_accuracy_figure_has_both_curves_and_the_dashed_baseline(records):
    fig = accuracy_figure(records, baseline=0.9514, epochs=10)
    valid, training = fig.data
    assert valid.name == "validation accuracy" and list(valid.x) == [1, 2, 3, 4]
    assert list(valid.y) == [r.valid_acc for r in records] and list(training.y) == [r.train_acc for r in records]
    (line,) = fig.layout.shapes
    assert line.y0 == line.y1 == 0.9514 and line.line.dash == "dash"
    assert "95.1%" in fig.layout.annotations[0].text
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "accuracy"
    assert fig.layout.xaxis.range[1] == 10.5  # room for the epochs still to come
    assert fig.layout.yaxis.range[0] <= 0.9514 and fig.layout.yaxis.range[1] >= 1


def test_loss_figure(records):
    fig = loss_figure(records)
    assert [t.name for t in fig.data] == ["validation loss", "training loss"]
    assert list(fig.data[1].y) == [r.train_loss for r in records]
    assert fig.layout.yaxis.title.text == "loss" and fig.layout.xaxis.title.text == "epoch"


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
    from digitviz import pixel_similarity
    b = pixel_similarity(data)
    fig = mean_images_figure(b.means)
    assert len(fig.data) == 3
    np.testing.assert_allclose(np.array(fig.data[2].z), (b.mean3 - b.mean7).numpy(), rtol=1e-6)
    assert fig.data[2].zmid == 0
    assert [a.text for a in fig.layout.annotations] == ["mean 3", "mean 7", "mean 3 − mean 7"]
