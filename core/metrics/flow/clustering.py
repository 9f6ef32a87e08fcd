"""Clustering metrics over endpoints: exact silhouette, distinct endpoints, purity.

Silhouette follows sklearn's definition (`silhouette_samples`): a(i) is the mean distance to the other
members of i's cluster, b(i) the smallest mean distance to another cluster, s(i) = (b - a) / max(a, b),
singletons get s = 0, and the score is defined only for 2 <= n_labels <= n_samples - 1.

For cosine distance the score is exact without any N x N work: rows are normalised (zero rows stay
zero, as in sklearn), so d(x, y) = 1 - x.y and the summed distance from x to cluster c is
n_c - x . S_c with S_c the sum of c's rows. One [N, D] x [D, L] product in float64 gives every
per-cluster sum, which is O(N L D) instead of O(N^2 D); rows are converted and normalised in chunks, so
no float64 copy of the whole input is made.

Distinct endpoints are the connected components of "distance <= epsilon", found exactly without
comparing all pairs in full dimension (`radius_components`); epsilon comes from the inputs' median
nearest-neighbour distance, estimated from a seeded sample of query rows with a distribution-free interval
(`nn_scale`).

Why one module: the silhouette, the nearest-neighbour scale and the radius components share the chunk and
memory budgets and the float32 rounding bounds defined here, and the flow checks use them together (the
scale sets the radius of the components); splitting the component search into its own module is the next
step if it grows further.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.stats import binom
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.cluster import contingency_matrix

from ..base import Undefined

SilhouetteMetric = Literal["cosine", "euclidean"]

# Points closer than this fraction of the inputs' median nearest-neighbour distance count as one
# endpoint: well below the spacing of distinct inputs, well above the jitter of a collapsed prototype.
EPSILON_FACTOR = 0.25
# Query rows sampled for the median nearest-neighbour distance above this many rows.
MAX_QUERIES = 2000
_CHUNK = 2048
# Row blocks of the component search, and the element budget of one temporary distance matrix (64 MB
# of float64), so memory stays bounded at any N.
_BLOCK = 2048
_BLOCK_ELEMENTS = 8 * 1024 * 1024
# Up to this many rows the component search compares all pairs at once (one cell).
_ONE_CELL_ROWS = 4096
_SAMPLE_PER_CELL = 40
_KMEANS_ITERATIONS = 5
# Bound on float32 rounding of a dot product, per summed term (a generous multiple of 2**-24).
_ROUNDING = 2.0**-22
# Sweep of rows without cell structure: projection widths tried (leading principal directions), the rows
# sampled to pick one, and the largest share of sampled far pairs the projection may leave unpruned.
_SWEEP_DIMS = (16, 32, 48, 64, 96, 128, 192, 256)
_SWEEP_SAMPLE = 1536
_SWEEP_FALSE_SHARE = 2e-6
# Rows x columns of one bfloat16 filter product, and the candidate count above which a tile is
# compared densely (`_link`) instead of pair by pair.
_SWEEP_ROWS = 1024
_SWEEP_COLS = 4096
_SWEEP_DENSE = 20_000
# Screening precisions, cheapest first, with their unit roundoff: bfloat16 products are several times
# faster, float32 resolves radii that are small beside the rows' spread.
_SCREEN_ROUNDING = {"bfloat16": 2.0**-8, "float32": 2.0**-24}
# Largest screening radius, as a multiple of epsilon, that a precision may need for its rounding.
_SCREEN_SLACK = 1.5
# Cover of crowded rows (collapsed endpoints: a few wide blobs): tried first when a seeded sample needs at
# most this share of its rows as leaders (such endpoints ~6%, clustered embeddings' endpoints ~30%, rows
# without neighbours all); abandoned past this many leaders or parts (each leader costs one pass over
# the rows, each part a column of projections).
_COVER_CROWDED = 0.125
_COVER_LEADERS = 1024
_COVER_PARTS = 256


@dataclass(frozen=True)
class NNScale:
    """Median nearest-neighbour distance and the interval that holds the exact median (see `nn_scale`)."""

    median: float
    low: float
    high: float
    queries: int
    rows: int


def pack_bits(attributes: np.ndarray) -> np.ndarray:
    """Joint label per row: attribute bits [N, A] (0/1) packed into int64 [N], column 0 = bit 0."""
    attributes = np.asarray(attributes)
    if attributes.ndim != 2:
        raise ValueError(f"attributes must be [N, A], got shape {attributes.shape}")
    if attributes.shape[1] > 62:
        raise ValueError(f"at most 62 attributes can be packed, got {attributes.shape[1]}")
    weights = np.left_shift(np.int64(1), np.arange(attributes.shape[1], dtype=np.int64))
    return (attributes.astype(np.int64) != 0).astype(np.int64) @ weights


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _rows(x: np.ndarray, start: int, chunk: int, metric: str) -> np.ndarray:
    """Rows start:start+chunk of x in float64, unit-normalised for cosine."""
    block = x[start : start + chunk].astype(np.float64)
    return _normalise(block) if metric == "cosine" else block


def _label_sums(x: np.ndarray, codes: np.ndarray, n_labels: int, metric: str, chunk: int) -> np.ndarray:
    """Sum of the (normalised) rows of each label, float64 [L, D]."""
    sums = np.zeros((n_labels, x.shape[1]))
    for start in range(0, len(x), chunk):
        block = _rows(x, start, chunk, metric)
        here = codes[start : start + chunk]
        onehot = csr_matrix((np.ones(len(here)), (here, np.arange(len(here)))), shape=(n_labels, len(here)))
        sums += onehot @ block
    return sums


def _cluster_distance_sums(
    x: np.ndarray, codes: np.ndarray, start: int, chunk: int, n_labels: int, metric: str, label_sums
) -> np.ndarray:
    """Summed distance from rows start:start+chunk to every cluster, float64 [chunk, L], self excluded."""
    counts = np.bincount(codes, minlength=n_labels).astype(np.float64)
    block = _rows(x, start, chunk, metric)
    own = codes[start : start + chunk]
    here = np.arange(len(block))
    if metric == "cosine":
        sums = counts - block @ label_sums.T
        # Remove the self term 1 - x.x from the own-cluster sum (1 for an all-zero row, ~0 otherwise).
        sums[here, own] -= 1.0 - np.einsum("ij,ij->i", block, block)
        return sums
    sq_block = np.einsum("ij,ij->i", block, block)
    onehot = csr_matrix((np.ones(len(x)), (np.arange(len(x)), codes)), shape=(len(x), n_labels))
    sums = np.zeros((len(block), n_labels))
    # Columns in chunks too, so the [chunk, chunk] distance block is the only temporary.
    for col in range(0, len(x), chunk):
        other = _rows(x, col, chunk, metric)
        d2 = sq_block[:, None] + np.einsum("ij,ij->i", other, other)[None, :] - 2.0 * (block @ other.T)
        np.maximum(d2, 0.0, out=d2)
        # The expanded form leaves rounding noise on the diagonal; a point is at distance 0 from itself.
        diagonal = here + start - col
        inside = (diagonal >= 0) & (diagonal < len(other))
        d2[here[inside], diagonal[inside]] = 0.0
        sums += (onehot[col : col + chunk].T @ np.sqrt(d2).T).T
    return sums


def silhouette(
    x: np.ndarray, labels: np.ndarray, *, metric: SilhouetteMetric = "cosine", chunk: int = _CHUNK
) -> float | Undefined:
    """Exact mean silhouette of points x [N, D] under labels [N], computed in row chunks of `chunk`.

    cosine: O(N L D), never N x N; euclidean: O(N^2 D) in [chunk, chunk] blocks. Memory O(chunk (D + L))
    beyond the input. Equals sklearn.metrics.silhouette_score(x, labels, metric=metric) to float64 rounding.
    """
    x = np.asarray(x)
    labels = np.asarray(labels).reshape(-1)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"need x [N, D] and labels [N], got {x.shape} and {labels.shape}")
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    n = len(x)
    if not np.isfinite(x).all():
        return Undefined("points contain NaN or inf")
    _, codes = np.unique(labels, return_inverse=True)
    n_labels = int(codes.max()) + 1 if n else 0
    if not 2 <= n_labels <= n - 1:
        return Undefined(f"{n_labels} label(s) for {n} point(s); needs 2 <= labels <= points - 1")
    counts = np.bincount(codes, minlength=n_labels)
    label_sums = _label_sums(x, codes, n_labels, metric, chunk) if metric == "cosine" else None
    total = 0.0
    for start in range(0, n, chunk):
        sums = _cluster_distance_sums(x, codes, start, chunk, n_labels, metric, label_sums)
        here = np.arange(len(sums))
        own_codes = codes[start : start + chunk]
        own = counts[own_codes]
        a = sums[here, own_codes] / np.maximum(own - 1, 1)
        means = sums / counts
        means[here, own_codes] = np.inf
        b = means.min(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (b - a) / np.maximum(a, b)
        total += float((np.nan_to_num(s) * (own > 1)).sum())
    return total / n


def _nearest_distances(x: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Euclidean distance from each row x[q] (q in queries) to its nearest other row of x [N, D]."""
    sq = np.einsum("ij,ij->i", x, x)
    nearest = np.empty(len(queries))
    block = max(1, _BLOCK_ELEMENTS // len(x))
    for start in range(0, len(queries), block):
        rows = queries[start : start + block]
        d2 = sq[rows, None] + sq[None, :] - 2.0 * (x[rows] @ x.T)
        d2[np.arange(len(rows)), rows] = np.inf
        nearest[start : start + block] = d2.min(axis=1)
    return np.sqrt(np.maximum(nearest, 0.0))


def sample_percentiles(queries: int, confidence: float = 0.95) -> tuple[float, float]:
    """(low, high) fractions of a sorted sample of `queries` values that bracket the population median."""
    rank = max(int(binom.ppf((1 - confidence) / 2, queries, 0.5)), 1)
    return rank / queries, (queries - rank + 1) / queries


def nn_scale(
    x: np.ndarray, *, max_queries: int = MAX_QUERIES, confidence: float = 0.95
) -> NNScale | Undefined:
    """Median nearest-neighbour distance of rows of x [N, D] (N >= 2) with its sampling interval.

    Up to `max_queries` rows every row's nearest-neighbour distance is computed (exact median, interval of
    width 0). Above, the median is taken over a fixed seeded sample of `max_queries` query rows, each still
    searched against all N rows, so the cost is O(max_queries N D). [low, high] holds the exact median of
    all N rows with probability >= `confidence`: the sample's order statistics at the binomial
    (max_queries, 1/2) quantiles, which needs no assumption about the distances' distribution.
    """
    x = np.asarray(x, dtype=np.float32)
    if len(x) < 2:
        return Undefined("needs at least two points")
    if not np.isfinite(x).all():
        return Undefined("points contain NaN or inf")
    # Centred, so float32 products measure the rows' spread rather than cancel their common offset.
    x = (x - x.mean(axis=0, dtype=np.float64)).astype(np.float32)
    if len(x) <= max_queries:
        median = float(np.median(_nearest_distances(x, np.arange(len(x)))))
        return NNScale(median, median, median, len(x), len(x))
    queries = np.sort(np.random.default_rng(0).choice(len(x), max_queries, replace=False))
    distances = np.sort(_nearest_distances(x, queries))
    low, high = sample_percentiles(max_queries, confidence)
    return NNScale(
        float(np.median(distances)),
        float(distances[round(low * max_queries) - 1]),
        float(distances[round(high * max_queries) - 1]),
        max_queries,
        len(x),
    )


def median_nn_distance(x: np.ndarray, *, max_queries: int = MAX_QUERIES) -> float | Undefined:
    """Median Euclidean distance from rows of x [N, D] to their nearest other row (see `nn_scale`)."""
    scale = nn_scale(x, max_queries=max_queries)
    return scale if isinstance(scale, Undefined) else scale.median


class _Forest:
    """Union-find over row indices with vectorised find and union; a root is its component's smallest row."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def roots(self, rows: np.ndarray) -> np.ndarray:
        found = self.parent[rows]
        while True:
            up = self.parent[found]
            if np.array_equal(up, found):
                break
            found = up
        self.parent[rows] = found
        return found

    def union(self, u: np.ndarray, v: np.ndarray) -> None:
        while len(u):
            ru, rv = self.roots(u), self.roots(v)
            apart = ru != rv
            u, v, ru, rv = u[apart], v[apart], ru[apart], rv[apart]
            # Several edges may hook the same root: minimum.at keeps one of them, the next round the rest.
            np.minimum.at(self.parent, np.maximum(ru, rv), np.minimum(ru, rv))


def _exact_pairs(x: np.ndarray, a: np.ndarray, b: np.ndarray, eps2: float) -> np.ndarray:
    """Which pairs (a[k], b[k]) are within sqrt(eps2), from float64 differences (in bounded chunks)."""
    within = np.empty(len(a), dtype=bool)
    step = max(1, _BLOCK_ELEMENTS // x.shape[1])
    for s in range(0, len(a), step):
        diff = x[a[s : s + step]].astype(np.float64) - x[b[s : s + step]]
        within[s : s + step] = np.einsum("ij,ij->i", diff, diff) <= eps2
    return within


def _link(forest: _Forest, x: np.ndarray, a: np.ndarray, b: np.ndarray | None, eps2: float) -> None:
    """Merge the components that pairs within sqrt(eps2) join, between rows a and rows b (None: a with a).

    Pairs inside one component merge nothing: when most rows already share a component, only the
    other rows are compared (with every row), so a block of a nearly joined cluster costs little.
    """
    roots = forest.roots(a if b is None else np.concatenate([a, b]))
    values, counts = np.unique(roots, return_counts=True)
    if len(values) == 1:
        return
    if 2 * counts.max() < len(roots):
        _link_block(forest, x, a, b, eps2)
        return
    major = roots == values[counts.argmax()]
    if b is None:
        _link_block(forest, x, a[~major], a, eps2)
        return
    _link_block(forest, x, a[~major[: len(a)]], b, eps2)
    _link_block(forest, x, a[major[: len(a)]], b[~major[len(a) :]], eps2)


def _link_block(forest: _Forest, x: np.ndarray, a: np.ndarray, b: np.ndarray | None, eps2: float) -> None:
    """Merge the components that pairs within sqrt(eps2) join, every pair of rows a x b (None: a x a)."""
    if not len(a) or (b is not None and not len(b)):
        return
    nodes = a if b is None else np.concatenate([a, b])
    # float32 products of rows centred on one of them (so rounding scales with the block's spread, not
    # with the rows' norms); pairs whose distance lies within the rounding band are measured again exactly.
    origin = x[a[0]].astype(np.float64)
    left = (x[a] - origin).astype(np.float32)
    right = left if b is None else (x[b] - origin).astype(np.float32)
    sq_left, sq_right = np.einsum("ij,ij->i", left, left), np.einsum("ij,ij->i", right, right)
    d2 = sq_left[:, None] + sq_right[None, :] - 2.0 * (left @ right.T)
    band = _ROUNDING * x.shape[1] * (float(sq_left.max()) + float(sq_right.max()))
    rows, cols = np.nonzero(d2 <= eps2 + band)
    unsure = d2[rows, cols] > eps2 - band
    if unsure.any():
        other = a if b is None else b
        keep = ~unsure
        keep[unsure] = _exact_pairs(x, a[rows[unsure]], other[cols[unsure]], eps2)
        rows, cols = rows[keep], cols[keep]
    if not len(rows):
        return
    if b is not None:
        cols = cols + len(a)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(len(nodes), len(nodes)))
    count, labels = connected_components(graph, directed=False)
    first = np.full(count, len(nodes))
    np.minimum.at(first, labels, np.arange(len(nodes)))
    forest.union(nodes, nodes[first[labels]])


def _centres(x: np.ndarray, cells: int, seed: int) -> np.ndarray:
    """Up to `cells` distinct k-means centres fitted on a seeded sample of x's rows, [C, D].

    Float32 values held in float64, so every quantity derived from them describes the same points.
    """
    if cells <= 1:
        centres = x.mean(axis=0, dtype=np.float64)[None, :]
    else:
        rng = np.random.default_rng(seed)
        sample = x[rng.choice(len(x), min(len(x), _SAMPLE_PER_CELL * cells), replace=False)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct rows than cells is fine
            kmeans = KMeans(cells, init="random", n_init=1, max_iter=_KMEANS_ITERATIONS, random_state=seed)
            centres = kmeans.fit(sample).cluster_centers_
    return np.unique(centres.astype(np.float32), axis=0).astype(np.float64)


@dataclass(frozen=True)
class _Cells:
    """Rows assigned to their nearest centre, and the rows that lie near the plane to another cell."""

    own: np.ndarray  # int [N]: cell of each row
    to_centre: np.ndarray  # float64 [N]: squared distance to the own centre
    near_rows: np.ndarray  # int [E]
    near_cells: np.ndarray  # int [E]: the other cell
    near_gap: np.ndarray  # float64 [E]: distance from the row to the plane between the two centres


def _assign(x: np.ndarray, centres: np.ndarray, epsilon: float) -> _Cells | None:
    """Cells of x's rows and every (row, other cell) whose separating plane may be within epsilon of the row.

    h_ij(x) = (|x - c_j|^2 - |x - c_i|^2) / (2 |c_i - c_j|) is the signed distance from x to the plane
    halfway between the centres i and j, so for any two rows |x - y| >= h_ij(x) + h_ji(y) (their distance
    along the plane's normal): a pair within epsilon needs both h <= epsilon. The float32 products are
    bounded by a worst-case rounding term that is added to h's slack, so no pair is ever missed, whichever
    cell rounding puts a row in. None when the rows sit near so many planes that comparing cell by cell
    would cost more than comparing all pairs.
    """
    n, k = len(x), len(centres)
    csq = np.einsum("ij,ij->i", centres, centres)
    gap = np.sqrt(np.maximum(csq[:, None] + csq[None, :] - 2.0 * (centres @ centres.T), 0.0))
    # Elementwise work in float32 too: its rounding is far below the slack added for the products.
    twice_gap = (2.0 * gap).astype(np.float32)
    centres32, csq32 = centres.astype(np.float32), csq.astype(np.float32)
    rounding = np.float32(2.0 * _ROUNDING * x.shape[1])
    own = np.empty(n, dtype=np.intp)
    to_centre = np.empty(n)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    kept, budget = 0, n * max(8, k // 4)
    block = max(1, _BLOCK_ELEMENTS // k)
    for start in range(0, n, block):
        rows = x[start : start + block]
        sq = np.einsum("ij,ij->i", rows, rows)
        d2 = rows @ centres32.T
        d2 *= -2.0
        d2 += sq[:, None]
        d2 += csq32[None, :]
        cell = d2.argmin(axis=1)
        here = np.arange(len(cell))
        own[start : start + block] = cell
        nearest = d2[here, cell]
        to_centre[start : start + block] = nearest
        d2 -= (nearest + rounding * (sq + csq32.max()))[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            d2 /= twice_gap[cell]
        d2[here, cell] = np.inf
        r, c = np.nonzero(d2 <= epsilon)
        kept += len(r)
        if k > 1 and kept > budget:
            return None
        parts.append((r + start, c, d2[r, c].astype(np.float64)))
    near = [np.concatenate(p) for p in zip(*parts, strict=True)]
    return _Cells(own, to_centre, *near)


def radius_components(
    x: np.ndarray, epsilon: float, *, cells: int | None = None, seed: int = 0
) -> np.ndarray:
    """Connected components of the graph "distance <= epsilon" over rows of x [N, D]; int64 [N].

    Exact: the same partition as DBSCAN(eps=epsilon, min_samples=1), every candidate pair measured in
    float64. Rows are split into k-means cells (about sqrt(N) of them, fitted on a seeded sample; `cells`
    overrides). Rows of two cells are compared only where both lie within epsilon of the plane between the
    cells' centres (no closer pair can exist elsewhere, see `_assign`); rows within epsilon of their cell's
    most central row are merged first, and a block whose rows already form one component is skipped.
    Near-linear on clustered data (real embeddings). Crowded rows (collapsed endpoints: wide blobs,
    most rows with many others within epsilon) are first covered by leaders and the parts compared
    along the lines between their centroids (`_cover`). Where cells cannot prune, rows are swept in a
    projection (`_sweep`), which compares every pair only when no projection prunes.
    """
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    epsilon = float(epsilon)
    if cells is None:
        cells = 1 if n <= _ONE_CELL_ROWS else int(np.ceil(np.sqrt(n)))
    forest = _Forest(n)
    if cells > 1 and _crowded(x, epsilon, seed) and _cover(forest, x, epsilon, seed):
        return _codes(forest, n)
    centres = _centres(x, min(cells, n), seed)
    assigned = _assign(x, centres, epsilon)
    if assigned is None:
        basis = _sweep_basis(x, epsilon, seed)
        if basis is not None:
            _sweep(forest, x, epsilon, *basis)
            return _codes(forest, n)
        centres = _centres(x, 1, seed)
        assigned = _assign(x, centres, epsilon)
    own = assigned.own
    order = np.lexsort((assigned.to_centre, own))
    bounds = np.searchsorted(own[order], np.arange(len(centres) + 1))
    central = np.zeros(len(centres), dtype=np.intp)
    filled = bounds[:-1] < bounds[1:]
    central[filled] = order[bounds[:-1][filled]]
    eps2 = epsilon**2
    for start in range(0, n, _BLOCK):
        rows = np.arange(start, min(start + _BLOCK, n))
        diff = x[rows].astype(np.float64) - x[central[own[rows]]]
        near = rows[np.einsum("ij,ij->i", diff, diff) <= eps2]
        forest.union(near, central[own[near]])
    for cell in np.flatnonzero(filled):
        members = order[bounds[cell] : bounds[cell + 1]]
        for i in range(0, len(members), _BLOCK):
            _link(forest, x, members[i : i + _BLOCK], None, eps2)
            for j in range(i + _BLOCK, len(members), _BLOCK):
                _link(forest, x, members[i : i + _BLOCK], members[j : j + _BLOCK], eps2)
    _link_across_cells(forest, x, assigned, len(centres), epsilon)
    return _codes(forest, n)


def _crowded(x: np.ndarray, epsilon: float, seed: int) -> bool:
    """Whether a seeded sample of x's rows needs at most `_COVER_CROWDED` of them as leaders (`_leaders`)."""
    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(len(x), min(len(x), _SWEEP_SAMPLE), replace=False))]
    return _leaders(sample, epsilon, seed, int(_COVER_CROWDED * len(sample))) is not None


def _leaders(x: np.ndarray, epsilon: float, seed: int, limit: int | None = None) -> np.ndarray | None:
    """Rows such that (up to float32 rounding) every row of x [N, D] lies within epsilon of one; None
    past `limit` (default `_COVER_LEADERS`). Greedy over a seeded order: a row not yet near a leader
    becomes one.

    Only a heuristic choice: the links to the leaders are measured exactly afterwards (`_cover`).
    """
    order = np.random.default_rng(seed).permutation(len(x))
    origin = x.mean(axis=0, dtype=np.float64)
    chosen = np.zeros((0, x.shape[1]), dtype=np.float32)
    leaders: list[np.ndarray] = []
    eps2 = np.float32(epsilon**2)
    for start in range(0, len(x), _BLOCK):
        rows = order[start : start + _BLOCK]
        block = (x[rows] - origin).astype(np.float32)
        sq = np.einsum("ij,ij->i", block, block)
        d2 = sq[:, None] + np.einsum("ij,ij->i", chosen, chosen)[None, :] - 2.0 * (block @ chosen.T)
        far = (d2 > eps2).all(axis=1)
        rows, block, sq = rows[far], block[far], sq[far]
        near = sq[:, None] + sq[None, :] - 2.0 * (block @ block.T) <= eps2
        taken = np.zeros(len(rows), dtype=bool)
        new = []
        for i in range(len(rows)):
            if not taken[i]:
                new.append(i)
                taken |= near[i]
        leaders.append(rows[new])
        chosen = np.concatenate([chosen, block[new]])
        if len(chosen) > (_COVER_LEADERS if limit is None else limit):
            return None
    return np.concatenate(leaders)


def _cover(forest: _Forest, x: np.ndarray, epsilon: float, seed: int) -> bool:
    """Merge every pair of rows of x [N, D] within epsilon, for rows that a few leaders cover.

    Every row is linked to every leader within epsilon (measured exactly, `_link_block`), so rows near
    two leaders join their parts. Two parts A, B can only hold a pair within epsilon whose projections on
    the line between their centroids lie within epsilon (a projection never lengthens a difference): the
    rows of A within epsilon (plus rounding) of B's extent along it, and of B within epsilon of A's, are
    compared exactly (`_link`), nearest parts first, skipping parts already joined. False, after merging
    only pairs within epsilon, when the rows need more than `_COVER_LEADERS` leaders or leave more than
    `_COVER_PARTS` parts; then the sweep compares the rest.
    """
    leaders = _leaders(x, epsilon, seed)
    if leaders is None:
        return False
    n, eps2 = len(x), epsilon**2
    for start in range(0, n, _BLOCK):
        _link_block(forest, x, leaders, np.arange(start, min(start + _BLOCK, n)), eps2)
    _, part = np.unique(forest.roots(np.arange(n)), return_inverse=True)
    parts = int(part.max()) + 1
    if parts > _COVER_PARTS:
        return False
    origin = x.mean(axis=0, dtype=np.float64)
    # Centroids rounded to float32: the projection lines are those between the rounded centroids.
    centroids = (
        _label_sums(x, part, parts, "euclidean", _CHUNK) / np.bincount(part)[:, None] - origin
    ).astype(np.float32)
    # G[x, P] = (x - origin) . c_P in float32; `spread` bounds |x - origin| for its rounding bound.
    along = np.empty((n, parts), dtype=np.float32)
    spread = 0.0
    for start in range(0, n, _BLOCK):
        block = (x[start : start + _BLOCK] - origin).astype(np.float32)
        spread = max(spread, float(np.sqrt(np.einsum("ij,ij->i", block, block).max())))
        along[start : start + _BLOCK] = block @ centroids.T
    wide = centroids.astype(np.float64)
    gaps = np.sqrt(_square_distances(wide))
    reach = float(np.sqrt((wide**2).sum(axis=1).max()))
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(parts + 1))
    pairs = np.triu_indices(parts, 1)
    for k in np.argsort(gaps[pairs], kind="stable"):
        i, j = pairs[0][k], pairs[1][k]
        a, b = order[bounds[i] : bounds[i + 1]], order[bounds[j] : bounds[j + 1]]
        if forest.roots(a[:1])[0] == forest.roots(b[:1])[0]:
            continue
        # The line's length from the difference itself (the expanded form above, good enough to order
        # the pairs, could understate it and so overstate projections).
        gap = float(np.linalg.norm(wide[j] - wide[i]))
        if gap > 0:  # parts with one rounded centroid have no line between them: all pairs
            # Each projection is off by at most the two float32 products' rounding plus the rounding
            # of the centred row, so candidates get twice that much slack (and float64's own rounding
            # a relative 1e-9).
            slack = epsilon * (1 + 1e-9) + 2.0 * spread * (
                2.0 * _ROUNDING * x.shape[1] * reach / gap + 2.0**-23
            )
            on_a = (along[a, j].astype(np.float64) - along[a, i]) / gap
            on_b = (along[b, j].astype(np.float64) - along[b, i]) / gap
            a, b = a[on_a >= on_b.min() - slack], b[on_b <= on_a.max() + slack]
        for s in range(0, len(a), _BLOCK):
            for t in range(0, len(b), _BLOCK):
                _link(forest, x, a[s : s + _BLOCK], b[t : t + _BLOCK], eps2)
    return True


def _codes(forest: _Forest, n: int) -> np.ndarray:
    """Component label per row, int64 [n], numbered in the order of each component's smallest row."""
    _, codes = np.unique(forest.roots(np.arange(n)), return_inverse=True)
    return codes.astype(np.int64)


def _square_distances(a: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of a float64 [M, K], [M, M]."""
    sq = np.einsum("ij,ij->i", a, a)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * (a @ a.T), 0.0)


def _screen_error(k: int, norm: float, reach: float, precision: str) -> float:
    """Twice the most that rounding can lower the sweep's screening product (see `_sweep`).

    The product sums k + 2 terms in float32 from inputs rounded to `precision` and rounds its result to
    it; its terms are bounded by the rows' largest projected norm `norm` and the screening radius `reach`.
    """
    return 4.0 * (_SCREEN_ROUNDING[precision] + (k + 3) * 2.0**-24) * (3.0 * norm**2 + reach**2)


def _sweep_basis(x: np.ndarray, epsilon: float, seed: int) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Origin float64 [D], orthonormal basis float64 [D, K] and precision of the sweep's screen, or None.

    An orthonormal projection never lengthens a difference, so pairs farther apart than the screening
    radius once projected are far in full: any K is exact, K only decides how many far pairs the screen
    leaves to measure. On a seeded sample (leading principal directions), K is one width of
    `_SWEEP_DIMS` (or the sample's rank) wider than the narrowest that screens out every sampled pair beyond the screen's radius
    (the sample sees a millionth of the pairs that the sweep will), or the narrowest that leaves at most
    `_SWEEP_FALSE_SHARE` of them; bfloat16 where its rounding widens the radius by at most
    `_SCREEN_SLACK`, else float32. None when neither precision resolves epsilon (or no sampled pair is
    far): then comparing in full float32 costs less.
    """
    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(len(x), min(len(x), _SWEEP_SAMPLE), replace=False))].astype(np.float64)
    origin = sample.mean(axis=0)
    sample -= origin
    basis = np.linalg.svd(sample, full_matrices=False)[2].T
    upper = np.triu_indices(len(sample), 1)
    full = _square_distances(sample)[upper]
    proj = sample @ basis
    norms = np.sqrt(np.cumsum(proj**2, axis=1).max(axis=0))
    widths = sorted({min(k, basis.shape[1]) for k in (*_SWEEP_DIMS, basis.shape[1])})
    # Squared projected distances, width by width: each step adds its directions' share.
    partial, done = [], 0
    for k in widths:
        partial.append((partial[-1] if partial else 0.0) + _square_distances(proj[:, done:k])[upper])
        done = k
    for precision, rounding in _SCREEN_ROUNDING.items():
        fallback = None
        for i, k in enumerate(widths):
            reach = epsilon + 2.0 * rounding * norms[k - 1]
            screen = reach**2 + 2.0 * _screen_error(k, norms[k - 1], reach, precision)
            if screen > (_SCREEN_SLACK * epsilon) ** 2:
                break  # rounding alone would let through pairs well beyond epsilon
            # Pairs beyond the screen's radius in full are those a width can prune; the few between
            # epsilon and that radius pass at any width and are measured.
            far = full > screen
            if not far.any():
                return None
            passed = np.count_nonzero(far & (partial[i] <= screen))
            if passed == 0:
                return origin, basis[:, : widths[min(i + 1, len(widths) - 1)]], precision
            if fallback is None and passed <= _SWEEP_FALSE_SHARE * np.count_nonzero(far):
                fallback = k
        if fallback is not None:
            return origin, basis[:, :fallback], precision
    return None


def _sweep(
    forest: _Forest, x: np.ndarray, epsilon: float, origin: np.ndarray, basis: np.ndarray, precision: str
) -> None:
    """Merge every pair of rows of x [N, D] within epsilon, all pairs screened in a projection [D, K].

    Rows are projected (float64), sorted by the first coordinate (pairs further apart than epsilon along
    it are never formed) and rounded to `precision` (h). |h_x - h_y| <= r, with r = epsilon plus twice the
    largest rounding displacement, holds for every pair within epsilon and reads
    h_x.h_y - |h_y|^2 / 2 - t_x >= 0 with t_x = (|h_x|^2 - r^2) / 2: one product of
    [h_x, 1, t_x - e] by [h_y, -|h_y|^2 / 2, -1] screens a tile of pairs, where e (`_screen_error`) covers
    the product's rounding, so its sign bit alone says which pairs may be near. Tiles without a survivor
    (almost all, on data without cluster structure) cost one product and one integer maximum; survivors
    not yet in one component are measured exactly (`_join_pairs`), or densely where a tile has many
    (`_link`).
    """
    import torch

    n, k = len(x), basis.shape[1]
    dtype = getattr(torch, precision)
    lead = np.empty(n)
    for start in range(0, n, _BLOCK):
        lead[start : start + _BLOCK] = (x[start : start + _BLOCK].astype(np.float64) - origin) @ basis[:, 0]
    order = np.argsort(lead, kind="stable")
    lead = lead[order]
    # Rows in sorted order, projected (float64) and rounded to `precision` in chunks: [h, 1, t - e] on
    # the left, [h, -|h|^2 / 2, -1] on the right; float64 projection error is far below `margin`.
    margin = 1e-9 * epsilon
    left = torch.empty((n, k + 2), dtype=dtype)
    right = torch.empty((n, k + 2), dtype=dtype)
    sq, shift = np.empty(n), np.empty(n)
    for start in range(0, n, _BLOCK):
        proj = (x[order[start : start + _BLOCK]].astype(np.float64) - origin) @ basis
        low = torch.from_numpy(proj.astype(np.float32)).to(dtype)
        held = low.double().numpy()
        shift[start : start + len(proj)] = np.linalg.norm(held - proj, axis=1)
        sq[start : start + len(proj)] = np.einsum("ij,ij->i", held, held)
        margin = max(margin, 1e-9 * float(np.abs(proj).max()))
        left[start : start + len(proj), :k] = low
        right[start : start + len(proj), :k] = low
    reach = epsilon + margin + 2.0 * float(shift.max())
    error = _screen_error(k, float(np.sqrt(sq.max())), reach, precision)
    left[:, k] = 1.0
    left[:, k + 1] = torch.from_numpy((sq - reach**2) / 2 - error).float().to(dtype)
    right[:, k] = torch.from_numpy(-sq / 2).float().to(dtype)
    right[:, k + 1] = -1.0
    below = torch.ones(_SWEEP_ROWS, _SWEEP_COLS, dtype=torch.bool).tril()
    eps2 = epsilon**2
    for i0 in range(0, n, _SWEEP_ROWS):
        i1 = min(i0 + _SWEEP_ROWS, n)
        end = int(np.searchsorted(lead, lead[i1 - 1] + epsilon + margin, side="right"))
        found_a, found_b = [], []
        for j0 in range(i0, end, _SWEEP_COLS):
            j1 = min(j0 + _SWEEP_COLS, end)
            product = torch.mm(left[i0:i1], right[j0:j1].T)
            if j0 == i0:  # a row against itself and the rows before it: each pair once
                product.masked_fill_(below[: i1 - i0, : j1 - j0], float("-inf"))
            # A float is >= +0 exactly when its sign bit is clear, i.e. its same-width integer view is >= 0.
            signs = product.view(torch.int16 if dtype == torch.bfloat16 else torch.int32).numpy()
            if signs.max() < 0:
                continue
            hit = np.flatnonzero(signs.max(axis=1) >= 0)
            rows, cols = np.nonzero(signs[hit] >= 0)
            rows, cols = order[hit[rows] + i0], order[cols + j0]
            apart = forest.roots(rows) != forest.roots(cols)
            rows, cols = rows[apart], cols[apart]
            if len(rows) > _SWEEP_DENSE:
                _link(forest, x, np.unique(rows), np.unique(cols), eps2)
            else:
                found_a.append(rows)
                found_b.append(cols)
        if found_a:
            _join_pairs(forest, x, np.concatenate(found_a), np.concatenate(found_b), eps2)


def _join_pairs(forest: _Forest, x: np.ndarray, a: np.ndarray, b: np.ndarray, eps2: float) -> None:
    """Merge the pairs (a[k], b[k]) within sqrt(eps2) that are not yet in one component."""
    apart = forest.roots(a) != forest.roots(b)
    a, b = a[apart], b[apart]
    within = _exact_pairs(x, a, b, eps2)
    forest.union(a[within], b[within])


def _link_across_cells(
    forest: _Forest, x: np.ndarray, assigned: _Cells, n_cells: int, epsilon: float
) -> None:
    """For every pair of cells, compare the rows of each that lie within epsilon of the plane between them."""
    if not len(assigned.near_rows):
        return
    key = assigned.own[assigned.near_rows] * n_cells + assigned.near_cells
    order = np.argsort(key, kind="stable")
    key, rows, gaps = key[order], assigned.near_rows[order], assigned.near_gap[order]
    keys, first = np.unique(key, return_index=True)
    spans = dict(zip(keys.tolist(), zip(first, np.append(first[1:], len(key)), strict=True), strict=True))
    for k, (lo, hi) in spans.items():
        i, j = divmod(k, n_cells)
        other = spans.get(j * n_cells + i)
        if i > j or other is None:
            continue
        a, gap_a = rows[lo:hi], gaps[lo:hi]
        b, gap_b = rows[other[0] : other[1]], gaps[other[0] : other[1]]
        a, b = a[gap_a <= epsilon - gap_b.min()], b[gap_b <= epsilon - gap_a.min()]
        for s in range(0, len(a), _BLOCK):
            for t in range(0, len(b), _BLOCK):
                _link(forest, x, a[s : s + _BLOCK], b[t : t + _BLOCK], epsilon**2)


def distinct_endpoints(
    endpoints: np.ndarray, scale: float, factor: float = EPSILON_FACTOR
) -> tuple[int, np.ndarray] | Undefined:
    """(count, component label per row) of endpoints [N, D] at epsilon = factor * scale.

    `scale` is the inputs' median nearest-neighbour distance (see `median_nn_distance`).
    """
    endpoints = np.asarray(endpoints)
    if len(endpoints) == 0:
        return Undefined("no endpoints")
    if not np.isfinite(endpoints).all():
        return Undefined("endpoints contain NaN or inf")
    if not np.isfinite(scale) or scale <= 0:
        return Undefined("inputs have no nearest-neighbour spacing (all identical?)")
    components = radius_components(endpoints, factor * scale)
    return int(components.max()) + 1, components


def purity(true_labels: np.ndarray, cluster_labels: np.ndarray) -> float | Undefined:
    """Fraction of points whose cluster's majority true label is their own (1.0 = no mixing)."""
    if len(true_labels) == 0:
        return Undefined("no points")
    table = contingency_matrix(true_labels, cluster_labels, sparse=True)
    return float(table.max(axis=0).sum() / table.sum())
