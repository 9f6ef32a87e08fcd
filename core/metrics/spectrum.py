"""Dimensional collapse: singular-value spectrum and RankMe (Garrido et al., 2023).

RankMe = exp(H(p)) with p_k = sigma_k / sum(sigma) over the singular values of the [N, D] matrix
(a small epsilon keeps log finite for zero values). It is D for an isotropic cloud and 1 when every row
is a multiple of one vector. Computed in float64.

No family's own module: the flow family reads it on endpoints and the codebook family on code vectors.
"""

from __future__ import annotations

import numpy as np

from .base import MetricInfo, MetricValue, Undefined, is_defined, register_metrics

_EPS = 1e-12
_ROWS = 8192


def singular_values(x: np.ndarray, *, center: bool = False) -> np.ndarray | Undefined:
    """Singular values of x [N, D] in descending order, float64 [min(N, D)]; optionally column-centred.

    The float64 Gram matrix is accumulated over row chunks, so no float64 copy of x is made.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.size == 0:
        return Undefined(f"needs a non-empty [N, D] matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        return Undefined("values contain NaN or inf")
    mean = x.mean(axis=0, dtype=np.float64) if center else np.zeros(x.shape[1])
    # Eigenvalues of the smaller Gram matrix: ~10x faster than an SVD of [N, D] for N >> D; the squaring
    # only costs accuracy on singular values below ~1e-8 of the largest, which RankMe weighs by ~0.
    if x.shape[0] < x.shape[1]:
        rows = x.astype(np.float64) - mean
        gram = rows @ rows.T
    else:
        gram = np.zeros((x.shape[1], x.shape[1]))
        for start in range(0, len(x), _ROWS):
            rows = x[start : start + _ROWS].astype(np.float64) - mean
            gram += rows.T @ rows
    return np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None))[::-1]


def rankme(x: np.ndarray) -> float | Undefined:
    """Effective rank exp(entropy of normalised singular values) of x [N, D]; in [1, min(N, D)]."""
    sigma = singular_values(x)
    if isinstance(sigma, Undefined):
        return sigma
    total = sigma.sum()
    if total <= 0:
        return Undefined("all values are zero")
    p = sigma / total + _EPS
    return float(np.exp(-(p * np.log(p)).sum()))


def rank_ratio(
    before: np.ndarray,
    after: np.ndarray,
    *,
    before_rank: MetricValue | None = None,
    after_rank: MetricValue | None = None,
) -> dict[str, MetricValue]:
    """RankMe of `before` [N, D] and `after` [N, D] and their ratio (after / before; 1 = rank kept).

    `before_rank` / `after_rank` reuse an already computed RankMe of `before` / `after`.
    """
    start = rankme(before) if before_rank is None else before_rank
    end = rankme(after) if after_rank is None else after_rank
    ratio: MetricValue = (
        float(end) / float(start)
        if is_defined(start) and is_defined(end)
        else Undefined(f"RankMe undefined: {start if isinstance(start, Undefined) else end}")
    )
    return {"rankme_start": start, "rankme_end": end, "rankme_ratio": ratio}


register_metrics(
    MetricInfo(
        "rankme_start",
        "RankMe of inputs",
        "neither",
        "Effective rank of the inputs before the flow: the reference for the endpoints' RankMe.",
        "flow",
        unit="effective dimensions",
        good="not judged: the inputs' effective rank, the reference for the endpoints'",
    ),
    MetricInfo(
        "rankme_ratio",
        "RankMe kept (end / start)",
        "higher",
        "Effective rank of the endpoints over that of the inputs: 1 = every direction kept, near 0 = the "
        "endpoints span a few directions (dimensional collapse).",
        "flow",
        unit="ratio 0-1",
        good="endpoints keep more of the inputs' directions (1 = all)",
    ),
)
