"""Near-linear flow metrics (issue 13): exact agreement with the all-pairs definitions on small data."""

import numpy as np
import pytest
import torch
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score, silhouette_score

from core.metrics.flow.clustering import (
    _assign,
    _centres,
    nn_scale,
    radius_components,
    sample_percentiles,
    silhouette,
)
from core.metrics.flow.field import field_stats
from core.metrics.flow.trajectories import endpoint_metrics, flow_summary, mean_per_step, summarize


def _embedding_like(n: int, d: int = 48, seed: int = 0) -> np.ndarray:
    """Unit rows with a power-law spectrum and a few attribute offsets, like real embeddings."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(size=(4, d)) / np.sqrt(d)
    signs = rng.integers(0, 2, (n, 4)) * 2 - 1
    z = signs @ offsets + rng.normal(size=(n, d)) / np.sqrt(np.arange(1, d + 1))
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


def _collapsed(n: int, d: int = 48, groups: int = 12, jitter: float = 0.02, seed: int = 1) -> np.ndarray:
    """Endpoints piled near a few prototypes, each pile a fuzzy blob rather than one point."""
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(groups, d))
    return (prototypes[rng.integers(0, groups, n)] + rng.normal(size=(n, d)) * jitter).astype(np.float32)


def _same_partition(ours: np.ndarray, x: np.ndarray, eps: float) -> None:
    theirs = DBSCAN(eps=eps, min_samples=1).fit(x).labels_
    assert ours.max() == theirs.max()
    assert adjusted_rand_score(ours, theirs) == 1.0


@pytest.mark.parametrize("cells", [None, 1, 7, 40, 300])
@pytest.mark.parametrize("kind", ["inputs", "collapsed"])
def test_radius_components_equal_dbscan_at_any_cell_count(kind, cells):
    x = _embedding_like(1500) if kind == "inputs" else _collapsed(1500)
    nearest = np.sort(np.linalg.norm(x[:, None] - x[None, :400], axis=2), axis=1)[:, 1]
    for eps in np.quantile(nearest, [0.05, 0.5, 0.95]):
        _same_partition(radius_components(x, eps, cells=cells), x, eps)


def test_radius_components_cell_pruning_is_exercised_and_exact():
    x = _embedding_like(6000, d=32)
    eps = 0.25 * nn_scale(x).median
    centres = _centres(x, 78, seed=0)
    cells = _assign(x, centres, eps)
    assert cells is not None and len(np.unique(cells.own)) > 50
    # Most (row, other cell) pairs are pruned: far fewer than rows x cells remain to compare.
    assert len(cells.near_rows) < 0.2 * len(x) * len(centres)
    _same_partition(radius_components(x, eps), x, eps)


def test_radius_components_fall_back_to_all_pairs_without_cell_structure():
    x = np.random.default_rng(5).normal(size=(900, 64)).astype(np.float32)
    eps = 12.0  # a radius wider than the cells: every row sits near every plane
    assert _assign(x, _centres(x, 30, seed=0), eps) is None
    _same_partition(radius_components(x, eps, cells=30), x, eps)


def test_radius_components_of_identical_and_empty_inputs():
    assert radius_components(np.ones((5000, 8), dtype=np.float32), 1e-3).tolist() == [0] * 5000
    assert radius_components(np.zeros((0, 8)), 0.1).shape == (0,)
    two = np.repeat(np.eye(2, 6, dtype=np.float32), 3000, axis=0)
    assert np.bincount(radius_components(two, 0.5)).tolist() == [3000, 3000]


def test_nn_scale_is_exact_up_to_max_queries_and_brackets_the_median_above():
    x = _embedding_like(3000, d=16, seed=2)
    d = np.linalg.norm(x[:, None] - x[None, :], axis=2)
    np.fill_diagonal(d, np.inf)
    exact = float(np.median(d.min(axis=1)))
    whole = nn_scale(x, max_queries=3000)
    assert whole.median == pytest.approx(exact, rel=1e-5) and whole.low == whole.high == whole.median
    sampled = nn_scale(x, max_queries=400)
    assert sampled.queries == 400 and sampled.rows == 3000
    assert sampled.low <= exact <= sampled.high
    assert sampled.median == pytest.approx(exact, rel=0.05)
    low, high = sample_percentiles(2000)
    assert (low, high) == pytest.approx((0.478, 0.5225))


def test_nn_scale_interval_covers_the_median_at_its_confidence():
    # 200 different seeded samples of 101 rows from a known distribution: ~95% of intervals must cover.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2500, 3)).astype(np.float32)
    d = np.linalg.norm(x[:, None] - x[None, :], axis=2)
    np.fill_diagonal(d, np.inf)
    nearest = d.min(axis=1)
    exact = np.median(nearest)
    low, high = sample_percentiles(101)
    covered = 0
    for _ in range(200):
        sample = np.sort(rng.choice(nearest, 101, replace=False))
        covered += sample[round(low * 101) - 1] <= exact <= sample[round(high * 101) - 1]
    assert covered >= 180


def test_silhouette_of_float32_in_small_chunks_matches_sklearn():
    x = _collapsed(700, d=12, groups=5, jitter=0.5)
    y = np.random.default_rng(0).integers(0, 6, 700)
    expected = silhouette_score(x.astype(np.float64), y, metric="cosine")
    assert silhouette(x, y, chunk=64) == pytest.approx(expected, abs=1e-6)
    assert silhouette(x, y, metric="euclidean", chunk=50) == pytest.approx(
        silhouette_score(x.astype(np.float64), y), abs=1e-6
    )


def _toy_flow(z: np.ndarray, y: np.ndarray, steps: int = 4) -> np.ndarray:
    """Row-wise flow toward per-row targets: a stand-in for an adapter's flow."""
    path = [z]
    with np.errstate(invalid="ignore"):
        for _ in range(steps):
            path.append(path[-1] + 0.3 * (y - path[-1]))
    return np.stack(path).astype(np.float32)


def test_flow_summary_in_chunks_equals_the_whole_path():
    rng = np.random.default_rng(4)
    z, y = rng.normal(size=(1000, 6)).astype(np.float32), rng.normal(size=(1000, 6)).astype(np.float32)
    whole = _toy_flow(z, y)
    kept = np.array([0, 17, 999])
    calls = []

    def flow(zc, yc):
        calls.append(len(zc))
        return _toy_flow(zc, yc)

    summary = flow_summary(flow, z, y, 4, kept=kept, max_bytes=5 * 6 * 4 * 64)  # 64 rows per chunk
    assert max(calls) == 64 and sum(calls) == 1000  # each row flowed once
    np.testing.assert_array_equal(summary.start, whole[0])
    np.testing.assert_array_equal(summary.end, whole[-1])
    np.testing.assert_array_equal(summary.paths, whole[:, kept])
    np.testing.assert_allclose(mean_per_step(summary), mean_per_step(whole))
    labels = np.arange(1000) % 5
    assert endpoint_metrics(summary, labels, labels[::-1]) == endpoint_metrics(whole, labels, labels[::-1])


def test_flow_summary_marks_diverged_rows():
    z = np.ones((10, 3), dtype=np.float32)
    y = z.copy()
    y[3] = np.inf
    summary = flow_summary(_toy_flow, z, y, 4, max_bytes=1)
    assert summary.finite.tolist() == [True] * 3 + [False] + [True] * 6
    assert summarize(_toy_flow(z, y)).finite.tolist() == summary.finite.tolist()
    reason = endpoint_metrics(summary, np.arange(10) % 2, np.arange(10) % 2)["distinct_endpoints"]
    assert "1 of 10 trajectories" in reason.reason


def test_flow_summary_refuses_a_flow_of_another_shape():
    z = np.ones((10, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="expected"):
        flow_summary(_toy_flow, z, z, 5)  # the flow takes 4 steps


def test_field_stats_in_conditioned_chunks_keep_each_rows_condition():
    weight = torch.diag(torch.tensor([4.0, -1.0, 0.5, 0.0, 1.0]))
    z = torch.nn.functional.normalize(torch.randn(300, 5, generator=torch.Generator().manual_seed(0)), dim=1)
    y = 4 * z[:, :1] ** 2  # a condition that goes with the point, so a misaligned one changes the mean

    def field(points, cond):
        return (points @ weight.T) * cond

    # Surface divergence of c * A z is c (tr A - z.A z) per row: chunks must keep each row's condition.
    closed = (torch.einsum("ii->", weight) - torch.einsum("ni,ij,nj->n", z, weight, z)) * y[:, 0]
    for rows in (300, 37):
        stats = field_stats(field, z, condition=y, rows=rows, probes=400)
        assert stats.divergence == pytest.approx(float(closed.mean()), abs=0.05)
    shuffled = closed * y[torch.randperm(300, generator=torch.Generator().manual_seed(2)), 0] / y[:, 0]
    assert abs(float(shuffled.mean()) - float(closed.mean())) > 0.1  # a misaligned condition would show
