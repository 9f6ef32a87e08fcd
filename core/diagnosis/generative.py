"""Collapse rules for generative flows (flow matching, rectified flows, CNFs) run live from probe noise.

Probe `x` is noise; the model's own velocity field carries it to endpoints (core.adapters.liveflow).
With real samples in the probe (`x1` or `data`, [M, ...] like x) the verdict reads the endpoints' spread
against the data's, per condition where the probe gives one (the forward's condition parameter), and how
many of the data's modes the endpoints reach; without them only distinct endpoints can show collapse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..metrics import MetricValue, Undefined, format_value, is_defined
from ..metrics.flow.clustering import distinct_endpoints, median_nn_distance
from ..metrics.flow.generative import condition_spread, mode_coverage, mode_labels, spread_ratio
from .base import Finding, Severity

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..io.probe import ProbeData

REAL_FIELDS = ("x1", "data")
MIN_ROWS = 10
COLLAPSE_DISTINCT = 0.1  # at most one distinct endpoint per 10 noise samples
COLLAPSE_SPREAD = 0.2
WARN_SPREAD = 0.5
COLLAPSE_COVERAGE = 0.5
WARN_COVERAGE = 0.9
FIX = (
    "Generative flow collapse fixes: check that the time input reaches the field (a velocity that ignores t "
    "cannot carry noise to the data), pair noise and data without a minibatch coupling that favours a few "
    "targets, keep the condition dropout of classifier-free guidance modest and lower the guidance scale, "
    "and train longer with more data per mode; integrate with more steps before judging."
)


def _real(probe: ProbeData) -> tuple[str, np.ndarray] | None:
    for name in REAL_FIELDS:
        value = probe.extras.get(name)
        if value is not None:
            return name, np.asarray(value, dtype=np.float64).reshape(len(value), -1)
    return None


def _condition(adapter: CheckpointAdapter, n: int) -> tuple[str, np.ndarray] | None:
    """The first 1-D integer condition the forward takes from the probe, [n]."""
    for name, value in getattr(adapter, "conditions", dict)().items():
        v = np.asarray(value)
        if len(v) == n and v.ndim == 1 and v.dtype.kind in "iub":
            return name, v
        if len(v) == n and v.ndim == 2 and set(np.unique(v)) <= {0, 1}:
            return name, v.argmax(axis=1)  # one-hot conditions
    return None


def severity_of(metrics: dict[str, MetricValue], n: int) -> Severity:
    distinct = metrics["distinct_endpoints"]
    spread, coverage = metrics["endpoint_spread_ratio"], metrics["mode_coverage"]
    per_condition = metrics["condition_spread_min"]
    if is_defined(distinct) and float(distinct) <= COLLAPSE_DISTINCT * n:
        return "collapse"
    if not (is_defined(spread) or is_defined(coverage)):
        return "undefined"
    if (is_defined(spread) and float(spread) < COLLAPSE_SPREAD) or (
        is_defined(coverage) and float(coverage) <= COLLAPSE_COVERAGE
    ):
        return "collapse"
    low = [
        is_defined(spread) and float(spread) < WARN_SPREAD,
        is_defined(coverage) and float(coverage) < WARN_COVERAGE,
        is_defined(per_condition) and float(per_condition) < COLLAPSE_SPREAD,
    ]
    return "warning" if any(low) else "ok"


def findings(adapter: CheckpointAdapter, probe: ProbeData | None) -> list[Finding]:
    """One `prototype` finding for a generative flow: probe noise x integrated by the model itself."""
    if probe is None or probe.x is None:
        return [
            Finding(
                "prototype",
                "undefined",
                "a generative flow needs probe noise x [N, ...] to integrate (with its conditions, e.g. `c`, "
                "and real samples `x1` for spread and mode coverage)",
            )
        ]
    x = np.asarray(probe.x)
    n = len(x)
    if n < MIN_ROWS:
        return [
            Finding("prototype", "undefined", f"the probe has {n} noise rows; at least {MIN_ROWS} are needed")
        ]
    ends = adapter.endpoints(x).astype(np.float64)  # type: ignore[attr-defined]
    real = _real(probe)
    scale_from = real[1] if real is not None else x.reshape(n, -1).astype(np.float64)
    scale = median_nn_distance(scale_from)
    found = (
        distinct_endpoints(ends, float(scale))
        if not isinstance(scale, Undefined) and scale > 0
        else Undefined("the real data (or noise) has no nearest-neighbour scale")
    )
    metrics: dict[str, MetricValue] = {
        "rows": n,
        "steps": getattr(adapter, "steps", 0),
        "distinct_endpoints": found if isinstance(found, Undefined) else found[0],
        "endpoint_spread_ratio": Undefined("no real samples in the probe (x1 or data)"),
        "mode_coverage": Undefined("no real samples in the probe (x1 or data)"),
        "condition_spread_min": Undefined("no condition the forward takes from the probe"),
    }
    condition = _condition(adapter, n)
    modes = 0
    if real is not None:
        data = real[1]
        metrics["endpoint_spread_ratio"] = spread_ratio(ends, data)
        shared = condition[1] if condition is not None and len(data) == n else None
        if ends.shape[1] == data.shape[1]:
            centres, _ = mode_labels(data, shared)
            metrics["mode_coverage"] = mode_coverage(ends, centres)
            modes = len(centres)
        if shared is not None:
            metrics["condition_spread_min"] = condition_spread(ends, data, shared)
    severity = severity_of(metrics, n)
    summary = _summary(severity, metrics, n, real, modes, condition)
    return [
        Finding("prototype", severity, summary, metrics, FIX if severity in ("collapse", "warning") else "")
    ]


def _summary(
    severity: Severity,
    m: dict[str, MetricValue],
    n: int,
    real: tuple[str, np.ndarray] | None,
    modes: int,
    condition: tuple[str, np.ndarray] | None,
) -> str:
    lead = {
        "collapse": "generative flow collapse",
        "warning": "generative flow losing modes or spread",
        "ok": "generated samples cover the data",
        "undefined": "generative flow not judged",
    }[severity]
    parts = [f"{format_value(m['distinct_endpoints'])} distinct endpoints of {n:,} noise samples"]
    if real is not None:
        parts.append(f"spread {format_value(m['endpoint_spread_ratio'], 2)} of the real data's ({real[0]})")
        coverage = m["mode_coverage"]
        if modes and is_defined(coverage):
            parts.append(f"{round(float(coverage) * modes)} of its {modes} modes reached")
    else:
        parts.append("give real samples `x1` [M, ...] for spread and mode coverage")
    if condition is not None:
        parts.append(
            f"conditions from probe {condition[0]!r}; smallest per-condition spread ratio "
            f"{format_value(m['condition_spread_min'], 2)}"
        )
    parts.append(f"Euler {m['steps']} steps through the model's own forward")
    return f"{lead}: " + "; ".join(parts)
