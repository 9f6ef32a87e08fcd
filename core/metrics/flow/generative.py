"""Generative-flow metrics: endpoints of noise integrated through a velocity field, against real data.

A collapsed generative flow sends every noise sample to one of a few points (distinct endpoints), keeps
a fraction of the data's spread (spread ratio) or drops whole modes of the data (coverage). Spread is
the mean pairwise distance of a seeded subsample (core.metrics.posterior.input_spread); modes are the
data's conditions when the probe gives them, else k-means centres of the real data.
"""

from __future__ import annotations

import numpy as np

from ..base import MetricInfo, MetricValue, Undefined, register_metrics
from ..posterior import input_spread

MIN_SHARE = 0.2  # a mode counts as covered when it gets a fifth of a fair share of the endpoints
MAX_MODES = 8


def spread_ratio(endpoints: np.ndarray, real: np.ndarray) -> MetricValue:
    """Mean pairwise distance of the endpoints [N, F] over that of the real data [M, F]."""
    if endpoints.shape[1:] != real.shape[1:]:
        return Undefined(f"endpoints have {endpoints.shape[1]} values per row, real data {real.shape[1]}")
    if len(endpoints) < 2 or len(real) < 2:
        return Undefined("fewer than two rows")
    spread = input_spread(real)
    if not np.isfinite(spread) or spread <= 0:
        return Undefined("the real data has no spread")
    return input_spread(endpoints) / spread


def mode_labels(
    real: np.ndarray, conditions: np.ndarray | None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(mode centres [K, F], mode of each real row [M]): per condition value when the real rows carry
    conditions, else k-means (k = min(8, M // 20), at least 2) on the real data."""
    if conditions is not None and len(conditions) == len(real):
        values = np.unique(conditions)
        labels = np.searchsorted(values, conditions)
        return np.stack([real[labels == i].mean(axis=0) for i in range(len(values))]), labels
    from sklearn.cluster import KMeans

    k = max(2, min(MAX_MODES, len(real) // 20))
    fitted = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(real)
    return fitted.cluster_centers_, fitted.labels_


def mode_coverage(endpoints: np.ndarray, centres: np.ndarray) -> MetricValue:
    """Share of the data's modes that the endpoints reach: modes nearest to at least a fifth of a fair
    share (N / K) of the endpoints."""
    if len(centres) < 2 or len(endpoints) == 0:
        return Undefined("fewer than two modes")
    nearest = np.argmin(((endpoints[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
    counts = np.bincount(nearest, minlength=len(centres))
    return float((counts >= MIN_SHARE * len(endpoints) / len(centres)).mean())


def condition_spread(endpoints: np.ndarray, real: np.ndarray, conditions: np.ndarray) -> MetricValue:
    """Smallest spread ratio over the condition values (endpoints and real rows share `conditions`)."""
    ratios = []
    for value in np.unique(conditions):
        rows = conditions == value
        if rows.sum() >= 2:
            ratio = spread_ratio(endpoints[rows], real[rows])
            if not isinstance(ratio, Undefined):
                ratios.append(float(ratio))
    return min(ratios) if ratios else Undefined("no condition has two rows")


register_metrics(
    MetricInfo(
        "endpoint_spread_ratio",
        "Endpoint spread / real spread",
        "higher",
        "Mean pairwise distance of the generated endpoints over that of the probe's real data (x1 or data): "
        "near 1 when the flow reproduces the data's spread, near 0 when it sends noise to a few points.",
        "flow",
        unit="ratio",
        good="endpoints spread out like the real data (1 = as wide)",
    ),
    MetricInfo(
        "mode_coverage",
        "Mode coverage",
        "higher",
        "Share of the real data's modes (its conditions, else k-means centres) reached by at least a fifth of "
        "a fair share of the endpoints.",
        "flow",
        unit="share 0-1",
        good="more of the real data's modes reached",
    ),
    MetricInfo(
        "condition_spread_min",
        "Smallest per-condition spread ratio",
        "higher",
        "The lowest endpoint / real spread ratio over the probe's condition values: one condition sent to a "
        "point shows here when the others hide it.",
        "flow",
        unit="ratio",
        good="every condition keeps its spread (near 1 = as wide as the real data)",
    ),
)
