import numpy as np
import plotly.graph_objects as go
import pytest

from core.plots import stratified_sample
from core.plots.flow import colour_groups, compare_flow_figure, flow_figure, polyline_xy


def test_polyline_breaks_between_trajectories():
    paths = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    x, y = polyline_xy(paths)
    assert x.dtype == np.float32
    assert np.isnan(x[3]) and np.isnan(x[7]) and len(x) == 8
    assert x[:3].tolist() == [0.0, 4.0, 8.0]
    assert y[4:7].tolist() == [3.0, 7.0, 11.0]


def test_flow_figure_traces():
    rng = np.random.default_rng(0)
    paths = rng.normal(size=(4, 6, 2))
    groups = np.array([0, 1, 1, 0, 1, 1])
    fig = flow_figure(
        paths, groups, ["no", "yes"], [f"s{i}" for i in range(6)], background=rng.normal(size=(9, 2))
    )
    assert isinstance(fig, go.Figure)
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    names = [(t.name, t.showlegend is not False) for t in fig.data]
    assert names == [
        ("all inputs", True),
        ("trajectories", True),
        ("no", False),
        ("no", True),
        ("yes", False),
        ("yes", True),
    ]
    yes_end = fig.data[5]
    assert list(yes_end.text) == ["s1", "s2", "s4", "s5"]
    assert np.allclose(yes_end.x, paths[-1, [1, 2, 4, 5], 0])


def test_flow_figure_rejects_mismatched_hover():
    with pytest.raises(ValueError, match="hover"):
        flow_figure(np.zeros((2, 3, 2)), [0, 0, 0], ["a"], ["x"])


def test_stratified_sample_proportional_and_keeps_small_groups():
    labels = np.r_[np.zeros(900), np.ones(95), np.full(5, 2)]
    picked = stratified_sample(labels, 100, seed=1)
    assert len(picked) == 100
    assert len(np.unique(picked)) == 100 and np.all(np.diff(picked) > 0)
    counts = np.bincount(labels[picked].astype(int))
    assert counts[2] >= 1 and 88 <= counts[0] <= 90 and 9 <= counts[1] <= 10
    assert np.array_equal(picked, stratified_sample(labels, 100, seed=1))


def test_stratified_sample_edges():
    labels = np.array([3, 3, 1])
    assert stratified_sample(labels, 10).tolist() == [0, 1, 2]
    assert stratified_sample(labels, 0).tolist() == []
    assert len(stratified_sample(labels, 2)) == 2


def test_colour_groups_joint_and_single():
    attrs = np.array([[0, 0], [1, 0], [1, 1]])
    groups, names = colour_groups(attrs, ["past", "plural"])
    assert groups.tolist() == [0, 1, 3]
    assert names == ["none", "past", "plural", "past+plural"]
    groups, names = colour_groups(attrs, ["past", "plural"], "plural")
    assert groups.tolist() == [0, 0, 1] and names == ["not plural", "plural"]


def test_compare_flow_figure_two_panels_in_one_frame():
    rng = np.random.default_rng(0)
    paths_a, paths_b = rng.normal(size=(3, 5, 2)), 4 + rng.normal(size=(3, 5, 2))
    background = rng.normal(size=(7, 2))
    groups = np.array([0, 1, 0, 1, 1])
    fig = compare_flow_figure(
        paths_a,
        paths_b,
        groups,
        ["no", "yes"],
        [f"s{i}" for i in range(5)],
        background=background,
        titles=("A: one", "B: two"),
    )
    # Same traces in each panel: background, lines, start + end per group.
    assert [t.xaxis for t in fig.data] == ["x"] * 6 + ["x2"] * 6
    left, right = fig.data[:6], fig.data[6:]
    assert np.array_equal(left[0].x, right[0].x) and np.allclose(left[0].y, background[:, 1])
    assert np.allclose(right[5].x, paths_b[-1, [1, 3, 4], 0])
    assert [t.showlegend for t in left] == [True, True, False, True, False, True]
    assert not any(t.showlegend for t in right)
    assert fig.layout.xaxis.range == fig.layout.xaxis2.range
    assert fig.layout.yaxis.range == fig.layout.yaxis2.range
    everything = np.concatenate([paths_a.reshape(-1, 2), paths_b.reshape(-1, 2), background])
    low, high = fig.layout.xaxis.range
    assert low < everything[:, 0].min() and high > everything[:, 0].max()
    assert [a.text for a in fig.layout.annotations] == ["A: one", "B: two"]
    with pytest.raises(ValueError, match="different rows"):
        compare_flow_figure(paths_a, paths_b[:, :4], groups, ["no", "yes"], ["s"] * 5)
