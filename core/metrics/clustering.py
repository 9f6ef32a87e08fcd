"""Clustering metrics over endpoints: exact silhouette, distinct endpoints, purity.

Silhouette follows sklearn's definition (`silhouette_samples`): a(i) is the mean distance to the other
members of i's cluster, b(i) the smallest mean distance to another cluster, s(i) = (b - a) / max(a, b),
singletons get s = 0, and the score is defined only for 2 <= n_labels <= n_samples - 1.

For cosine distance the score is exact without any N x N work: rows are normalised (zero rows stay
zero, as in sklearn), so d(x, y) = 1 - x.y and the summed distance from x to cluster c is
n_c - x . S_c with S_c the sum of c's rows. One [N, D] x [D, L] product in float64 gives every
per-cluster sum, which is O(N L D) instead of O(N^2 D).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.metrics.cluster import contingency_matrix

from . import Undefined

SilhouetteMetric = Literal["cosine", "euclidean"]

# Points closer than this fraction of the inputs' median nearest-neighbour distance count as one
# endpoint: well below the spacing of distinct inputs, well above the jitter of a collapsed prototype.
EPSILON_FACTOR = 0.25
_CHUNK = 2048


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


def _cluster_distance_sums(x: np.ndarray, codes: np.ndarray, n_labels: int, metric: str, chunk: int):
    """Summed distance from every row to every cluster, float64 [N, L] (self-distance included)."""
    n = len(x)
    sums = np.zeros((n, n_labels))
    counts = np.bincount(codes, minlength=n_labels).astype(np.float64)
    if metric == "cosine":
        label_sums = np.zeros((n_labels, x.shape[1]))
        np.add.at(label_sums, codes, x)
        for start in range(0, n, chunk):
            sums[start : start + chunk] = counts - x[start : start + chunk] @ label_sums.T
        return sums
    sq = np.einsum("ij,ij->i", x, x)
    onehot = np.zeros((n, n_labels))
    onehot[np.arange(n), codes] = 1.0
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        d2 = sq[rows, None] + sq[None, :] - 2.0 * (x[rows] @ x.T)
        np.maximum(d2, 0.0, out=d2)
        # The expanded form leaves rounding noise on the diagonal; a point is at distance 0 from itself.
        d2[np.arange(d2.shape[0]), np.arange(start, start + d2.shape[0])] = 0.0
        sums[rows] = np.sqrt(d2) @ onehot
    return sums


def silhouette(
    x: np.ndarray, labels: np.ndarray, *, metric: SilhouetteMetric = "cosine", chunk: int = _CHUNK
) -> float | Undefined:
    """Exact mean silhouette of points x [N, D] under labels [N], computed in row chunks of `chunk`.

    cosine: O(N L D), never N x N; euclidean: O(N^2 D) in [chunk, N] blocks. Equals
    sklearn.metrics.silhouette_score(x, labels, metric=metric) to float64 rounding.
    """
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"need x [N, D] and labels [N], got {x.shape} and {labels.shape}")
    n = len(x)
    if not np.isfinite(x).all():
        return Undefined("points contain NaN or inf")
    _, codes = np.unique(labels, return_inverse=True)
    n_labels = int(codes.max()) + 1 if n else 0
    if not 2 <= n_labels <= n - 1:
        return Undefined(f"{n_labels} label(s) for {n} point(s); needs 2 <= labels <= points - 1")
    if metric == "cosine":
        x = _normalise(x)
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    counts = np.bincount(codes, minlength=n_labels)
    sums = _cluster_distance_sums(x, codes, n_labels, metric, chunk)
    rows = np.arange(n)
    if metric == "cosine":
        # Remove the self term 1 - x.x from the own-cluster sum (1 for an all-zero row, ~0 otherwise).
        sums[rows, codes] -= 1.0 - np.einsum("ij,ij->i", x, x)
    own = counts[codes]
    a = sums[rows, codes] / np.maximum(own - 1, 1)
    means = sums / counts
    means[rows, codes] = np.inf
    b = means.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (b - a) / np.maximum(a, b)
    s = np.nan_to_num(s) * (own > 1)
    return float(s.mean())


def median_nn_distance(x: np.ndarray, *, max_queries: int = 2000, chunk: int = _CHUNK) -> float | Undefined:
    """Median Euclidean distance from rows of x [N, D] to their nearest other row (N >= 2).

    Above `max_queries` rows the median is taken over a fixed seeded sample of query rows (each still
    searched against all N rows), which keeps the cost O(max_queries * N * D).
    """
    x = np.asarray(x, dtype=np.float32)
    if len(x) < 2:
        return Undefined("needs at least two points")
    if not np.isfinite(x).all():
        return Undefined("points contain NaN or inf")
    queries = np.arange(len(x))
    if len(x) > max_queries:
        queries = np.sort(np.random.default_rng(0).choice(len(x), max_queries, replace=False))
    sq = np.einsum("ij,ij->i", x, x)
    nearest = np.empty(len(queries))
    for start in range(0, len(queries), chunk):
        rows = queries[start : start + chunk]
        d2 = sq[rows, None] + sq[None, :] - 2.0 * (x[rows] @ x.T)
        d2[np.arange(len(rows)), rows] = np.inf
        nearest[start : start + chunk] = d2.min(axis=1)
    return float(np.median(np.sqrt(np.maximum(nearest, 0.0))))


def radius_components(x: np.ndarray, epsilon: float, chunk: int = 1024) -> np.ndarray:
    """Connected components of the graph "distance <= epsilon" over rows of x [N, D]; int64 [N].

    Same partition as DBSCAN(eps=epsilon, min_samples=1) up to float32 rounding at the boundary. Built in
    row chunks; after each chunk the edges found so far are replaced by one star per component, so memory
    stays O(chunk * N).
    """
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    labels = np.arange(n)
    sq = np.einsum("ij,ij->i", x, x)
    eps2 = float(epsilon) ** 2
    for start in range(0, n, chunk):
        block = x[start : start + chunk]
        d2 = sq[start : start + chunk, None] + sq[None, :] - 2.0 * (block @ x.T)
        rows, cols = np.nonzero(d2 <= eps2)
        rows = np.concatenate([rows + start, np.arange(n)])
        cols = np.concatenate([cols, labels])
        graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        # Star edges point at a member of each component, so the next chunk keeps the merges made so far.
        first = np.full(labels.max() + 1, n)
        np.minimum.at(first, labels, np.arange(n))
        labels = first[labels]
    _, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64)


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
