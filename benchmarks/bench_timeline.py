"""Timeline of a 20-checkpoint run: cold (first diagnosis of every file) vs cached, same process.

Target (issue 7): under 20 s cold, under 1 s cached. Run: .venv/bin/python benchmarks/bench_timeline.py [FAMILY/RUN]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from timing import timed

from core.io.paths import DEMO_DIR, demo_checkpoints
from core.timeline import timeline

N_CHECKPOINTS = 20


def make_run(source: Path, target: Path) -> None:
    """20 checkpoints cycled from a demo run (distinct names and epochs) plus its probe."""
    files = [p for p in demo_checkpoints() if p.parent == source]
    for i in range(N_CHECKPOINTS):
        shutil.copy(files[i % len(files)], target / f"ckpt_epoch_{i + 1:03d}{files[0].suffix}")
    shutil.copy(source / "probe.npz", target / "probe.npz")


def main() -> None:
    torch.set_num_threads(1)
    run = DEMO_DIR / (sys.argv[1] if len(sys.argv) > 1 else "codebook/collapsing")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_run(run, folder)
        points, cold = timed(lambda: timeline(folder))
        _, cached = timed(lambda: timeline(folder))
    ok = sum(p.report is not None for p in points)
    print(f"run: {run.relative_to(DEMO_DIR)} x{N_CHECKPOINTS} ({ok} diagnosed)")
    print(f"cold   {cold:7.2f} s   (target < 20 s)")
    print(f"cached {cached:7.3f} s   (target < 1 s)   cold/cached = {cold / cached:,.0f}x")


if __name__ == "__main__":
    main()
