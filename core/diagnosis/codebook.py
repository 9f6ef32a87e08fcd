"""Codebook collapse rules: few codes carry all the traffic, the rest are dead.

Usage comes from data when possible (probe `x` through a rebuilt model, or probe `codes`), else from
the EMA cluster sizes stored in the weights (said in the summary: training-time usage, not this data).
With neither, a weight-only estimate reads what the code vectors themselves show (codes never moved
from their initialisation, codes collapsed onto each other): it may warn or find collapse, and says
"usage not seen" instead of "ok" when the weights look healthy. Every group of codebooks (VQ-VAE-2
levels, residual layers) gets its own finding.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..adapters.codebook import CODES_FIELD, CodebookGroup, CodeUsage, measure_usage, silent_usage
from ..metrics.base import MetricValue, Undefined, format_value, is_defined
from ..metrics.codebook import usage_summary, weight_evidence
from .base import Finding, Severity

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..io.probe import ProbeData

COLLAPSE_RATIO = 0.2  # perplexity / K below this is collapse whatever the dead fraction
COLLAPSE_RATIO_WITH_DEAD = 0.35
COLLAPSE_DEAD = 0.5
WARN_RATIO = 0.5
WARN_DEAD = 0.25
EMA_DEAD_THRESHOLD = 0.01  # EMA sizes decay towards 0 but never reach it: dead below 1% of the uniform share
INIT_ASSUMPTION = (
    "the codebook was initialised at a 1/K scale (uniform in [-1/K, 1/K] or N(0, 1/K^2)), as most VQ "
    "code does, and is trained without EMA, so a code that is never chosen never moves"
)


ZERO_ASSUMPTION = (
    "an EMA codebook divides running sums by running counts, so a code never assigned decays to an exact "
    "zero row while every assigned code moves away from zero"
)
IMPLICIT_FIX = (
    "Collapse of a quantizer without a codebook (FSQ, LFQ): no code can be reseeded, the encoder's outputs "
    "all fall on the same level vector or sign pattern. Fixes: (1) keep the quantizer's inputs spread over "
    "its range: a LayerNorm or a learned scale before it, so values neither saturate the FSQ bound nor sit "
    "at one side of every LFQ sign; (2) for LFQ, weight the entropy penalty up (entropy_loss_weight, "
    "diversity_gamma: batch code entropy pushed up, per-token entropy down); (3) check that gradients reach "
    "the encoder through the straight-through rounding (a detached or frozen last encoder layer stays "
    "where it started); (4) fewer levels or bits when K is far above the tokens per batch."
)


def codebook_fix(parts: tuple[str, ...]) -> str:
    """The known fixes, naming only parts the model has (warm-up and staging need semantic heads)."""
    if "implicit codebook" in parts:
        return IMPLICIT_FIX
    semantic = "semantic heads" in parts
    steps = []
    if semantic:
        steps.append(
            "VQ-only warm-up: train reconstruction + commitment alone for a few epochs before semantic "
            "(classification, contrastive) losses join"
        )
    steps.append(
        "dead-code reseeding: every few steps move codes whose usage (EMA cluster size, or counts over recent "
        "batches) fell below a small share onto random encoder outputs of the current batch"
    )
    steps.append(
        "initialise the codebook from encoder outputs (k-means on a first batch) rather than a fixed box"
    )
    if semantic:
        steps.append(
            "staged training: freeze the codebook once usage is spread, then train the semantic heads"
        )
    steps.append(
        "a commitment-cost schedule (start low, e.g. 0.05, ramp to 0.25) so the encoder is not pinned to the "
        "first codes it meets"
    )
    steps.append("an entropy bonus on the batch code distribution")
    steps.append(
        "bounded encoder outputs (e.g. 5 * tanh) with a codebook clamped to the same box keep dead codes within "
        f"reach, but do not revive them on their own: pair them with reseeding{' or warm-up' if semantic else ''}"
    )
    return (
        "Codebook collapse fixes, roughly in order of effort: "
        + "; ".join(f"({i}) {step}" for i, step in enumerate(steps, 1))
        + "."
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


def weight_severity(metrics: dict[str, MetricValue]) -> Severity:
    """Severity of a weight-only estimate: collapse or warning from the bound on live codes, warning
    from a sizeable share of codes never trained (a lower bound on dead codes), never ok."""
    live = metrics["live_fraction_estimate"]
    if not is_defined(live):
        return "undefined"
    if float(live) < COLLAPSE_RATIO:
        return "collapse"
    untrained = metrics.get("codes_at_init")
    k = metrics["codebook_size"]
    if is_defined(untrained) and is_defined(k) and float(untrained) > WARN_DEAD * float(k):
        return "warning"
    return "warning" if float(live) < WARN_RATIO else "undefined"


def findings(adapter: CheckpointAdapter, probe: ProbeData | None) -> list[Finding]:
    """One `codebook` finding per group of codebooks (severity from usage, or a weight-only estimate)."""
    spec = adapter.spec()
    fix = codebook_fix(spec.parts)
    groups: list[CodebookGroup] = list(getattr(adapter, "codebook_groups", list)())
    names = groups[0].names if groups else ()
    usage = measure_usage(adapter, probe)
    if usage is not None:
        out = [_usage_finding(usage, names, fix, groups[0] if groups else None)]
        if "implicit codebook" in spec.parts:
            out[0] = replace(out[0], summary=f"{out[0].summary}; {spec.description}")
    elif groups:
        out = [_weight_finding(groups[0], fix)]
    else:
        need = "probe x or codes" if spec.supports_code_indices else f"probe '{CODES_FIELD}'"
        out = [
            Finding(
                "codebook",
                "undefined",
                f"cannot measure code usage: no EMA buffers in the weights and no probe data; give {need}",
            )
        ]
    for group in groups[1:]:
        out.append(
            _usage_finding(CodeUsage(group.usage, "ema"), group.names, fix, group)
            if group.usage is not None and not silent_usage(group.usage)
            else _weight_finding(group, fix)
        )
    return out


def _heads_text(metrics: dict[str, MetricValue], names: tuple[str, ...]) -> str:
    if "worst_head" not in metrics:
        return f" ({names[0]})" if len(names) == 1 and len(names[0]) < 60 else ""
    worst = int(metrics["worst_head"])
    name = f" {names[worst]}" if worst < len(names) else ""
    return f" (worst of {metrics['codebook_heads']} codebooks: head {worst}{name})"


def _usage_finding(
    usage: CodeUsage, names: tuple[str, ...], fix: str, group: CodebookGroup | None
) -> Finding:
    threshold = EMA_DEAD_THRESHOLD if usage.source == "ema" else 0.0
    metrics = usage_summary(usage.counts, threshold)
    metrics["dead_threshold"] = threshold
    if usage.unknown_size is not None:
        for key in ("codebook_size", "code_perplexity_ratio", "dead_code_fraction"):
            metrics[key] = Undefined(usage.unknown_size)
    severity = severity_of(metrics["code_perplexity_ratio"], metrics["dead_code_fraction"])
    k = metrics["codebook_size"]
    if usage.source == "ema":
        where = "weight-only usage from EMA cluster sizes (training-time traffic, no probe data)"
        if group is not None:
            evidence = weight_evidence(group.vectors[int(metrics.get("worst_head", 0))], ema=True)
            metrics["duplicate_codes"] = evidence["duplicate_codes"]
            metrics["codebook_rankme"] = evidence["codebook_rankme"]
    else:
        n_tokens = int(usage.counts.sum() / usage.counts.shape[0])
        where = f"{n_tokens:,} tokens" + (
            " from probe codes" if usage.source == "probe codes" else " of probe x"
        )
        if is_defined(k) and n_tokens < k and severity in ("collapse", "warning"):
            severity = "warning"
            where += "; fewer tokens than codes, so some codes are unused by chance: give more probe data"
    heads = _heads_text(metrics, names)
    if usage.unknown_size is not None:
        summary = (
            f"codebook usage cannot be judged{heads}: {format_value(metrics['used_codes'])} codes used, "
            f"perplexity {format_value(metrics['code_perplexity'], 2)}, but {usage.unknown_size}, so neither "
            f"perplexity / K nor dead codes can be told; {where}"
        )
    elif severity == "undefined":
        reason = metrics["code_perplexity_ratio"]
        summary = f"codebook usage cannot be judged{heads}: {reason}; {where}"
    else:
        verdict = {"collapse": "codebook collapse", "warning": "under-used codebook", "ok": "codebook in use"}
        summary = (
            f"{verdict[severity]}{heads}: {format_value(metrics['used_codes'])} of {k:,} codes used, "
            f"perplexity {format_value(metrics['code_perplexity'], 2)} "
            f"({format_value(metrics['code_perplexity_ratio'], 2)} of K), "
            f"{format_value(metrics['dead_code_fraction'], 2)} dead; {where}"
        )
    return Finding("codebook", severity, summary, metrics, fix if severity != "ok" else "")


def _weight_finding(group: CodebookGroup, fix: str) -> Finding:
    """Weight-only estimate for the worst head of a group (lowest bound on live codes)."""
    silent = (
        "its usage buffer is all zeros while codes moved: nothing counted in it, so it is no usage signal"
        if group.usage is not None and silent_usage(group.usage)
        else ""
    )
    per_head = [weight_evidence(book, ema=group.ema) for book in group.vectors]
    worst = min(
        range(len(per_head)),
        key=lambda h: (
            float(per_head[h]["live_fraction_estimate"])
            if is_defined(per_head[h]["live_fraction_estimate"])
            else 2.0
        ),
    )
    metrics = dict(per_head[worst])
    if len(per_head) > 1:
        metrics.update(codebook_heads=len(per_head), worst_head=worst)
    severity = weight_severity(metrics)
    heads = _heads_text(metrics, group.names)
    k = metrics["codebook_size"]
    at_init = metrics["codes_at_init"]
    bound = ""
    if is_defined(at_init):
        assumption = ZERO_ASSUMPTION if group.ema else INIT_ASSUMPTION
        where = "exact zero rows" if group.ema else "still at their 1/K-scale initialisation"
        seen = f"{format_value(at_init)} {where}, "
        if int(at_init):
            bound = f"at least {format_value(at_init)} of {k:,} codes never trained (a lower bound on dead codes); "
    else:
        assumption = str(at_init).removeprefix("undefined: ")
        seen = ""
    if silent:
        assumption += f"; {silent}"
    distinct = format_value(metrics["distinct_codes_estimate"])
    evidence = (
        f"{distinct} of {k:,} codes trained and distinct ({seen}{format_value(metrics['duplicate_codes'])} "
        f"near-duplicates of another code), effective rank {format_value(metrics['codebook_rankme'], 2)}"
    )
    need = "give probe codes, or probe x with --builder, for measured usage"
    if severity == "undefined":
        summary = (
            f"code usage not seen{heads} (weight-only estimate): {evidence}; the weights show no sign of collapse "
            f"but cannot show usage ({assumption}); {need}"
        )
        return Finding("codebook", severity, summary, metrics)
    verdict = "codebook collapse" if severity == "collapse" else "under-used codebook"
    summary = (
        f"{verdict}{heads} (weight-only estimate): {bound}{evidence}, so at most {distinct} codes can be in use; "
        f"assumption: {assumption}; {need}"
    )
    return Finding("codebook", severity, summary, metrics, fix)
