import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score, silhouette_score

from core.metrics import Undefined
from core.metrics.flow.clustering import (
    distinct_endpoints,
    median_nn_distance,
    pack_bits,
    purity,
    radius_components,
    silhouette,
)


def test_silhouette_hand_case_euclidean():
    x = np.array([[0.0], [1.0], [4.0], [5.0]])
    assert silhouette(x, [0, 0, 1, 1], metric="euclidean") == pytest.approx(47 / 63, abs=1e-12)


def test_endpoint_hand_cases():
    ends = np.array([[0.0], [0.0], [1.0], [1.0]])
    assert silhouette(ends, [0, 0, 1, 1], metric="euclidean") == pytest.approx(1.0)
    assert silhouette(ends, [0, 1, 0, 1], metric="euclidean") == pytest.approx(-0.5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize(("n", "d", "labels"), [(60, 5, 3), (400, 16, 7), (300, 8, 60)])
def test_silhouette_matches_sklearn(metric, n, d, labels):
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d)) + rng.integers(0, 3, size=(n, 1))
    y = rng.integers(0, labels, n)
    assert silhouette(x, y, metric=metric) == pytest.approx(silhouette_score(x, y, metric=metric), abs=1e-6)


def test_silhouette_singletons_and_zero_rows_match_sklearn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4))
    x[3] = 0.0
    y = np.r_[np.arange(5), rng.integers(5, 8, 25)]
    assert silhouette(x, y) == pytest.approx(silhouette_score(x, y, metric="cosine"), abs=1e-6)


def test_chunked_equals_unchunked():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(257, 6)), rng.integers(0, 4, 257)
    for metric in ("cosine", "euclidean"):
        whole = silhouette(x, y, metric=metric, chunk=10_000)
        assert silhouette(x, y, metric=metric, chunk=13) == pytest.approx(whole, abs=1e-12)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        (np.ones((5, 3)), [0] * 5),
        (np.ones((1, 3)), [0]),
        (np.eye(3), [0, 1, 2]),
        (np.full((4, 2), np.nan), [0, 0, 1, 1]),
    ],
)
def test_silhouette_undefined(x, y):
    assert isinstance(silhouette(x, y), Undefined)


def test_pack_bits():
    attrs = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 1], [1, 1, 1]], dtype=np.int8)
    assert pack_bits(attrs).tolist() == [0, 1, 6, 7]
    assert pack_bits(attrs).dtype == np.int64


def test_radius_components_match_dbscan():
    x = np.random.default_rng(3).normal(size=(500, 3))
    for eps in (0.15, 0.3, 0.6):
        ours = radius_components(x, eps, cells=8)
        theirs = DBSCAN(eps=eps, min_samples=1).fit(x).labels_
        assert ours.max() == theirs.max()
        assert adjusted_rand_score(ours, theirs) == 1.0


def test_distinct_endpoints_counts_prototypes():
    rng = np.random.default_rng(4)
    inputs = rng.normal(size=(200, 8))
    scale = median_nn_distance(inputs)
    prototypes = rng.normal(size=(4, 8)) * 5
    ends = prototypes[np.arange(200) % 4] + rng.normal(size=(200, 8)) * 1e-4
    count, labels = distinct_endpoints(ends, scale)
    assert count == 4
    assert purity(np.arange(200) % 4, labels) == 1.0
    assert distinct_endpoints(inputs, scale)[0] > 150


def test_median_nn_distance():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert median_nn_distance(x) == pytest.approx(1.5)
    assert isinstance(median_nn_distance(x[:1]), Undefined)


def test_purity_hand_case():
    assert purity(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1])) == pytest.approx(0.75)
