"""Exact distinct counts on any data (issue 22): the projected bfloat16 sweep against all-pairs answers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from core.metrics.flow import clustering
from core.metrics.flow.clustering import _assign, _centres, _sweep_basis, nn_scale, radius_components


def _brute(x: np.ndarray, eps: float) -> np.ndarray:
    """Components of "distance <= eps" from every pair's float64 difference (no expanded form)."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    rows, cols = [], []
    for i in range(len(x)):
        d2 = ((x[i + 1 :] - x[i]) ** 2).sum(axis=1)
        near = np.flatnonzero(d2 <= eps * eps) + i + 1
        rows.extend([i] * len(near))
        cols.extend(near.tolist())
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(x), len(x)))
    return connected_components(graph, directed=False)[1]


def _same(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.max() == theirs.max()
    assert adjusted_rand_score(ours, theirs) == 1.0


def _sphere(n: int, d: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal((n, d))
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


def _mixed(n: int, d: int, seed: int) -> np.ndarray:
    """Isolated random directions, a few tight clusters (one of 300 rows) and some close pairs."""
    rng = np.random.default_rng(seed)
    x = _sphere(n, d, seed)
    sizes = [300, 40, 12, 5]
    start = 0
    for size in sizes:
        x[start : start + size] = x[start] + rng.normal(size=(size, d)).astype(np.float32) * 0.01 / np.sqrt(d)
        start += size
    pairs = rng.choice(np.arange(start, n), (40, 2), replace=False)
    x[pairs[:, 1]] = x[pairs[:, 0]] + rng.normal(size=(40, d)).astype(np.float32) * 0.2 / np.sqrt(d)
    return x[rng.permutation(n)]


def _eps(x: np.ndarray) -> float:
    return 0.25 * nn_scale(x).median


def _swept(x: np.ndarray, eps: float, narrower: bool = True) -> np.ndarray:
    """Components found by the sweep alone (with a projection narrower than the rows if `narrower`)."""
    basis = _sweep_basis(x, eps, seed=0)
    assert basis is not None and (basis[1].shape[1] < x.shape[1] or not narrower)
    forest = clustering._Forest(len(x))
    clustering._sweep(forest, x, eps, *basis)
    return clustering._codes(forest, len(x))


def test_radius_components_sweep_rows_without_cell_structure(monkeypatch):
    x = _sphere(1200, 128, 7)
    eps = _eps(x)
    assert _assign(x, _centres(x, 30, seed=0), eps) is None
    calls = []
    monkeypatch.setattr(clustering, "_sweep", lambda *args: calls.append(args))
    radius_components(x, eps, cells=30)
    assert len(calls) == 1


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of 96 x 256 pairs, so a few thousand rows cross many row blocks and column chunks."""
    monkeypatch.setattr(clustering, "_SWEEP_ROWS", 96)
    monkeypatch.setattr(clustering, "_SWEEP_COLS", 256)
    monkeypatch.setattr(clustering, "_SWEEP_DENSE", 500)


@pytest.mark.parametrize("kind", ["unstructured", "mixed"])
def test_sweep_equals_dbscan_and_all_pairs(kind, small_tiles):
    x = _sphere(1800, 128, 0) if kind == "unstructured" else _mixed(1800, 128, 1)
    eps = _eps(x)
    ours = _swept(x, eps)
    _same(ours, DBSCAN(eps=eps, min_samples=1).fit(x).labels_)
    _same(ours, _brute(x, eps))
    if kind == "mixed":
        assert np.bincount(ours).max() == 300 and ours.max() + 1 < 1800 - 300


def test_sweep_joins_pairs_exactly_at_epsilon_and_not_beyond(small_tiles):
    # Dyadic coordinates: every distance below is exact in float32 and float64, so the boundary is sharp.
    rng = np.random.default_rng(2)
    x = (rng.integers(-64, 64, (1500, 64)) / 64).astype(np.float32)
    eps = 0.5
    at, beyond = x[:100].copy(), x[100:200].copy()
    at[np.arange(100), rng.integers(0, 64, 100)] += 0.5  # exactly eps away
    beyond[np.arange(100), rng.integers(0, 64, 100)] += 0.5 + 2.0**-12  # just beyond
    x = np.concatenate([x, at, beyond])
    ours = _swept(x, eps)
    _same(ours, _brute(x, eps))
    assert (ours[:100] == ours[1500:1600]).all()
    assert (ours[100:200] != ours[1600:1700]).all()


def test_sweep_follows_chains_across_row_blocks_and_column_chunks(small_tiles):
    # Chains of five rows, each link just inside eps and each row's second neighbour beyond it: one
    # component per chain only if every link is found, wherever the sort puts its two rows.
    rng = np.random.default_rng(3)
    x = _sphere(2000, 96, 3)
    eps = _eps(x)
    steps = rng.normal(size=(100, 4, 96))
    steps *= 0.95 * eps / np.linalg.norm(steps, axis=2, keepdims=True)
    steps[:, :, 0] = np.abs(steps[:, :, 0])  # links all lean the same way along the first axis
    chains = x[:100, None] + np.concatenate([np.zeros((100, 1, 96)), np.cumsum(steps, axis=1)], axis=1)
    x[:500] = chains.reshape(500, 96)
    ours = _swept(x, eps, narrower=False)  # pairs two links apart are hard to screen out when projected
    assert len(np.unique(ours[:500])) == 100
    _same(ours, _brute(x, eps))


@pytest.mark.parametrize(("offset", "scale"), [(7.0, 0.05), (100.0, 1.0)])
def test_sweep_and_scale_hold_far_from_the_origin(offset, scale, small_tiles):
    # A common offset much larger than the rows' spread: float32 products must not cancel the spread.
    near = _sphere(1500, 128, 4)
    x = (near * scale + offset).astype(np.float32)
    assert nn_scale(x).median == pytest.approx(scale * nn_scale(near).median, rel=1e-3)
    eps = _eps(x)
    _same(_swept(x, eps), _brute(x, eps))


@pytest.mark.parametrize(
    ("x", "eps", "expected"),
    [
        (np.zeros((1, 16), dtype=np.float32), 0.1, [0]),
        (np.ones((700, 16), dtype=np.float32), 1e-3, [0] * 700),
        (np.repeat(_sphere(350, 32, 5), 2, axis=0), 1e-6, np.repeat(np.arange(350), 2)),
    ],
)
def test_single_identical_and_duplicated_rows(x, eps, expected):
    _same(radius_components(x, eps, cells=20), np.asarray(expected))
    if len(x) > 1 and _sweep_basis(x, eps, seed=0) is not None:
        _same(_swept(x, eps), np.asarray(expected))


def test_sweep_basis_declines_when_every_pair_is_near():
    x = _sphere(800, 32, 6)
    assert _sweep_basis(x, 3.0, seed=0) is None
    assert len(np.unique(radius_components(x, 3.0, cells=30))) == 1


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(2, 400),
    d=st.sampled_from([3, 17, 64]),
    quantile=st.floats(0.0, 0.9),
    clusters=st.integers(0, 6),
)
def test_sweep_equals_all_pairs_property(seed, n, d, quantile, clusters):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    if clusters:
        centres = rng.normal(size=(clusters, d)) * 3
        take = rng.random(n) < 0.5
        x[take] = (
            centres[rng.integers(0, clusters, take.sum())] + rng.normal(size=(take.sum(), d)) * 0.05
        ).astype(np.float32)
    nearest = np.sort(np.linalg.norm(x[:, None] - x[None, :], axis=2), axis=1)[:, 1]
    eps = float(np.quantile(nearest, quantile)) + 1e-6
    basis = _sweep_basis(x, eps, seed=0)
    if basis is None:
        return
    forest = clustering._Forest(n)
    clustering._sweep(forest, x, eps, *basis)
    _same(clustering._codes(forest, n), _brute(x, eps))


def _blobs(n: int, d: int, blobs: int, seed: int, spread: float, apart: float) -> np.ndarray:
    """Wide blobs like flowed endpoints: rows `spread` apart inside a blob, centres `apart` apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(blobs, d)) * apart / np.sqrt(2 * d)
    x = centres[rng.integers(0, blobs, n)] + rng.normal(size=(n, d)) * spread / np.sqrt(2 * d)
    return x.astype(np.float32)


def _covered(x: np.ndarray, eps: float) -> np.ndarray:
    """Components found by the leader cover alone, which must accept the rows."""
    forest = clustering._Forest(len(x))
    assert clustering._cover(forest, x, eps, seed=0)
    return clustering._codes(forest, len(x))


@pytest.mark.parametrize(
    ("spread", "apart", "components"),
    [(0.8, 1.2, 4), (1.0, 1.2, 12), (0.8, 1.6, 12)],  # blobs joined in places / close but apart / apart
)
def test_cover_equals_dbscan_and_all_pairs(spread, apart, components, monkeypatch):
    x = _blobs(2000, 64, 12, 0, spread, apart)
    assert clustering._crowded(x, 1.0, seed=0)
    ours = _covered(x, 1.0)
    assert ours.max() + 1 == components
    _same(ours, DBSCAN(eps=1.0, min_samples=1).fit(x).labels_)
    _same(ours, _brute(x, 1.0))
    # radius_components takes the cover where cells cannot prune, and not the sweep.
    monkeypatch.setattr(clustering, "_sweep", None)
    _same(radius_components(x, 1.0, cells=45), ours)


def _mirrored(gap: float) -> tuple[np.ndarray, int, int]:
    """Two crowded blobs mirrored across x0 = 0, dyadic (every distance exact); the rows a (x0 = -gap / 2)
    and its mirror b are the only rows of the two blobs within 1 + gap - 1 along x0. Returns (x, a, b)."""
    rng = np.random.default_rng(8)
    half = np.round(rng.normal(size=(600, 16)) * 0.12 * 64) / 64
    half[:, 0] = -0.5 - rng.integers(8, 160, 600) / 64
    half[0, 0] = -gap / 2
    mirror = half.copy()
    mirror[:, 0] *= -1
    return np.concatenate([half, mirror]).astype(np.float32), 0, 600


@pytest.mark.parametrize(("gap", "joined"), [(1.0, True), (1.0 + 2.0**-11, False)])
def test_cover_joins_pairs_exactly_at_epsilon_along_the_centroid_line(gap, joined):
    # The pair (a, b) lies on the line between the blobs' centroids, exactly eps (or just beyond) apart:
    # the projection screen must keep it, and the exact measure decide it.
    x, a, b = _mirrored(gap)
    ours = _covered(x, 1.0)
    _same(ours, _brute(x, 1.0))
    assert (ours[a] == ours[b]) == joined
    assert len(np.unique(ours)) == (1 if joined else 2)


def test_cover_follows_chains_between_blobs():
    # Chains of five rows from one blob toward another, each link just inside eps and each row's second
    # neighbour beyond it: blobs joined only if every link is found, across parts.
    rng = np.random.default_rng(9)
    x = _blobs(1500, 48, 6, 1, 0.8, 4.0)
    before = _brute(x, 1.0)
    starts = rng.choice(1500, 20, replace=False)
    ends = np.array([rng.choice(np.flatnonzero(before != before[s])) for s in starts])
    links = []
    for s, e in zip(starts, ends, strict=True):
        way = (x[e] - x[s]) / np.linalg.norm(x[e] - x[s])
        links.append(x[s] + np.outer(np.arange(1, 6) * 0.95, way))
    x = np.concatenate([x, *links]).astype(np.float32)
    ours = _covered(x, 1.0)
    _same(ours, _brute(x, 1.0))
    assert ours.max() < before.max()


def test_cover_holds_far_from_the_origin():
    x = _blobs(1500, 64, 8, 2, 0.9, 1.3) * 0.05 + 50.0
    _same(_covered(x, 0.05), _brute(x, 0.05))


@pytest.mark.parametrize(("limit", "value"), [("_COVER_LEADERS", 3), ("_COVER_PARTS", 2)])
def test_cover_declines_past_its_limits_and_the_sweep_finishes(limit, value, monkeypatch):
    x = _blobs(1500, 64, 10, 3, 1.0, 1.2)
    monkeypatch.setattr(clustering, limit, value)
    forest = clustering._Forest(len(x))
    assert not clustering._cover(forest, x, 1.0, seed=0)
    # Whatever the cover merged before declining is within eps: the sweep completes it exactly.
    _same(radius_components(x, 1.0, cells=40), _brute(x, 1.0))


def test_crowded_tells_blobs_from_isolated_rows():
    assert not clustering._crowded(_sphere(1500, 128, 0), _eps(_sphere(1500, 128, 0)), seed=0)
    assert clustering._crowded(_blobs(1500, 64, 8, 0, 0.8, 1.6), 1.0, seed=0)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(2, 600),
    d=st.sampled_from([3, 17, 64]),
    blobs=st.integers(1, 8),
    spread=st.floats(0.3, 1.5),
    apart=st.floats(0.5, 4.0),
)
def test_cover_equals_all_pairs_property(seed, n, d, blobs, spread, apart):
    x = _blobs(n, d, blobs, seed, spread, apart)
    forest = clustering._Forest(n)
    if clustering._cover(forest, x, 1.0, seed=0):
        _same(clustering._codes(forest, n), _brute(x, 1.0))
