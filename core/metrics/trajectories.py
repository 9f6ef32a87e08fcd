"""Flow trajectories: how far points move, how they spread, and what their endpoints look like.

A trajectory array is float32 [T+1, N, D]: step 0 holds the inputs, step T the endpoints. Inputs are
expected on the unit sphere; the geodesic normalises anyway so it is an angle between directions.

Prototype collapse (every input with the same target lands on one point) gives the *best* target
silhouette (1.0), so `endpoint_metrics` always reports it beside the distinct-endpoint count and the
within-target spread ratio, which expose the collapse.
"""

from __future__ import annotations

import numpy as np

from . import MetricInfo, Undefined, register_metrics
from .clustering import distinct_endpoints, median_nn_distance, purity, silhouette
from .spectrum import rankme

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


def _check_traj(traj: np.ndarray) -> np.ndarray:
    traj = np.asarray(traj)
    if traj.ndim != 3 or traj.shape[0] < 1:
        raise ValueError(f"trajectories must be [T+1, N, D], got shape {traj.shape}")
    return traj


def movement(traj: np.ndarray) -> tuple[float, float]:
    """(mean chord ||z_T - z_0||, mean geodesic angle arccos(z_0 . z_T) in radians) over N."""
    traj = _check_traj(traj)
    start, end = traj[0].astype(np.float64), traj[-1].astype(np.float64)
    chord = np.linalg.norm(end - start, axis=1)
    norms = np.linalg.norm(start, axis=1) * np.linalg.norm(end, axis=1)
    cos = np.einsum("ij,ij->i", start, end) / np.where(norms > 0, norms, 1.0)
    return float(chord.mean()), float(np.arccos(np.clip(cos, -1.0, 1.0)).mean())


def step_distances(traj: np.ndarray) -> np.ndarray:
    """||z_{t+1} - z_t|| per step and point, float64 [T, N]."""
    traj = _check_traj(traj)
    out = np.zeros((len(traj) - 1, traj.shape[1]))
    for t in range(len(traj) - 1):
        out[t] = np.linalg.norm(traj[t + 1] - traj[t], axis=1)
    return out


def mean_per_step(traj: np.ndarray) -> np.ndarray:
    """Mean step distance at each step, float64 [T] (does the flow slow down or overshoot?)."""
    return step_distances(traj).mean(axis=1)


def group_spread(points: np.ndarray, groups: np.ndarray) -> float | Undefined:
    """Mean distance to the group centroid, averaged over groups of points [N, D] by groups [N].

    A group with one member has no spread and is skipped; Undefined when no group has two members.
    """
    points = np.asarray(points, dtype=np.float64)
    _, codes, counts = np.unique(groups, return_inverse=True, return_counts=True)
    centroids = np.zeros((len(counts), points.shape[1]))
    np.add.at(centroids, codes, points)
    centroids /= counts[:, None]
    dist = np.linalg.norm(points - centroids[codes], axis=1)
    per_group = np.bincount(codes, weights=dist, minlength=len(counts)) / counts
    kept = counts >= 2
    if not kept.any():
        return Undefined("every target group has a single member")
    return float(per_group[kept].mean())


def spread_ratio(traj: np.ndarray, groups: np.ndarray) -> float | Undefined:
    """Within-target spread at T over spread at 0 (1 = spread kept, 0 = prototype collapse)."""
    traj = _check_traj(traj)
    before = group_spread(traj[0], groups)
    if isinstance(before, Undefined):
        return before
    if before == 0:
        return Undefined("inputs of each target group are identical (spread 0 at step 0)")
    after = group_spread(traj[-1], groups)
    return after if isinstance(after, Undefined) else after / before


def endpoint_metrics(
    traj: np.ndarray,
    target_labels: np.ndarray,
    original_labels: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    scale: float | Undefined | None = None,
) -> dict[str, float | int | Undefined]:
    """Every flow metric of trajectories traj [T+1, N, D] (keys: ENDPOINT_KEYS).

    target_labels / original_labels [N] are joint labels (see `pack_bits`). The distinct-endpoint
    epsilon is EPSILON_FACTOR x the median nearest-neighbour distance of `reference` [M, D] (default:
    the inputs traj[0]); pass `scale` instead to reuse an already computed median distance.
    """
    traj = _check_traj(traj)
    target_labels = np.asarray(target_labels).reshape(-1)
    original_labels = np.asarray(original_labels).reshape(-1)
    n = traj.shape[1]
    if len(target_labels) != n or len(original_labels) != n:
        raise ValueError(
            f"{n} trajectories but {len(target_labels)} target and {len(original_labels)} original labels"
        )
    if not np.isfinite(traj).all():
        bad = int((~np.isfinite(traj)).any(axis=(0, 2)).sum())
        why = Undefined(f"{bad} of {n} trajectories contain NaN or inf (the field diverged)")
        return dict.fromkeys(ENDPOINT_KEYS, why)
    end = traj[-1]
    out: dict[str, float | int | Undefined] = {
        "silhouette_target": silhouette(end, target_labels),
        "silhouette_original": silhouette(end, original_labels),
    }
    if n == 0:
        none = Undefined("no trajectories")
        out.update(dict.fromkeys(ENDPOINT_KEYS[2:], none))
        return out
    out["movement_chord"], out["movement_geodesic"] = movement(traj)
    if traj.shape[0] > 1:
        steps = step_distances(traj)
        out["step_mean"], out["step_std"] = float(steps.mean()), float(steps.std())
    else:
        out["step_mean"] = out["step_std"] = Undefined("zero steps")
    if scale is None:
        scale = median_nn_distance(traj[0] if reference is None else reference)
    found = Undefined(scale.reason) if isinstance(scale, Undefined) else distinct_endpoints(end, scale)
    if isinstance(found, Undefined):
        out["distinct_endpoints"] = out["purity"] = found
    else:
        out["distinct_endpoints"] = found[0]
        out["purity"] = purity(target_labels, found[1])
    out["spread_ratio"] = spread_ratio(traj, target_labels)
    out["n_clusters"] = len(np.unique(target_labels))
    out["rankme_end"] = rankme(end)
    return {key: out[key] for key in ENDPOINT_KEYS}


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
    ),
    MetricInfo(
        "silhouette_original",
        "Silhouette by original",
        "neither",
        "Silhouette (cosine) of endpoints labelled by their original attributes: high means the flow kept "
        "the input grouping instead of moving points to their targets.",
        "flow",
        unit="-1 to 1",
    ),
    MetricInfo(
        "movement_chord",
        "Movement (chord)",
        "neither",
        "Mean straight-line distance ||z_T - z_0|| between input and endpoint.",
        "flow",
        unit="unit-sphere distance",
    ),
    MetricInfo(
        "movement_geodesic",
        "Movement (angle)",
        "neither",
        "Mean angle arccos(z_0 . z_T) in radians between input and endpoint directions.",
        "flow",
        unit="rad",
    ),
    MetricInfo(
        "step_mean",
        "Step size (mean)",
        "neither",
        "Mean distance ||z_{t+1} - z_t|| per step.",
        "flow",
        unit="unit-sphere distance",
    ),
    MetricInfo(
        "step_std",
        "Step size (std)",
        "neither",
        "Spread of the per-step distances over points and steps.",
        "flow",
        unit="unit-sphere distance",
    ),
    MetricInfo(
        "distinct_endpoints",
        "Distinct endpoints",
        "higher",
        "Connected components of endpoints within 0.25 x the inputs' median nearest-neighbour distance. "
        "Near the number of target groups = prototype collapse.",
        "flow",
        unit="count",
    ),
    MetricInfo(
        "spread_ratio",
        "Within-target spread ratio",
        "higher",
        "Mean distance to the target-group centroid at T divided by the same at step 0 (groups with one "
        "member skipped). Near 0 = every group shrank to a prototype.",
        "flow",
        unit="ratio",
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
    ),
    MetricInfo(
        "n_clusters",
        "Target groups",
        "neither",
        "Number of distinct target attribute combinations among the points.",
        "flow",
        unit="count",
    ),
    MetricInfo(
        "rankme_end",
        "RankMe of endpoints",
        "higher",
        "Effective rank exp(entropy of normalised singular values) of the endpoints; low = the endpoints "
        "span few directions (dimensional collapse).",
        "flow",
        unit="effective dimensions",
    ),
)
