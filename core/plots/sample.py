"""Plotly figure builders, one module per family (pure functions returning go.Figure), and shared helpers."""

from __future__ import annotations

import numpy as np


def stratified_sample(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of about `n` rows drawn per label in proportion to label size (int64 [<= n]).

    Every label present keeps at least one row while n allows, so small groups stay visible; all rows
    are returned when n >= len(labels). Seeded, so the same flip shows the same sample.
    """
    labels = np.asarray(labels).reshape(-1)
    total = len(labels)
    if n >= total:
        return np.arange(total, dtype=np.int64)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = np.floor(counts * n / total).astype(np.int64)
    # Groups rounded down to zero get one row first (largest first), then leftovers go by largest remainder.
    order = np.lexsort((-(counts * n / total - quota), quota > 0))
    left = n - quota.sum()
    for group in order:
        if left == 0:
            break
        if quota[group] < counts[group]:
            quota[group] += 1
            left -= 1
    picked = [
        rng.choice(np.flatnonzero(codes == group), quota[group], replace=False)
        for group in range(len(counts))
        if quota[group]
    ]
    return np.sort(np.concatenate(picked)).astype(np.int64)
