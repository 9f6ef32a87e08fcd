"""Prototype-collapse rules for vector-field (flow) checkpoints.

The probe embeddings are flowed toward targets = their own attributes with one attribute flipped per
row (row i flips attribute i mod A), so every row must move, every attribute is exercised equally and
no randomness is involved. Steps and alpha come from the checkpoint config when the adapter knows them
(`flow_defaults()`), else 10 steps of 0.1.

A collapsed field sends every input of a target combination to one point: the distinct-endpoint count
falls to about the number of target groups and the within-target spread ratio to about 0, while the
target silhouette looks perfect. The rules read distinct endpoints (relative to distinct inputs at the
same epsilon) together with the spread ratio; the silhouette is evidence only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..metrics.base import MetricValue, Undefined, format_value, is_defined
from ..metrics.flow.clustering import distinct_endpoints, median_nn_distance, pack_bits
from ..metrics.flow.trajectories import endpoint_metrics, flow_summary
from ..metrics.spectrum import rank_ratio, rankme
from .base import Finding, Severity
from .memo import of_inputs

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..io.probe import ProbeData

DEFAULT_STEPS = 10
DEFAULT_ALPHA = 0.1
MIN_ROWS = 10
# Collapse: endpoints merge onto few points AND groups lost most of their spread; or spread all but gone.
COLLAPSE_DISTINCT_RATIO = 0.1
COLLAPSE_GROUPS_FACTOR = 2
COLLAPSE_SPREAD = 0.2
COLLAPSE_SPREAD_ALONE = 0.05
# Warning: many endpoints merged, or groups kept well under half their spread.
WARN_DISTINCT_RATIO = 0.5
WARN_SPREAD = 0.35
STILL_GEODESIC = 1e-3  # radians; below this the field does not move the probe at all
# Dimensional collapse: endpoints keep under a quarter (collapse) or half (warning) of the inputs' RankMe.
# On the demo, collapsed epochs keep 0.08-0.12 and fixed ones 0.81-0.97.
COLLAPSE_RANK_RATIO = 0.25
WARN_RANK_RATIO = 0.5
DIMENSIONAL_FIX = (
    "The endpoints span few directions: the same remedies as prototype collapse apply (identity loss, "
    "flipping 1-2 attributes instead of arbitrary targets, detached prototypes); if the embeddings feed "
    "a downstream model, also watch its RankMe during training."
)

FIX = (
    "Prototype-collapse fixes: (1) detach the prototypes (stop-gradient): compute the per-target "
    "prototypes of the flowed batch under no_grad so no gradient reaches the flow through the "
    "prototypes; (2) add an identity loss that keeps z_T close to z_0 (small v) when the target "
    "attributes equal the original ones; (3) on half the batches train with targets equal to the "
    "originals with only 1-2 attributes flipped (the other half unchanged, where the identity loss "
    "applies), instead of arbitrary target combinations. In the shipped demo (2) and (3) are what keep "
    "the endpoints apart; detaching alone still collapsed."
)


def probe_targets(attributes: np.ndarray) -> np.ndarray:
    """Targets int8 [N, A]: row i of 0/1 attributes [N, A] with attribute (i mod A) flipped."""
    targets = np.asarray(attributes, dtype=np.int8).copy()
    rows = np.arange(len(targets))
    targets[rows, rows % targets.shape[1]] ^= 1
    return targets


def severity_of(metrics: dict[str, object]) -> Severity:
    """Severity from distinct endpoints (vs distinct inputs and target groups) and the spread ratio."""
    values = [metrics.get(k) for k in ("distinct_endpoints", "distinct_inputs", "spread_ratio", "n_clusters")]
    if not all(is_defined(v) for v in values):
        return "undefined"
    distinct, inputs, spread, groups = (float(v) for v in values)  # type: ignore[arg-type]
    ratio = distinct / inputs
    merged = ratio <= COLLAPSE_DISTINCT_RATIO or distinct <= COLLAPSE_GROUPS_FACTOR * groups
    if spread < COLLAPSE_SPREAD_ALONE or (merged and spread < COLLAPSE_SPREAD):
        return "collapse"
    if ratio < WARN_DISTINCT_RATIO or spread < WARN_SPREAD:
        return "warning"
    return "ok"


def _undefined(summary: str, metrics: dict[str, object] | None = None) -> list[Finding]:
    return [Finding("prototype", "undefined", summary, metrics or {})]


def _summary(severity: Severity, m: dict[str, object], n: int) -> str:
    f = format_value
    evidence = (
        f"{f(m['distinct_endpoints'])} distinct endpoints from {f(m['distinct_inputs'])} distinct inputs "
        f"({n:,} rows, {f(m['n_clusters'])} target groups), within-target spread ratio "
        f"{f(m['spread_ratio'])}, silhouette by target {f(m['silhouette_target'])}"
    )
    if severity == "collapse":
        return f"prototype collapse: each target group lands on a few points; {evidence}"
    if severity == "warning":
        return f"endpoints are contracting toward prototypes; {evidence}"
    angle = m["movement_geodesic"]
    if is_defined(angle) and float(angle) < STILL_GEODESIC:  # type: ignore[arg-type]
        still = f"the field barely moves the probe (mean angle {f(angle)} rad)"
        return f"no prototype collapse, but {still}; {evidence}"
    return f"no prototype collapse: endpoints keep their diversity; {evidence}"


def _distinct_inputs(z: np.ndarray, scale: float) -> MetricValue:
    found = distinct_endpoints(z, scale)
    return found if isinstance(found, Undefined) else found[0]


def findings(adapter: CheckpointAdapter, probe: ProbeData | None) -> list[Finding]:
    """One `prototype` finding from flowing the probe toward one-attribute-flipped targets (a generative
    flow's own rules when the adapter integrates noise: core.diagnosis.generative)."""
    if hasattr(adapter, "endpoints"):
        from .generative import findings as generative_findings

        return generative_findings(adapter, probe)
    if not adapter.spec().supports_flow:
        return _undefined(f"adapter {adapter.name!r} has no flow to diagnose")
    if probe is None or probe.embeddings is None or probe.attributes is None:
        return _undefined(
            "no probe data to flow: give a probe (.npz) with `embeddings` [N, D] (unit sentence/image "
            "embeddings) and `attributes` [N, A] (0/1), e.g. probe.npz beside the checkpoint"
        )
    z, attributes = probe.embeddings, probe.attributes
    n = len(z)
    if n < MIN_ROWS:
        return _undefined(f"the probe has {n} rows; prototype collapse needs at least {MIN_ROWS}")
    if attributes.shape[1] == 0:
        return _undefined("the probe has no attribute columns to set targets from")
    targets = probe_targets(attributes)
    target_labels, original_labels = pack_bits(targets), pack_bits(attributes)
    if len(np.unique(target_labels)) < 2:
        return _undefined(
            "every row has the same target combination; collapse onto prototypes needs at least two "
            "target groups (give a probe whose rows differ in their attributes)"
        )
    z = np.asarray(z, dtype=np.float32)
    scale = of_inputs("median_nn", z, lambda: median_nn_distance(z))
    if isinstance(scale, Undefined) or scale <= 0:
        reason = scale.reason if isinstance(scale, Undefined) else "most probe embeddings are identical"
        return _undefined(f"cannot set the distinct-endpoint scale: {reason}; give distinct embeddings")
    defaults = getattr(adapter, "flow_defaults", None)
    steps, alpha = defaults() if callable(defaults) else (DEFAULT_STEPS, DEFAULT_ALPHA)
    # Rows are flowed in chunks and only inputs, endpoints and step lengths kept: the whole path of a
    # 100k-row probe would take gigabytes.
    flows = flow_summary(
        lambda rows, y: adapter.flow(rows, y, steps, alpha), z, targets.astype(np.float32), steps
    )
    metrics: dict[str, object] = dict(endpoint_metrics(flows, target_labels, original_labels, scale=scale))
    metrics["distinct_inputs"] = of_inputs(f"distinct@{scale!r}", z, lambda: _distinct_inputs(z, scale))
    metrics.update({"rows": n, "steps": steps, "alpha": alpha})
    severity = severity_of(metrics)
    if severity == "undefined":
        reasons = sorted({v.reason for v in metrics.values() if isinstance(v, Undefined)})
        return _undefined(f"cannot judge prototype collapse: {'; '.join(reasons)}", metrics)
    return [
        Finding(
            "prototype", severity, _summary(severity, metrics, n), metrics, FIX if severity != "ok" else ""
        ),
        dimensional_finding(
            flows.start,
            flows.end,
            start_rank=of_inputs("rankme", flows.start, lambda: rankme(flows.start)),
            end_rank=metrics["rankme_end"],  # type: ignore[arg-type]
        ),
    ]


def dimensional_finding(
    start: np.ndarray,
    end: np.ndarray,
    *,
    start_rank: MetricValue | None = None,
    end_rank: MetricValue | None = None,
) -> Finding:
    """`dimensional` finding from the RankMe of the inputs [N, D] and of the endpoints [N, D].

    `start_rank` / `end_rank` reuse RankMe values that are already known.
    """
    metrics = rank_ratio(start, end, before_rank=start_rank, after_rank=end_rank)
    ratio = metrics["rankme_ratio"]
    if isinstance(ratio, Undefined):
        return Finding(
            "dimensional", "undefined", f"cannot judge dimensional collapse: {ratio.reason}", metrics
        )
    severity: Severity = (
        "collapse" if ratio < COLLAPSE_RANK_RATIO else "warning" if ratio < WARN_RANK_RATIO else "ok"
    )
    summary = (
        f"endpoints keep {ratio:.0%} of the inputs' effective rank "
        f"(RankMe {format_value(metrics['rankme_end'])} of {format_value(metrics['rankme_start'])})"
    )
    if severity != "ok":
        summary = f"dimensional collapse: {summary}"
    return Finding("dimensional", severity, summary, metrics, DIMENSIONAL_FIX if severity != "ok" else "")
