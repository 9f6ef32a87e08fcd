import numpy as np
import plotly.graph_objects as go
import pytest

from core.plots import stratified_sample
from core.plots.flow import (
    MAX_SPOT_PX,
    PathSample,
    animation_steps,
    colour_groups,
    compare_flow_figure,
    endpoint_spots,
    flow_animation,
    flow_figure,
    joint_labels,
    polyline_xy,
    selected_rows,
    spot_sizes,
)
from core.plots.traces import WEBGL_ABOVE


def test_polyline_breaks_between_trajectories():
    paths = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    x, y = polyline_xy(paths)
    assert x.dtype == np.float32
    assert np.isnan(x[3]) and np.isnan(x[7]) and len(x) == 8
    assert x[:3].tolist() == [0.0, 4.0, 8.0]
    assert y[4:7].tolist() == [3.0, 7.0, 11.0]


def _sample(paths, groups, names=("no", "yes")) -> PathSample:
    n = np.shape(paths)[1]
    return PathSample(
        paths,
        groups,
        list(names),
        np.arange(10, 10 + n),
        [f"s{i}" for i in range(n)],
        [f"t{i}" for i in range(n)],
        [f"o{i}" for i in range(n)],
    )


def test_many_points_are_drawn_with_webgl():
    rng = np.random.default_rng(0)
    paths = rng.normal(size=(11, 300, 2))
    fig = flow_figure(_sample(paths, np.arange(300) % 2), background=rng.normal(size=(WEBGL_ABOVE, 2)))
    assert all(type(t) is go.Scattergl for t in fig.data)
    small = flow_figure(_sample(paths, np.arange(300) % 2), background=rng.normal(size=(100, 2)))
    assert all(type(t) is go.Scatter for t in small.data)


def test_flow_figure_traces():
    rng = np.random.default_rng(0)
    paths = rng.normal(size=(4, 6, 2))
    groups = np.array([0, 1, 1, 0, 1, 1])
    fig = flow_figure(_sample(paths, groups), background=rng.normal(size=(9, 2)))
    assert isinstance(fig, go.Figure)
    assert all(type(t) is go.Scatter for t in fig.data)  # a few points: SVG, no WebGL context
    names = [(t.name, t.legendgroup) for t in fig.data]
    assert names == [
        ("inputs", "inputs"),
        ("paths", "paths"),
        ("start points", "start points"),
        ("endpoint · no", "endpoint · no"),
        ("endpoint · yes", "endpoint · yes"),
    ]
    starts = fig.data[2]
    assert np.allclose(starts.x, paths[0, :, 0]) and list(starts.text) == [f"s{i}" for i in range(6)]
    assert starts.marker.color[1] == fig.data[4].marker.color != fig.data[3].marker.color
    yes_end = fig.data[4]
    assert list(yes_end.text) == ["s1", "s2", "s4", "s5"]
    assert np.allclose(yes_end.x, paths[-1, [1, 2, 4, 5], 0])
    # Hover on an endpoint spot reads its sentence, target and row count; customdata = (first row, target,
    # original, rows, member rows). Without components each sampled endpoint is a spot of one row.
    assert "%{text}" in yes_end.hovertemplate and "target: %{customdata[1]}" in yes_end.hovertemplate
    assert list(yes_end.customdata[0]) == [11, "t1", "o1", 1, "11"]
    assert list(yes_end.marker.size) == [9.0] * 4
    x, _ = polyline_xy(paths)
    assert np.allclose(fig.data[1].x, x, equal_nan=True)


def test_path_sample_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="3 paths"):
        PathSample(np.zeros((2, 3, 2)), [0, 0, 0], ["a"], [0, 1, 2], ["x"], ["t"] * 3, ["o"] * 3)
    with pytest.raises(ValueError, match="T\\+1, n, 2"):
        PathSample(np.zeros((2, 3)), [0, 0, 0], ["a"], [0, 1, 2], ["x"] * 3, ["t"] * 3, ["o"] * 3)


def test_flow_animation_frames_buttons_and_slider():
    rng = np.random.default_rng(1)
    paths = rng.normal(size=(5, 6, 2))
    groups = np.array([0, 1, 1, 0, 1, 1])
    fig = flow_animation(_sample(paths, groups), background=rng.normal(size=(9, 2)))
    # Static: inputs, faint paths, faint endpoint spots; then one trace of the moving points, each in its
    # group's colour.
    assert [t.name for t in fig.data] == ["inputs", "paths", "endpoints", "moving points"]
    colours = fig.data[3].marker.color
    assert colours[0] == colours[3] != colours[1] == colours[2] == colours[4] == colours[5]
    assert [f.name for f in fig.frames] == ["0", "1", "2", "3", "4"]
    # Frame t moves every point to step t; the figure opens at step 0.
    assert list(fig.frames[3].traces) == [3]
    assert np.allclose(fig.frames[3].data[0].x, paths[3, :, 0])
    assert np.allclose(fig.data[3].x, paths[0, :, 0])
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["▶ Play", "❚❚ Pause"] and buttons[0].method == "animate"
    slider = fig.layout.sliders[0]
    assert [s.label for s in slider.steps] == ["0", "1", "2", "3", "4"]
    assert list(slider.steps[2].args[0]) == ["2"]
    # Fixed axes that hold every step, so the picture does not rescale while it plays.
    low, high = fig.layout.xaxis.range
    assert fig.layout.xaxis.autorange is False and low < paths[..., 0].min() and high > paths[..., 0].max()


def test_selected_rows_read_customdata():
    points = [
        {"curve_number": 4, "customdata": [12, "t", "o"]},
        {"curve_number": 2, "customdata": [3, "t", "o"]},
        {"curve_number": 5, "customdata": [12, "t", "o"]},
        {"curve_number": 0},  # a background input: no row
        {"customdata": "x"},
        {"customdata": ["not a row"]},
        {"customdata": [40, "t", "o", 3, "40 7 41"]},  # an endpoint spot: every row that ends there
    ]
    assert selected_rows(points).tolist() == [3, 7, 12, 40, 41]
    assert selected_rows([]).tolist() == []


def test_animation_steps_keep_first_and_last():
    assert animation_steps(4) == [0, 1, 2, 3]
    assert animation_steps(11) == [0, 2, 4, 6, 8, 10]
    assert animation_steps(51) == [0, 10, 20, 30, 40, 50]
    paths = np.random.default_rng(2).normal(size=(11, 4, 2))
    fig = flow_animation(_sample(paths, np.array([0, 1, 0, 1])))
    assert [f.name for f in fig.frames] == ["0", "2", "4", "6", "8", "10"]
    assert np.allclose(fig.frames[-1].data[0].x, paths[10, :, 0])


def test_endpoint_spots_group_components_within_colour():
    coords = np.array([[0, 0], [2, 0], [5, 5], [5, 7], [9, 9]], dtype=np.float32)
    components = np.array([0, 0, 1, 1, 2])
    groups = np.array([1, 1, 0, 1, 0])  # component 1 holds rows of two colours: two spots
    spots = endpoint_spots(
        coords,
        groups,
        np.array([10, 11, 12, 13, 14]),
        components,
        list("abcde"),
        list("TTUVW"),
        list("ooooo"),
    )
    assert len(spots.x) == 4 and spots.counts.tolist() == [2, 1, 1, 1]
    assert spots.x.tolist() == [1.0, 5.0, 5.0, 9.0] and spots.y.tolist() == [0.0, 5.0, 7.0, 9.0]
    assert [m.tolist() for m in spots.members] == [[10, 11], [12], [13], [14]]
    assert spots.groups.tolist() == [1, 0, 1, 0] and spots.sentences == ["a", "c", "d", "e"]
    assert spot_sizes(np.array([1, 4, 10_000])).tolist() == [9.0, 13.0, MAX_SPOT_PX]


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


def test_joint_labels():
    assert joint_labels(np.array([[0, 0], [1, 1]]), ["past", "plural"]) == ["none", "past+plural"]


def test_compare_flow_figure_two_panels_aligned():
    rng = np.random.default_rng(0)
    paths_a, paths_b = rng.normal(size=(3, 5, 2)), 40 + 9 * rng.normal(size=(3, 5, 2))
    backgrounds = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
    groups = np.array([0, 1, 0, 1, 1])
    fig = compare_flow_figure(
        _sample(paths_a, groups),
        _sample(paths_b, groups),
        backgrounds=backgrounds,
        titles=("A: one", "B: two"),
    )
    # Same traces in each panel: background, lines, start points, endpoints per group.
    assert [t.xaxis for t in fig.data] == ["x"] * 5 + ["x2"] * 5
    left, right = fig.data[:5], fig.data[5:]
    assert np.allclose(left[0].y, backgrounds[0][:, 1]) and np.allclose(right[0].x, backgrounds[1][:, 0])
    assert np.allclose(right[4].x, paths_b[-1, [1, 3, 4], 0])
    assert "endpoint" in right[4].name
    assert [t.showlegend for t in left] == [True] * 5
    assert not any(t.showlegend for t in right)
    # A's legend item toggles B's matching trace: one legend group per kind and colour.
    assert [t.legendgroup for t in left] == [t.legendgroup for t in right]
    # Each panel keeps its own range (a collapsed panel's islands must not shrink the other one).
    assert fig.layout.xaxis.matches is None and fig.layout.xaxis2.matches is None
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis2.scaleanchor == "x2"
    assert [a.text for a in fig.layout.annotations] == ["A: one", "B: two"]
    with pytest.raises(ValueError, match="different rows"):
        compare_flow_figure(_sample(paths_a, groups), _sample(paths_b[:, :4], groups[:4]))
