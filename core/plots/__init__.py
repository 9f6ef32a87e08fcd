"""Plotly figure builders, one module per family (pure functions returning go.Figure), and shared helpers."""

from __future__ import annotations

import numpy as np

# One colour for checkpoint A and one for B on every page, figure and report (Okabe-Ito vermilion and
# blue: told apart with any colour vision, on white and on a dark background); further series go on.
SLOT_COLOURS = {"A": "#D55E00", "B": "#0072B2"}
PALETTE = (SLOT_COLOURS["A"], SLOT_COLOURS["B"], "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
# Threshold and reference lines (uniform 1/K, free-bits floor, active threshold): a mid grey that reads on
# the light and the dark theme alike (Plotly's default line colour is near black, invisible when dark).
GUIDE_COLOUR = "#8c8c8c"


def series_colour(label: str, index: int) -> str:
    """The colour of a series: A's or B's when `label` names that slot ('A', 'B: run/file.pt',
    'A epoch 3'), else the `index`-th colour of PALETTE (A's first, B's second)."""
    head = str(label)[:2]
    slot = head[:1]
    if slot in SLOT_COLOURS and (len(head) == 1 or not head[1].isalnum()):
        return SLOT_COLOURS[slot]
    return PALETTE[index % len(PALETTE)]


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
