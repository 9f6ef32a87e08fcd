"""Codebook figures: the values drawn, code ordering, log handling and bad shapes."""

import math

import numpy as np
import pytest

from core.adapters.codebook import RunUsage
from core.plots.codebook import (
    ab_heatmaps,
    class_heatmap,
    lorenz_figure,
    reconstruction_grid,
    sorted_usage_figure,
    timeline_figure,
    usage_heatmap,
    usage_rows,
)


def _run(counts: list[list[float]], epochs: tuple[int, ...]) -> RunUsage:
    c = np.asarray(counts, dtype=np.float64)[:, None, :]
    return RunUsage(tuple(f"e{e}.pt" for e in epochs), epochs, c, ("data",) * len(epochs))


RUN = _run([[4, 0, 0, 0], [1, 0, 3, 0]], (1, 5))


def test_heatmap_orders_codes_by_final_usage_and_shows_shares():
    fig = usage_heatmap(RUN)
    heat = fig.data[0]
    assert list(heat.x) == ["2", "0", "1", "3"]
    assert list(heat.y) == ["epoch 1", "epoch 5"]
    np.testing.assert_allclose(heat.z, [[0, 1, 0, 0], [0.75, 0.25, 0, 0]])
    assert list(usage_heatmap(RUN, order="index").data[0].x) == ["0", "1", "2", "3"]


def test_log_heatmap_blanks_unused_codes():
    z = np.asarray(usage_heatmap(RUN, log=True, order="index").data[0].z, dtype=float)
    assert z[1, 0] == pytest.approx(math.log10(0.25)) and np.isnan(z[1, 1])


def test_heatmap_rejects_a_missing_head():
    with pytest.raises(ValueError, match="head 1"):
        usage_heatmap(RUN, head=1)


def test_ab_heatmaps_share_one_colour_range():
    other = _run([[1, 1, 1, 1]], (3,))
    fig = ab_heatmaps({"A": RUN, "B": other})
    assert len(fig.data) == 2
    assert {t.zmin for t in fig.data} == {0.0} and {t.zmax for t in fig.data} == {1.0}
    assert [a.text for a in fig.layout.annotations] == ["A", "B"]
    # One above the other: B's epoch labels never sit on A's heatmap.
    a_rows, b_rows = fig.layout.yaxis.domain, fig.layout.yaxis2.domain
    assert fig.layout.xaxis.domain == fig.layout.xaxis2.domain and (
        b_rows[1] < a_rows[0] or a_rows[1] < b_rows[0]
    )


def test_class_heatmap_rows_are_shares_of_each_class():
    fig = class_heatmap(np.array([[2, 0, 2], [0, 5, 0]]))
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z.sum(axis=1), 1.0)
    assert list(fig.data[0].x) == ["1", "0", "2"]
    with pytest.raises(ValueError, match=r"\[C, K\]"):
        class_heatmap(np.zeros(3))


def test_sorted_usage_on_log_axis_leaves_out_unused_codes_and_says_so():
    fig = sorted_usage_figure({"A": np.array([0, 3, 1, 0]), "B": np.array([1, 1, 1, 1])})
    a, b = fig.data
    np.testing.assert_allclose(a.y, [0.75, 0.25])
    assert "2 unused" in a.name and b.name == "B"
    assert fig.layout.yaxis.type == "log"
    assert len(sorted_usage_figure({"A": np.array([0, 3])}, log=False).data[0].y) == 2


def test_timeline_plots_perplexity_and_dead_fraction_per_epoch():
    fig = timeline_figure({"A": RUN}, threshold=0.0)
    ppl, dead = fig.data
    assert list(ppl.x) == [1, 5]
    assert ppl.y[0] == pytest.approx(1.0)
    assert ppl.y[1] == pytest.approx(math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))))
    assert list(dead.y) == [0.75, 0.5]


def test_reconstruction_grid_places_inputs_over_outputs():
    x = np.zeros((3, 64), dtype=np.float32)
    r = np.ones((3, 64), dtype=np.float32)
    z = np.asarray(reconstruction_grid(x, r).data[0].z, dtype=float)
    assert z.shape == (17, 26)
    assert np.nanmax(z[:8]) == 0 and np.nanmin(z[9:]) == 1 and np.isnan(z[8]).all()
    with pytest.raises(ValueError, match="shape"):
        reconstruction_grid(x, r[:2])


def test_timeline_overlays_the_training_log_dotted():
    fig = timeline_figure({"A": RUN}, logged={"A": (np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.5, 2.0]))})
    logged = fig.data[-1]
    assert logged.name == "A (training log)" and logged.line.dash == "dot"
    assert list(logged.y) == [1.0, 1.5, 2.0]


def test_lorenz_figure_draws_the_curve_and_the_uniform_diagonal():
    fig = lorenz_figure({"A": np.array([0, 3, 0, 1])})
    curve, uniform = fig.data
    np.testing.assert_allclose(curve.y, [0, 0, 0, 0.25, 1])
    assert uniform.name == "uniform" and list(uniform.y) == [0, 1]


def test_usage_rows_put_a_and_b_on_one_colour_scale_sorted_by_a():
    fig = usage_rows({"A": np.array([0.0, 6.0, 2.0, 0.0]), "B": np.array([1.0, 1.0, 1.0, 1.0])})
    heat = fig.data[0]
    assert list(heat.y) == ["A", "B"] and list(heat.x) == ["1", "2", "0", "3"]
    assert heat.z[0][0] == pytest.approx(math.log10(0.75)) and math.isnan(heat.z[0][3])  # unused: blank
    assert "A: 2 of 4 used, B: 4 of 4 used" in fig.layout.title.text


def test_log_usage_axis_labels_decades_only():
    axis = sorted_usage_figure({"A": np.array([90.0, 9.0, 1.0])}, log=True).layout.yaxis
    assert axis.type == "log" and axis.dtick == 1 and axis.tickformat == "~%"
