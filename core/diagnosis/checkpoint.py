"""One checkpoint's whole diagnosis: its family's findings (`diagnose`) plus the training findings of its
weights and its run's logs, and a user builder's adapter in place of a registered one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..adapters.registry import build_adapter
from ..io.errors import CollapseExplorerError
from .base import Report, diagnose
from .training import checkpoint_training_findings

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..io.checkpoints import LoadedCheckpoint
    from ..io.probe import ProbeData


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
