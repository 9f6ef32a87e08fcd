"""Codebook collapse rules: few codes carry all the traffic, the rest are dead.

Usage comes from data when possible (probe `x` through a rebuilt model, or probe `codes`), else from
the EMA cluster sizes stored in the weights (said in the summary: training-time usage, not this data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..adapters.codebook import CODES_FIELD, measure_usage
from ..metrics import Undefined, format_value
from ..metrics.codebook import usage_summary
from . import Finding, Severity

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..probe import ProbeData

COLLAPSE_RATIO = 0.2  # perplexity / K below this is collapse whatever the dead fraction
COLLAPSE_RATIO_WITH_DEAD = 0.35
COLLAPSE_DEAD = 0.5
WARN_RATIO = 0.5
WARN_DEAD = 0.25
EMA_DEAD_THRESHOLD = 0.01  # EMA sizes decay towards 0 but never reach it: dead below 1% of the uniform share

FIX = (
    "Codebook collapse fixes, roughly in order of effort: "
    "(1) VQ-only warm-up: train reconstruction + commitment alone for a few epochs before semantic "
    "(classification, contrastive) losses join; "
    "(2) dead-code reseeding: every few steps move codes whose EMA usage fell below a small share onto "
    "random encoder outputs of the current batch; "
    "(3) initialise the codebook from encoder outputs (k-means on a first batch) rather than a fixed box; "
    "(4) staged training: freeze the codebook once usage is spread, then train the heads; "
    "(5) a commitment-cost schedule (start low, e.g. 0.05, ramp to 0.25) so the encoder is not pinned "
    "to the first codes it meets; "
    "(6) an entropy bonus on the batch code distribution; "
    "(7) bounded encoder outputs (e.g. 5 * tanh) with a codebook clamped to the same box keep dead codes "
    "within reach, but do not revive them on their own: pair them with (1) or (2)."
)


def severity_of(ratio: object, dead: object) -> Severity:
    """Severity from perplexity / K and the dead-code fraction."""
    if isinstance(ratio, Undefined) or isinstance(dead, Undefined):
        return "undefined"
    ratio, dead = float(ratio), float(dead)
    if ratio < COLLAPSE_RATIO or (ratio < COLLAPSE_RATIO_WITH_DEAD and dead > COLLAPSE_DEAD):
        return "collapse"
    if ratio < WARN_RATIO or dead > WARN_DEAD:
        return "warning"
    return "ok"


def findings(adapter: CheckpointAdapter, probe: ProbeData | None) -> list[Finding]:
    """One `codebook` finding per checkpoint (severity from perplexity / K and dead fraction)."""
    usage = measure_usage(adapter, probe)
    if usage is None:
        need = "probe x or codes" if adapter.spec().supports_code_indices else f"probe '{CODES_FIELD}'"
        return [
            Finding(
                "codebook",
                "undefined",
                f"cannot measure code usage: no EMA buffers in the weights and no probe data; give {need}",
            )
        ]
    threshold = EMA_DEAD_THRESHOLD if usage.source == "ema" else 0.0
    metrics = usage_summary(usage.counts, threshold)
    metrics["dead_threshold"] = threshold
    severity = severity_of(metrics["code_perplexity_ratio"], metrics["dead_code_fraction"])
    k = metrics["codebook_size"]
    if usage.source == "ema":
        where = "weight-only usage from EMA cluster sizes (training-time traffic, no probe data)"
    else:
        n_tokens = int(usage.counts.sum() / usage.counts.shape[0])
        where = f"{n_tokens:,} tokens" + (
            " from probe codes" if usage.source == "probe codes" else " of probe x"
        )
        if n_tokens < k and severity in ("collapse", "warning"):
            severity = "warning"
            where += "; fewer tokens than codes, so some codes are unused by chance: give more probe data"
    heads = (
        f" (worst of {metrics['codebook_heads']} heads: head {metrics['worst_head']})"
        if "worst_head" in metrics
        else ""
    )
    if severity == "undefined":
        reason = metrics["code_perplexity_ratio"]
        summary = f"codebook usage cannot be judged: {reason}; {where}"
    else:
        verdict = {"collapse": "codebook collapse", "warning": "under-used codebook", "ok": "codebook in use"}
        summary = (
            f"{verdict[severity]}{heads}: {format_value(metrics['used_codes'])} of {k:,} codes used, "
            f"perplexity {format_value(metrics['code_perplexity'], 2)} "
            f"({format_value(metrics['code_perplexity_ratio'], 2)} of K), "
            f"{format_value(metrics['dead_code_fraction'], 2)} dead; {where}"
        )
    return [Finding("codebook", severity, summary, metrics, FIX if severity != "ok" else "")]
