"""Findings: what collapsed, the evidence (metric values) and the known fix.

Each family has a module here (flow, codebook, posterior, text, training) whose rules turn
metrics into findings. `diagnose` runs the rules that fit an adapter and collects the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..io.errors import CollapseExplorerError, ProbeError
from ..metrics.base import to_jsonable

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..io.probe import ProbeData

Severity = Literal["ok", "warning", "collapse", "undefined"]
Kind = Literal[
    "prototype", "mode", "repetition", "adapter", "codebook", "posterior", "dimensional", "training"
]
SEVERITY_ORDER: dict[str, int] = {"ok": 0, "undefined": 1, "warning": 2, "collapse": 3}


@dataclass(frozen=True)
class Finding:
    """One verdict: kind of collapse, how bad, a one-line summary, metric evidence, the known fix."""

    kind: Kind
    severity: Severity
    summary: str
    metrics: dict[str, object] = field(default_factory=dict)
    fix: str = ""

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "summary": self.summary,
            "metrics": {k: to_jsonable(v) for k, v in self.metrics.items()},
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Report:
    """Findings for one checkpoint, plus the errors met on the way (listed, never raised)."""

    checkpoint: str
    adapter: str | None
    findings: tuple[Finding, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def collapsed(self) -> bool:
        return any(f.severity == "collapse" for f in self.findings)

    @property
    def decided(self) -> bool:
        """Whether any collapse finding (a family's, not weight health or logs) reached a verdict. Finite
        weights say nothing about collapse, so they alone never make a report conclusive."""
        return any(f.kind != "training" and f.severity != "undefined" for f in self.findings)

    def exit_code(self) -> int:
        """CLI contract: 1 collapse found, 0 decided and nothing collapsed, 3 inconclusive (every
        collapse finding undefined, or none). 2, bad input, is raised before a report exists."""
        if self.collapsed:
            return 1
        return 0 if self.decided else 3

    def to_json(self) -> dict:
        return {
            "checkpoint": self.checkpoint,
            "adapter": self.adapter,
            "findings": [f.to_json() for f in self.findings],
            "errors": list(self.errors),
        }


Rule = Callable[["CheckpointAdapter", "ProbeData | None"], list[Finding]]


def family_rules(family: str) -> Rule | None:
    """The rule function of a family (the family registry's `rules`), or None when it has none yet."""
    # Imported here, not above: the registry's package loads every adapter and torch with it, and Finding
    # and Report are read without them (the app's first paint shows a stored verdict; see ui/verdict.py).
    from ..adapters.registry import family_part

    return family_part(family, "rules")


def diagnose(adapter: CheckpointAdapter, probe: ProbeData | None, checkpoint: str = "") -> Report:
    """Run the family rules of `adapter` on `probe` and collect a Report."""

    bind = getattr(adapter, "with_probe", None)
    if bind is not None:  # a live model: the probe's other fields reach its forward by parameter name
        adapter = bind(probe)
    rules = family_rules(adapter.spec().family)
    findings: list[Finding] = []
    errors: list[str] = []
    if rules is None:
        errors.append(f"no diagnosis rules for family {adapter.spec().family!r} yet")
    else:
        try:
            findings = rules(adapter, probe)
        except ProbeError as exc:
            if probe is not None:  # probe data given but bad or not this model's: bad input, never "ok"
                raise
            errors.append(str(exc))  # none given: the report says what to give (inconclusive)
        except CollapseExplorerError as exc:
            errors.append(str(exc))
    return Report(checkpoint, adapter.name, tuple(findings), tuple(errors))
