"""Flow trajectories: how far points move, how they spread, and what their endpoints look like.

A trajectory array is float32 [T+1, N, D]: step 0 holds the inputs, step T the endpoints. Inputs are
expected on the unit sphere; the geodesic normalises anyway so it is an angle between directions.

Every metric here reads only the inputs, the endpoints and the step lengths, so a `FlowSummary` (what
`flow_summary` keeps while flowing rows in chunks) serves them as well as the whole [T+1, N, D] array,
which at 100k rows x 10 steps x 512 dims would be 2.25 GB.

Prototype collapse (every input with the same target lands on one point) gives the *best* target
silhouette (1.0), so `endpoint_metrics` always reports it beside the distinct-endpoint count and the
within-target spread ratio, which expose the collapse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from ..base import MetricInfo, Undefined, register_metrics
from ..spectrum import rankme
from .clustering import (
    MAX_QUERIES,
    distinct_endpoints,
    median_nn_distance,
    purity,
    sample_percentiles,
    silhouette,
)

ENDPOINT_KEYS: tuple[str, ...] = (
    "silhouette_target",
    "silhouette_original",
    "movement_chord",
    "movement_geodesic",
    "step_mean",
    "step_std",
    "distinct_endpoints",
    "spread_ratio",
    "purity",
    "n_clusters",
    "rankme_end",
)
# Rows per chunk of the float64 work below, and the memory one flowed chunk [T+1, rows, D] may take:
# under glibc's largest mmap threshold (32 MB), so chunk after chunk reuses freed heap pages instead of
# faulting in fresh ones (64 MB chunks cost a 100k-row diagnosis ~750k page faults, seconds of system time).
_ROWS = 8192
FLOW_CHUNK_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FlowSummary:
    """What the flow metrics read from trajectories, without every step of every row.

    start / end: float32 [N, D], steps 0 and T; steps: float32 [T, N], ||z_{t+1} - z_t||; finite: bool [N],
    the row's whole path is finite; kept: int [K] rows whose whole path is in paths, float32 [T+1, K, D]
    (a plot sample, say).
    """

    start: np.ndarray
    end: np.ndarray
    steps: np.ndarray
    finite: np.ndarray
    kept: np.ndarray
    paths: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.start)


Trajectories = np.ndarray | FlowSummary


def _step_lengths(traj: np.ndarray) -> np.ndarray:
    out = np.zeros((len(traj) - 1, traj.shape[1]), dtype=np.float32)
    for t in range(len(traj) - 1):
        out[t] = np.linalg.norm(traj[t + 1] - traj[t], axis=1)
    return out


def summarize(traj: np.ndarray, kept: np.ndarray | None = None) -> FlowSummary:
    """FlowSummary of a whole trajectory array [T+1, N, D] (start and end are views, not copies)."""
    traj = _check_traj(traj)
    kept = np.zeros(0, dtype=np.intp) if kept is None else np.asarray(kept, dtype=np.intp)
    finite = np.isfinite(traj).all(axis=(0, 2))
    steps = (
        _step_lengths(traj) if finite.all() else np.full((len(traj) - 1, traj.shape[1]), np.nan, np.float32)
    )
    return FlowSummary(traj[0], traj[-1], steps, finite, kept, traj[:, kept])


def flow_summary(
    flow: Callable[[np.ndarray, np.ndarray], np.ndarray],
    z: np.ndarray,
    y: np.ndarray,
    steps: int,
    *,
    kept: np.ndarray | None = None,
    max_bytes: int = FLOW_CHUNK_BYTES,
) -> FlowSummary:
    """Flow z [N, D] toward y [N, A] in row chunks and keep only what the metrics need.

    `flow(z_rows, y_rows)` returns float32 [steps+1, n, D] for a chunk of rows; flows act row by row, so
    the chunks give the same values as one call. A chunk's path takes at most `max_bytes`; the full paths
    of the rows `kept` are kept too. Memory: O(N D + N T) instead of O(N T D).
    """
    z, y = np.asarray(z), np.asarray(y)
    n, dim = z.shape
    kept = np.zeros(0, dtype=np.intp) if kept is None else np.asarray(kept, dtype=np.intp)
    rows = max(1, max_bytes // ((steps + 1) * dim * 4))
    start = np.empty((n, dim), dtype=np.float32)
    end = np.empty((n, dim), dtype=np.float32)
    lengths = np.empty((steps, n), dtype=np.float32)
    finite = np.empty(n, dtype=bool)
    paths = np.empty((steps + 1, len(kept), dim), dtype=np.float32)
    for lo in range(0, n, rows):
        part = np.asarray(flow(z[lo : lo + rows], y[lo : lo + rows]), dtype=np.float32)
        hi = min(lo + rows, n)
        if part.shape != (steps + 1, hi - lo, dim):
            raise ValueError(
                f"flow gave shape {part.shape} for {hi - lo} rows, expected {(steps + 1, hi - lo, dim)}"
            )
        chunk = summarize(part)
        start[lo:hi], end[lo:hi], lengths[:, lo:hi], finite[lo:hi] = (
            chunk.start,
            chunk.end,
            chunk.steps,
            chunk.finite,
        )
        inside = (kept >= lo) & (kept < hi)
        paths[:, inside] = part[:, kept[inside] - lo]
    return FlowSummary(start, end, lengths, finite, kept, paths)


def _check_traj(traj: np.ndarray) -> np.ndarray:
    traj = np.asarray(traj)
    if traj.ndim != 3 or traj.shape[0] < 1:
        raise ValueError(f"trajectories must be [T+1, N, D], got shape {traj.shape}")
    return traj


def _ends(traj: Trajectories) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(traj, FlowSummary):
        return traj.start, traj.end
    traj = _check_traj(traj)
    return traj[0], traj[-1]


def movement(traj: Trajectories) -> tuple[float, float]:
    """(mean chord ||z_T - z_0||, mean geodesic angle arccos(z_0 . z_T) in radians) over N."""
    start, end = _ends(traj)
    chord, angle = 0.0, 0.0
    for lo in range(0, len(start), _ROWS):
        a, b = start[lo : lo + _ROWS].astype(np.float64), end[lo : lo + _ROWS].astype(np.float64)
        chord += float(np.linalg.norm(b - a, axis=1).sum())
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        cos = np.einsum("ij,ij->i", a, b) / np.where(norms > 0, norms, 1.0)
        angle += float(np.arccos(np.clip(cos, -1.0, 1.0)).sum())
    n = len(start)
    return (chord / n, angle / n) if n else (float("nan"), float("nan"))


def step_distances(traj: Trajectories) -> np.ndarray:
    """||z_{t+1} - z_t|| per step and point, float64 [T, N]."""
    if isinstance(traj, FlowSummary):
        return traj.steps.astype(np.float64)
    return _step_lengths(_check_traj(traj)).astype(np.float64)


def mean_per_step(traj: Trajectories) -> np.ndarray:
    """Mean step distance at each step, float64 [T] (does the flow slow down or overshoot?)."""
    return step_distances(traj).mean(axis=1)


def group_spread(points: np.ndarray, groups: np.ndarray) -> float | Undefined:
    """Mean distance to the group centroid, averaged over groups of points [N, D] by groups [N].

    A group with one member has no spread and is skipped; Undefined when no group has two members.
    """
    points = np.asarray(points)
    _, codes, counts = np.unique(np.asarray(groups).reshape(-1), return_inverse=True, return_counts=True)
    centroids = np.zeros((len(counts), points.shape[1]))
    for lo in range(0, len(points), _ROWS):
        here = codes[lo : lo + _ROWS]
        onehot = csr_matrix(
            (np.ones(len(here)), (here, np.arange(len(here)))), shape=(len(counts), len(here))
        )
        centroids += onehot @ points[lo : lo + _ROWS].astype(np.float64)
    centroids /= counts[:, None]
    dist = np.empty(len(points))
    for lo in range(0, len(points), _ROWS):
        block = points[lo : lo + _ROWS].astype(np.float64)
        dist[lo : lo + _ROWS] = np.linalg.norm(block - centroids[codes[lo : lo + _ROWS]], axis=1)
    per_group = np.bincount(codes, weights=dist, minlength=len(counts)) / counts
    kept = counts >= 2
    if not kept.any():
        return Undefined("every target group has a single member")
    return float(per_group[kept].mean())


def spread_ratio(traj: Trajectories, groups: np.ndarray) -> float | Undefined:
    """Within-target spread at T over spread at 0 (1 = spread kept, 0 = prototype collapse)."""
    start, end = _ends(traj)
    before = group_spread(start, groups)
    if isinstance(before, Undefined):
        return before
    if before == 0:
        return Undefined("inputs of each target group are identical (spread 0 at step 0)")
    after = group_spread(end, groups)
    return after if isinstance(after, Undefined) else after / before


def endpoint_metrics(
    traj: Trajectories,
    target_labels: np.ndarray,
    original_labels: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    scale: float | Undefined | None = None,
    distinct: tuple[int, np.ndarray] | Undefined | None = None,
) -> dict[str, float | int | Undefined]:
    """Every flow metric of trajectories [T+1, N, D] or their FlowSummary (keys: ENDPOINT_KEYS).

    target_labels / original_labels [N] are joint labels (see `pack_bits`). The distinct-endpoint
    epsilon is EPSILON_FACTOR x the median nearest-neighbour distance of `reference` [M, D] (default:
    the inputs at step 0); pass `scale` instead to reuse an already computed median distance, and
    `distinct` to reuse `distinct_endpoints(endpoints, scale)`.
    """
    summary = traj if isinstance(traj, FlowSummary) else summarize(traj)
    target_labels = np.asarray(target_labels).reshape(-1)
    original_labels = np.asarray(original_labels).reshape(-1)
    n = summary.rows
    if len(target_labels) != n or len(original_labels) != n:
        raise ValueError(
            f"{n} trajectories but {len(target_labels)} target and {len(original_labels)} original labels"
        )
    if not summary.finite.all():
        bad = int((~summary.finite).sum())
        why = Undefined(f"{bad} of {n} trajectories contain NaN or inf (the field diverged)")
        return dict.fromkeys(ENDPOINT_KEYS, why)
    end = summary.end
    out: dict[str, float | int | Undefined] = {
        "silhouette_target": silhouette(end, target_labels),
        "silhouette_original": silhouette(end, original_labels),
    }
    if n == 0:
        none = Undefined("no trajectories")
        out.update(dict.fromkeys(ENDPOINT_KEYS[2:], none))
        return out
    out["movement_chord"], out["movement_geodesic"] = movement(summary)
    if summary.steps.shape[0] > 0:
        steps = summary.steps.astype(np.float64)
        out["step_mean"], out["step_std"] = float(steps.mean()), float(steps.std())
    else:
        out["step_mean"] = out["step_std"] = Undefined("zero steps")
    if scale is None:
        scale = median_nn_distance(summary.start if reference is None else reference)
    found = distinct
    if found is None:
        found = Undefined(scale.reason) if isinstance(scale, Undefined) else distinct_endpoints(end, scale)
    if isinstance(found, Undefined):
        out["distinct_endpoints"] = out["purity"] = found
    else:
        out["distinct_endpoints"] = found[0]
        out["purity"] = purity(target_labels, found[1])
    out["spread_ratio"] = spread_ratio(summary, target_labels)
    out["n_clusters"] = len(np.unique(target_labels))
    out["rankme_end"] = rankme(end)
    return {key: out[key] for key in ENDPOINT_KEYS}


_LOW, _HIGH = (100 * q for q in sample_percentiles(MAX_QUERIES))

register_metrics(
    MetricInfo(
        "silhouette_target",
        "Silhouette by target",
        "neither",
        "Silhouette (sklearn definition, cosine) of endpoints labelled by their target attributes. Prototype "
        "collapse scores the best possible 1.0, so read it with distinct endpoints and spread ratio.",
        "flow",
        unit="-1 to 1",
        context="Higher separates the target groups better only while endpoints stay distinct: near 1 with few distinct endpoints is prototype collapse, so a fixed model often scores lower.",
        context_key="distinct_endpoints",
        good="depends: high separates the targets, but near 1 with few distinct endpoints is collapse",
    ),
    MetricInfo(
        "silhouette_original",
        "Silhouette by original",
        "neither",
        "Silhouette (cosine) of endpoints labelled by their original attributes: high means the flow kept "
        "the input grouping instead of moving points to their targets.",
        "flow",
        unit="-1 to 1",
        good="depends: high means the endpoints keep the inputs' grouping, which a flow should"
        " change where the targets differ from the inputs",
    ),
    MetricInfo(
        "movement_chord",
        "Movement (chord)",
        "neither",
        "Mean straight-line distance ||z_T - z_0|| between input and endpoint.",
        "flow",
        unit="unit-sphere distance",
        good="not judged: how far inputs travel; a flow must move them, and collapse shows in "
        "distinct endpoints",
    ),
    MetricInfo(
        "movement_geodesic",
        "Movement (angle)",
        "neither",
        "Mean angle arccos(z_0 . z_T) in radians between input and endpoint directions.",
        "flow",
        unit="rad",
        good="not judged: how far inputs turn; a flow must move them, and collapse shows in "
        "distinct endpoints",
    ),
    MetricInfo(
        "step_mean",
        "Step size (mean)",
        "neither",
        "Mean distance ||z_{t+1} - z_t|| per step.",
        "flow",
        unit="unit-sphere distance",
        good="not judged: the size of the flow's steps",
    ),
    MetricInfo(
        "step_std",
        "Step size (std)",
        "neither",
        "Spread of the per-step distances over points and steps.",
        "flow",
        unit="unit-sphere distance",
        good="not judged: how much the flow's step sizes vary",
    ),
    MetricInfo(
        "distinct_endpoints",
        "Distinct endpoints",
        "higher",
        "Connected components of endpoints within 0.25 x the inputs' median nearest-neighbour distance "
        "(exact, as DBSCAN with min_samples=1; pairs are compared only where k-means cells say they can be "
        f"that close). Above {MAX_QUERIES:,} rows that median comes from {MAX_QUERIES:,} seeded query rows, "
        f"each searched against all rows; with 95% confidence the exact median lies between the sample's "
        f"{_LOW:.1f}% and {_HIGH:.1f}% points. Near the number of target groups = prototype collapse.",
        "flow",
        unit="count",
        good="more inputs end at a point of their own",
    ),
    MetricInfo(
        "spread_ratio",
        "Within-target spread ratio",
        "higher",
        "Mean distance to the target-group centroid at T divided by the same at step 0 (groups with one "
        "member skipped). Near 0 = every group shrank to a prototype.",
        "flow",
        unit="ratio",
        good="target groups keep their spread (near 0 = each shrank to one point)",
    ),
    MetricInfo(
        "purity",
        "Endpoint purity",
        "higher",
        "Share of points whose endpoint cluster's majority target is their own; trivially 1 when every "
        "endpoint is its own cluster, so read it with the cluster count.",
        "flow",
        unit="share 0-1",
        context="Higher is better only with many distinct endpoints: purity 1 with few endpoints means every target group sits on one prototype (collapse).",
        context_key="distinct_endpoints",
        good="depends: 1 is good only with many distinct endpoints (few endpoints at purity 1 is collapse)",
    ),
    MetricInfo(
        "n_clusters",
        "Target groups",
        "neither",
        "Number of distinct target attribute combinations among the points.",
        "flow",
        unit="count",
        good="not judged: how many target groups the probe holds",
    ),
    MetricInfo(
        "rankme_end",
        "RankMe of endpoints",
        "higher",
        "Effective rank exp(entropy of normalised singular values) of the endpoints; low = the endpoints "
        "span few directions (dimensional collapse).",
        "flow",
        unit="effective dimensions",
        good="endpoints span more directions",
    ),
)
