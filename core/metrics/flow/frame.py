"""How faithful a 2-D picture is: trustworthiness of a layout (sklearn's definition, Venna & Kaski).

Trustworthiness at k is 1 minus a normalised penalty for every point that is among a point's k nearest
neighbours in 2-D but not in the original space (by how far down the original ranking it sits). 1 means
every 2-D neighbourhood is a true one; a random layout scores about 0.5.
"""

from __future__ import annotations

import numpy as np

from ..base import MetricInfo, Undefined, register_metrics

TRUST_K = 10


def trustworthiness_of(points: np.ndarray, coords: np.ndarray, k: int = TRUST_K) -> float | Undefined:
    """sklearn trustworthiness (k neighbours, cosine in the original space) of the layout coords [M, 2]
    of points [M, D]; undefined for M <= 2k + 1 (sklearn needs k < M / 2) or non-finite values."""
    points, coords = np.asarray(points, dtype=np.float32), np.asarray(coords, dtype=np.float32)
    if len(points) != len(coords):
        raise ValueError(f"{len(points)} points but {len(coords)} coordinates")
    if len(points) <= 2 * k + 1:
        return Undefined(f"trustworthiness at k={k} needs more than {2 * k + 1} points, got {len(points)}")
    if not (np.isfinite(points).all() and np.isfinite(coords).all()):
        return Undefined("points or coordinates contain NaN or inf")
    if not (np.linalg.norm(points, axis=1) > 0).all():
        return Undefined("a zero vector has no cosine distance")
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(points, coords, n_neighbors=k, metric="cosine"))


register_metrics(
    MetricInfo(
        "frame_trustworthiness",
        "Frame trustworthiness",
        "higher",
        "sklearn trustworthiness (k=10, cosine) of the 2-D frame over the inputs and endpoints it was fitted "
        "on: 1 = every point's 2-D neighbours are true neighbours; a random layout scores ~0.5.",
        "flow",
        unit="score 0-1",
        good="the 2-D picture keeps true neighbours together (1 = all of them)",
    ),
)
