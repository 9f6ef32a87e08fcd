"""Divergence and curl of a vector field v(z) -> [N, D], by Hutchinson estimators with torch.func.

For a Jacobian J at z and Rademacher probes e (E[e e^T] = I):
- divergence tr(J) = E[e^T J e] (one jvp per probe);
- curl magnitude ||J - J^T||_F / sqrt(2), from E[||(J - J^T) e||^2] = ||J - J^T||_F^2 (a jvp and a vjp).

On the unit sphere (embeddings are normalised) only the tangent part of the field matters, so
`sphere=True` replaces J by P J P with P = I - z z^T / |z|^2: the surface divergence is tr(P J P),
estimated with projected probes u = P e (E[u u^T] = P). For v(z) = A z this is tr(A) - z^T A z on
|z| = 1. The field must act row-wise (row i of v depends on row i of z only), as a per-sample MLP does.

Both are means over points of per-point estimates, so they can be estimated on a seeded uniform sample of
the points (`max_rows`) with the standard error of the mean over the sampled points beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import jvp, vjp

from ..base import MetricInfo, Undefined, register_metrics

Field = Callable[[torch.Tensor], torch.Tensor]
# Points per chunk when the field's conditioning is passed alongside them (see `field_stats`).
ROWS = 4096
# Points the page estimates at: all 100k rows of a 512-d probe took ~62 s; 5,000 take ~3 s with a standard
# error small beside the differences between checkpoints (see benchmarks/bench_scale.py).
SAMPLE_ROWS = 5000
PROBES = 8


@dataclass(frozen=True)
class FieldStats:
    """Mean surface (or ambient) divergence and mean curl magnitude over the `rows` points estimated at
    (of `total`), each with the standard error of that mean over the points (`*_se`): the spread of the
    per-point estimates / sqrt(rows), which covers both the choice of points and the Hutchinson probes."""

    divergence: float | Undefined
    curl: float | Undefined
    divergence_se: float | Undefined
    curl_se: float | Undefined
    rows: int
    total: int

    @property
    def sampled(self) -> bool:
        return self.rows < self.total


def _project(u: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Tangent part of u [N, D] at points z [N, D] on the sphere."""
    unit = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return u - (u * unit).sum(dim=1, keepdim=True) * unit


def _conditioned(v: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], condition: torch.Tensor) -> Field:
    return lambda points: v(points, condition)


def field_stats(
    v: Field | Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    z: np.ndarray | torch.Tensor,
    *,
    condition: torch.Tensor | None = None,
    probes: int = PROBES,
    sphere: bool = True,
    seed: int = 0,
    rows: int | None = None,
    max_rows: int | None = None,
) -> FieldStats:
    """Hutchinson estimates of mean divergence and mean curl magnitude of v at points z [N, D], with the
    standard error of each mean over the points.

    `probes` Rademacher vectors per point, drawn from a generator seeded with `seed`. With `condition`
    [N, ...] (target attributes, say) the field is called as v(points, condition rows), which lets points
    be taken `rows` at a time (default ROWS) so memory stays O(rows D) at any N; without it v(z) sees all
    rows at once unless `rows` is given (then v must accept any number of rows). With `max_rows` below N,
    the means are taken over a uniform sample of `max_rows` points drawn without replacement (seeded by
    `seed`; `condition` rows follow their points; without `condition`, v must accept any number of rows).
    """
    z = torch.as_tensor(np.asarray(z, dtype=np.float32) if isinstance(z, np.ndarray) else z).float()
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"z must be a non-empty [N, D] array, got shape {tuple(z.shape)}")
    total = len(z)
    if max_rows is not None and max_rows < total:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        chosen = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(total, max_rows, replace=False)))
        z = z[chosen]
        condition = None if condition is None else condition[chosen]
    if not torch.isfinite(z).all():
        why = Undefined("points contain NaN or inf")
        return FieldStats(why, why, why, why, len(z), total)
    gen = torch.Generator().manual_seed(seed)
    div = torch.zeros(len(z), dtype=torch.float64)
    curl_sq = torch.zeros(len(z), dtype=torch.float64)
    step = rows or (ROWS if condition is not None else len(z))
    for start in range(0, len(z), step):
        points = z[start : start + step]
        field = v if condition is None else _conditioned(v, condition[start : start + step])
        out, pullback = vjp(field, points)
        if out.shape != points.shape:
            raise ValueError(
                f"field returned shape {tuple(out.shape)} for points of shape {tuple(points.shape)}"
            )
        here = slice(start, start + len(points))
        for _ in range(probes):
            e = torch.randint(0, 2, points.shape, generator=gen).float() * 2 - 1
            if sphere:
                e = _project(e, points)
            _, forward = jvp(field, (points,), (e,))
            (backward,) = pullback(e)
            if sphere:
                forward, backward = _project(forward, points), _project(backward, points)
            div[here] += (e * forward).sum(dim=1).double()
            curl_sq[here] += ((forward - backward) ** 2).sum(dim=1).double()
    div /= probes
    curl = (curl_sq / probes / 2).sqrt()
    if not (torch.isfinite(div).all() and torch.isfinite(curl).all()):
        why = Undefined("the field is NaN or inf at some points")
        return FieldStats(why, why, why, why, len(z), total)
    return FieldStats(float(div.mean()), float(curl.mean()), *_standard_errors(div, curl), len(z), total)


def _standard_errors(*per_point: torch.Tensor) -> tuple[float | Undefined, ...]:
    """Standard error of the mean of each float64 [n] tensor of per-point estimates (ddof=1)."""
    if len(per_point[0]) < 2:
        return tuple(Undefined("one point: no spread to estimate the error from") for _ in per_point)
    return tuple(float(values.std(correction=1) / len(values) ** 0.5) for values in per_point)


register_metrics(
    MetricInfo(
        "field_divergence",
        "Surface divergence",
        "neither",
        f"Mean tr(P J P) of the field on the sphere at the inputs (Hutchinson estimate, {PROBES} probes a "
        f"row, on a seeded uniform sample of at most {SAMPLE_ROWS:,} rows, shown with the standard error "
        "of the mean over them): negative = the field locally contracts the sphere, positive = it spreads points; compare "
        "checkpoints on the same probe rather than reading one value.",
        "flow",
        unit="per unit step",
        good="depends: below 0 the field draws points together (towards collapse), above 0 it "
        "spreads them; compare checkpoints on one probe",
    ),
    MetricInfo(
        "field_curl",
        "Curl magnitude",
        "neither",
        "Mean ||J - J^T||_F / sqrt(2) on the tangent space (Hutchinson estimate on the same sample of at "
        f"most {SAMPLE_ROWS:,} rows, with the standard error of the mean): rotation in the field.",
        "flow",
        unit="per unit step",
        good="not judged: how much the field turns points; compare checkpoints on one probe",
    ),
)
