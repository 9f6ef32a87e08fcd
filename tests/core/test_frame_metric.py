import numpy as np
import pytest

from core.metrics import METRICS, Undefined, all_metrics
from core.metrics.flow.frame import trustworthiness_of


def _arc(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors at angles spread over 3 radians, and the angles laid out on a line."""
    angles = np.linspace(0.0, 3.0, n)
    return np.stack([np.cos(angles), np.sin(angles), np.zeros(n)], axis=1), np.stack([angles, 0 * angles], 1)


def test_a_faithful_layout_scores_one_and_a_shuffled_one_far_less():
    points, line = _arc()
    # Cosine distance grows with the angle below pi, so the line keeps every neighbourhood.
    assert trustworthiness_of(points, line) == pytest.approx(1.0)
    shuffled = line[np.random.default_rng(0).permutation(len(line))]
    assert trustworthiness_of(points, shuffled) < 0.7


@pytest.mark.parametrize("n", [60, 700])
def test_equal_to_sklearn_on_layouts_without_ties(n):
    from sklearn.manifold import trustworthiness

    rng = np.random.default_rng(n)
    points = rng.normal(size=(n, 24))
    for coords in (points[:, :2] + 0.5 * rng.normal(size=(n, 2)), rng.normal(size=(n, 2))):
        expected = trustworthiness(points, coords, n_neighbors=10, metric="cosine")
        assert trustworthiness_of(points, coords) == pytest.approx(expected, abs=1e-12)


def test_ties_are_ranked_by_index_as_a_stable_sort_would():
    # Two exact copies of every point: each copy's twin is nearest, and equal distances rank by index.
    from sklearn.metrics import pairwise_distances
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    points = np.repeat(rng.normal(size=(30, 5)), 2, axis=0)
    coords = rng.normal(size=(60, 2))
    distances = pairwise_distances(points.astype(np.float32), metric="cosine")
    np.fill_diagonal(distances, np.inf)
    order = np.argsort(distances, axis=1, kind="stable")
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.arange(1, 61)[None, :].repeat(60, 0), axis=1)
    near = NearestNeighbors(n_neighbors=10).fit(coords.astype(np.float32)).kneighbors(return_distance=False)
    ranks = np.take_along_axis(position, near, axis=1) - 10
    expected = 1 - ranks[ranks > 0].sum() * 2 / (60 * 10 * (120 - 30 - 1))
    assert trustworthiness_of(points, coords) == pytest.approx(expected, abs=1e-12)


def test_undefined_cases_say_why():
    points, line = _arc(21)
    assert "more than 21 points" in trustworthiness_of(points, line).reason
    points, line = _arc()
    points[3] = np.nan
    assert isinstance(trustworthiness_of(points, line), Undefined)
    points[3] = 0.0
    assert "zero vector" in trustworthiness_of(points, line).reason
    with pytest.raises(ValueError, match="60 points but 59"):
        trustworthiness_of(points, line[:59])


def test_collapsed_points_are_still_measured():
    # One distinct point: every ranking is a tie, so the value exists and lies in [0, 1].
    value = trustworthiness_of(np.ones((40, 3)), np.random.default_rng(1).normal(size=(40, 2)))
    assert 0.0 <= value <= 1.0


def test_registered_in_the_metrics_table():
    all_metrics()
    assert METRICS["frame_trustworthiness"].better == "higher"
