"""Comparison rules for two checkpoints A and B: whether they can be compared, each metric's change judged by
the METRICS table (better, worse, depends ...), the evidence and verdict line of a report, and the
headline that leads a comparison ("B fixes A's prototype collapse: distinct endpoints 32 -> 988").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..adapters.base import AdapterSpec
from ..diagnosis.base import SEVERITY_ORDER, Finding, Report
from ..io.errors import CollapseExplorerError
from ..metrics.base import (
    MetricValue,
    format_value,
    improvement,
    info_of,
    is_defined,
    label,
)
from ..metrics.settings import is_setting
from ..timeline import report_metrics

# Families whose models read an input space of `latent_dim`: A and B must share it to be compared.
SHARED_INPUT_FAMILIES = ("flow", "text")
Judgement = Literal["better", "worse", "same", "depends", "no direction", "undefined", "setting"]


def check_comparable(a: AdapterSpec | None, b: AdapterSpec | None) -> None:
    """Raise CollapseExplorerError saying why A and B cannot be compared (family or dimension)."""
    for name, spec in (("A", a), ("B", b)):
        if spec is None:
            raise CollapseExplorerError(
                f"the model of {name} cannot be rebuilt (see its findings); nothing to compare"
            )
    if a.family != b.family:
        raise CollapseExplorerError(
            f"A is a {a.family} model and B a {b.family} model: a comparison needs two checkpoints of the "
            "same family (for example the collapsed and the fixed run)"
        )
    if a.family in SHARED_INPUT_FAMILIES and a.latent_dim != b.latent_dim:
        raise CollapseExplorerError(
            f"A reads {a.latent_dim}-d embeddings and B {b.latent_dim}-d ones: they cannot be measured "
            "on the same inputs"
        )


@dataclass(frozen=True)
class MetricDelta:
    """One metric of A and B, the change, whether B is better (+1), worse (-1) or neither (0), how to
    read that (`judgement`) and, for metrics whose good direction depends on context, why (`note`)."""

    key: str
    label: str
    a: MetricValue | None
    b: MetricValue | None
    delta: float | None
    verdict: int
    judgement: Judgement = "no direction"
    note: str = ""


def _judge(key: str, a: object, b: object, ma: dict, mb: dict) -> tuple[int, Judgement, str]:
    info, _ = info_of(key)
    if info is not None and is_setting(key):
        return 0, "setting", ""
    if a is None or b is None:
        return 0, "undefined", f"only {'B' if a is None else 'A'} has this value"
    if not (is_defined(a) and is_defined(b)):
        return 0, "undefined", ""
    if info is not None and info.context:
        ref = info.context_key
        seen = f" ({label(ref)}: A {format_value(ma.get(ref))}, B {format_value(mb.get(ref))})" if ref else ""
        return 0, "depends", info.context + seen
    if info is None or info.better == "neither":
        return 0, "no direction", ""
    verdict = improvement(key, a, b)
    return verdict, {1: "better", -1: "worse", 0: "same"}[verdict], ""


def compare_metrics(a: Report, b: Report) -> list[MetricDelta]:
    """Every metric of either report with B - A and the direction-aware verdict from METRICS."""
    ma, mb = report_metrics(a), report_metrics(b)
    rows = []
    for key in list(dict.fromkeys([*ma, *mb])):
        va, vb = ma.get(key), mb.get(key)
        delta = float(vb) - float(va) if is_defined(va) and is_defined(vb) else None  # type: ignore[arg-type]
        verdict, judgement, note = _judge(key, va, vb, ma, mb)
        rows.append(MetricDelta(key, label(key), va, vb, delta, verdict, judgement, note))
    return rows


# --- sentences --------------------------------------------------------------------------------------
# The metric a family's verdict turns on, and the denominator that makes it readable.
HEADLINE_METRIC: dict[str, tuple[str, str | None]] = {
    "prototype": ("distinct_endpoints", "distinct_inputs"),
    "dimensional": ("rankme_ratio", None),
    "codebook": ("used_codes", "codebook_size"),
    "posterior": ("active_units", "latent_dim"),
    "mode": ("unique_output_ratio", None),
}
_NOT_OK = ("collapse", "warning")


def _worst(findings: Sequence[Finding], kind: str) -> Finding | None:
    found = [f for f in findings if f.kind == kind]
    return max(found, key=lambda f: SEVERITY_ORDER[f.severity]) if found else None


def evidence(finding: Finding) -> str:
    """The one figure a finding turns on, in words: '32 distinct endpoints of 1,000'."""
    m = finding.metrics
    if finding.kind == "mode" and is_defined(m.get("unique_output_ratio")) and "inputs" in m:
        n = int(m["inputs"])
        distinct = round(float(m["unique_output_ratio"]) * n)
        return f"{distinct:,} distinct output{'s' if distinct != 1 else ''} for {n:,} inputs"
    if finding.kind == "dimensional" and is_defined(m.get("rankme_ratio")):
        return f"endpoints keep {float(m['rankme_ratio']):.0%} of the inputs' effective rank"
    key, of = HEADLINE_METRIC.get(finding.kind, (None, None))
    if key is None or key not in m:
        return finding.summary
    words = {"prototype": "distinct endpoints", "codebook": "codes used", "posterior": "latent units active"}
    text = f"{format_value(m[key])} {words.get(finding.kind, label(key))}"
    return text + (f" of {format_value(m[of])}" if of and of in m else "")


def verdict_line(report: Report) -> str:
    """One checkpoint's verdict: 'prototype collapse - 32 distinct endpoints of 1,000' or 'ok - ...'."""
    family = [f for f in report.findings if f.kind != "training"]
    bad = [f for f in family if f.severity in _NOT_OK]
    training = [f for f in report.findings if f.kind == "training" and f.severity in _NOT_OK]
    if bad:
        text = ", ".join(f"{f.kind} {f.severity}" for f in bad) + " - " + evidence(bad[0])
    elif family and all(f.severity == "undefined" for f in family):
        text = "could not be judged - " + family[0].summary
    elif family:
        text = "ok - " + evidence(family[0])
    elif training:
        text = ", ".join(f"training {f.severity}" for f in training[:1]) + " - " + training[0].summary
        training = []
    else:
        text = "no finding" + (f" - {report.errors[0]}" if report.errors else "")
    if training:
        text += "; training " + max((f.severity for f in training), key=SEVERITY_ORDER.get)
    return text


def _lower_first(text: str) -> str:
    """'Distinct endpoints' -> 'distinct endpoints', but 'RankMe kept' stays."""
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def headline(a: Report, b: Report) -> str:
    """What B changes about A, led by the family verdict: "B fixes A's prototype collapse: distinct
    endpoints 32 -> 988"; kinds judged alike in both are summed up at the end."""
    kinds = [k for k in dict.fromkeys(f.kind for f in (*a.findings, *b.findings)) if k != "training"]
    kinds.append("training")
    clauses, same = [], []
    for kind in kinds:
        fa, fb = _worst(a.findings, kind), _worst(b.findings, kind)
        if fa is None or fb is None:
            continue
        key = HEADLINE_METRIC.get(kind, (None, None))[0]
        change = ""
        if key and key in fa.metrics and key in fb.metrics:
            change = (
                f": {label(key).lower()} {format_value(fa.metrics[key])} -> {format_value(fb.metrics[key])}"
            )
        sa, sb = fa.severity, fb.severity
        if sa in _NOT_OK and sb == "ok":
            clauses.append(f"B fixes A's {kind} {sa}{change}")
        elif sa == "ok" and sb in _NOT_OK:
            clauses.append(f"B shows {kind} {sb} where A is ok{change}")
        elif sa in _NOT_OK and sb in _NOT_OK:
            if SEVERITY_ORDER[sb] < SEVERITY_ORDER[sa]:
                clauses.append(f"B eases A's {kind} {sa} to a {sb}{change}")
            elif SEVERITY_ORDER[sb] > SEVERITY_ORDER[sa]:
                clauses.append(f"B worsens A's {kind} {sa} to a {sb}{change}")
            else:
                clauses.append(f"both show {kind} {sa}{change}")
        elif "undefined" in (sa, sb):
            which = "A" if sa == "undefined" else "B"
            clauses.append(f"{kind} could not be judged for {which}")
        elif kind != "training":
            same.append(kind)
    if same:
        clauses.append(f"both ok on {', '.join(same)}")
    if not clauses:
        return "A and B share no finding to compare"
    text = "; ".join(clauses)
    return text[0].upper() + text[1:]
