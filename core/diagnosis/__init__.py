"""Findings: what collapsed, the evidence (metric values) and the known fix.

Each family has a module here (prototype, codebook, posterior, mode, training) whose rules turn
metrics into findings. `diagnose` runs the rules that fit an adapter and collects the report.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..metrics import to_jsonable

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..checkpoints import LoadedCheckpoint
    from ..probe import ProbeData

Severity = Literal["ok", "warning", "collapse", "undefined"]
Kind = Literal["prototype", "mode", "codebook", "posterior", "dimensional", "training"]
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

# family name -> module (relative to this package) with `findings(adapter, probe) -> list[Finding]`.
FAMILY_RULES: dict[str, str] = {
    "flow": ".prototype",
    "codebook": ".codebook",
    "posterior": ".posterior",
    "text": ".mode",
}


def family_rules(family: str) -> Rule | None:
    """The rule function of a family, or None when the family has none yet."""
    module = FAMILY_RULES.get(family)
    if module is None:
        return None
    return importlib.import_module(module, __name__).findings


def diagnose(adapter: CheckpointAdapter, probe: ProbeData | None, checkpoint: str = "") -> Report:
    """Run the family rules of `adapter` on `probe` and collect a Report."""
    from ..errors import CollapseExplorerError, ProbeError

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


def diagnose_checkpoint(
    loaded: LoadedCheckpoint,
    probe: ProbeData | None,
    *,
    adapter_name: str | None = None,
    builder=None,
    device: str = "cpu",
) -> Report:
    """Family findings plus training findings (weight health, the run's logs up to this checkpoint).

    A checkpoint whose weights went NaN often cannot be rebuilt; the training finding is then the
    report, with the adapter's complaint listed as an error, instead of a bad-input failure.
    """
    from ..adapters.registry import build_adapter
    from ..errors import CollapseExplorerError
    from .training import checkpoint_training_findings

    training, notes = checkpoint_training_findings(loaded)
    checkpoint = str(loaded.path)
    try:
        adapter = (
            _built(builder, loaded, probe)
            if builder is not None
            else build_adapter(loaded, adapter_name, device=device)
        )
    except CollapseExplorerError as exc:
        if not any(f.severity == "collapse" for f in training):
            raise
        return Report(checkpoint, None, tuple(training), (" ".join(str(exc).split()), *notes))
    report = diagnose(adapter, probe, checkpoint)
    return Report(checkpoint, report.adapter, report.findings + tuple(training), report.errors + tuple(notes))


def _built(
    builder: Callable[..., CheckpointAdapter], loaded: LoadedCheckpoint, probe: ProbeData | None
) -> CheckpointAdapter:
    """The builder's adapter; a builder that takes `probe_x` (core.adapters.live.builder_adapter) gets the
    probe's x, so a quantizer without a codebook tensor can be found by running it."""
    try:
        takes_probe = "probe_x" in inspect.signature(builder).parameters
    except (TypeError, ValueError):
        takes_probe = False
    if takes_probe:
        texts = probe.texts if probe is not None else ()
        return builder(loaded, probe_x=probe.x if probe is not None else None, probe_texts=texts)
    return builder(loaded)
