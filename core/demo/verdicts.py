"""The verdict of every shipped demo checkpoint on its own probe, stored for the app's first screen.

Each checkpoint is diagnosed as the app diagnoses it by default (weights only, no builder, on the CPU, with
the probe.npz its run folder holds), and its verdict is kept under the bytes of the checkpoint, of the
other files of its run folder and of the probe (core/report/verdict.py, `stored_verdict`). Runs last:
the checkpoints and their frames must be final.
"""

from __future__ import annotations

from pathlib import Path

from ..diagnosis.checkpoint import diagnose_checkpoint
from ..io.checkpoints import load_checkpoint
from ..io.paths import demo_checkpoints
from ..io.probe import find_probe, load_probe
from ..report.verdict import store_verdicts, verdict_entry, verdict_of


def build(out_dir: Path, *, quick: bool = False) -> list[Path]:
    """Diagnose every demo checkpoint under `out_dir` and write the verdict store; returns it. `quick` is
    accepted for symmetry with the other builders (a verdict has no epochs to cut)."""
    out_dir = Path(out_dir)
    entries = {}
    for checkpoint in demo_checkpoints(out_dir):
        probe = find_probe(checkpoint)
        report = diagnose_checkpoint(
            load_checkpoint(checkpoint), None if probe is None else load_probe(probe)
        )
        name = checkpoint.resolve().relative_to(out_dir.resolve()).as_posix()
        entries[name] = verdict_entry(checkpoint, probe, verdict_of(report), out_dir)
    return [store_verdicts(entries, out_dir)]
