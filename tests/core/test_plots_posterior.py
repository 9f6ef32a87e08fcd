import numpy as np
import pytest

from core.diagnosis.posterior import RunTimeline
from core.metrics import Undefined
from core.plots import posterior as plots


def test_kl_bars_sorted_per_checkpoint_with_floor():
    fig = plots.kl_bars({"A": np.array([0.1, 0.0, 0.3]), "B": np.array([1.0, 2.0, 0.5])}, floor=0.5)
    a, b = fig.data
    np.testing.assert_allclose(a.y, [0.3, 0.1, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.y, [2.0, 1.0, 0.5], rtol=1e-6)
    assert list(a.x) == [1, 2, 3] and a.name == "A"
    assert "A: 0.4" in fig.layout.title.text and "B: 3.5" in fig.layout.title.text
    assert any(shape.y0 == 0.5 for shape in fig.layout.shapes)


def test_undefined_series_is_named_not_drawn():
    fig = plots.kl_bars({"A": Undefined("logvar has -inf"), "B": np.array([1.0])})
    assert [t.name for t in fig.data] == ["B"]
    assert "A: undefined: logvar has -inf" in fig.layout.title.text


def test_activity_bars_count_active_units_and_use_log_scale():
    fig = plots.activity_bars({"A": np.array([0.0, 0.001]), "B": np.array([0.5, 0.02, 0.001])})
    assert "A: 0 of 2" in fig.layout.title.text and "B: 2 of 3" in fig.layout.title.text
    assert fig.layout.yaxis.type == "log"
    assert min(fig.data[0].y) > 0  # zeros are clipped for the log axis


def test_sigma_bars_mark_the_prior():
    fig = plots.sigma_bars({"A": np.array([1.0, 0.4])})
    assert any(shape.y0 == 1.0 for shape in fig.layout.shapes)


def test_image_grid_geometry_and_grey_levels():
    rows = np.zeros((2, 3, 64))
    rows[0, 0] = 1.0
    img = plots.image_grid(rows, (0.0, 1.0), scale=4)
    assert img.mode == "L" and img.size == (3 * 32 + 2 * 2, 2 * 32 + 2)
    pixels = np.asarray(img)
    assert pixels[0, 0] == 255 and pixels[0, 40] == 0 and pixels[32, 0] == 255  # tile, tile, gap
    strip = plots.image_grid(np.zeros((1, 1, 10)), scale=2)
    assert strip.size == (20, 2)


def test_image_grid_rejects_empty_or_bad_input():
    with pytest.raises(ValueError, match="empty"):
        plots.image_grid(np.zeros((1, 0, 64)))
    with pytest.raises(ValueError, match=r"\[R, C, F\]"):
        plots.image_grid(np.zeros((2, 64)))


def test_reconstruction_grid_two_rows_on_the_inputs_range():
    x = np.random.default_rng(0).uniform(size=(5, 64))
    img = plots.reconstruction_grid(x, x, scale=1)
    assert img.size == (5 * 8 + 4 * 2, 2 * 8 + 2)
    pixels = np.asarray(img)
    np.testing.assert_array_equal(pixels[:8], pixels[10:])
    with pytest.raises(ValueError, match="differ"):
        plots.reconstruction_grid(x, x[:3])


def test_traversal_grid_rows_are_dimensions():
    decoded = np.random.default_rng(1).uniform(size=(3, 7, 64))
    assert plots.traversal_grid(decoded, scale=2).size == (7 * 16 + 6 * 2, 3 * 16 + 2 * 2)


def test_display_range_widens_constant_input():
    assert plots.display_range(np.ones((4, 4))) == (0.5, 1.5)


def test_kl_timeline_sorts_dimensions_by_the_last_checkpoint():
    timeline = RunTimeline(
        (1, None), ("a.pt", "last.pt"), np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 5.0]]), np.array([2, -1])
    )
    fig = plots.kl_timeline(timeline, "B")
    heat = fig.data[0]
    assert list(heat.x) == ["epoch 1", "last.pt"] and list(heat.y) == ["z2", "z0", "z1"]
    np.testing.assert_allclose(np.asarray(heat.z)[:, 1], [5.0, 3.0, 0.0])
    assert "epoch 1: 2" in fig.layout.title.text and "last.pt: undefined" in fig.layout.title.text


def test_a_and_b_keep_their_colours_and_guides_read_on_a_dark_theme():
    from core.plots.palette import GUIDE_COLOUR, SLOT_COLOURS
    from core.plots.posterior import activity_bars, kl_bars

    kl = kl_bars({"B: run/b.pt": np.ones(3), "A: run/a.pt": np.full(3, 1e-7)}, floor=0.5)
    assert [t.marker.color for t in kl.data] == [SLOT_COLOURS["B"], SLOT_COLOURS["A"]]  # by name, not order
    assert "total B: 3, A: < 0.001" in kl.layout.title.text  # never 3e-07
    active = activity_bars({"A": np.ones(3)})
    assert {shape.line.color for shape in [*kl.layout.shapes, *active.layout.shapes]} == {GUIDE_COLOUR}
