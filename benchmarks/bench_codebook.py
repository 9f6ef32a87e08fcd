"""Codebook speed targets: usage statistics over 1M indices with K = 8192 in under 10 ms, and the usage
heatmap of a 20-checkpoint run folder in under 2 s in a warm process. Baselines run in the same process:
np.unique counting for the statistics, bare torch.load of the 20 files for the run folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import best_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.adapters.codebook import run_usage  # noqa: E402
from core.io.probe import ProbeData  # noqa: E402
from core.metrics.codebook import code_counts, usage_summary  # noqa: E402
from core.models.codebook import VQVAE, VQVAEConfig  # noqa: E402
from core.plots.codebook import usage_heatmap  # noqa: E402

USAGE_TARGET_S = 0.010
HEATMAP_TARGET_S = 2.0


def naive_stats(indices: np.ndarray, k: int) -> float:
    codes, counts = np.unique(indices, return_counts=True)
    p = counts / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum())) + (k - len(codes)) / k


def bench_usage() -> bool:
    k = 8192
    rng = np.random.default_rng(0)
    indices = rng.zipf(1.3, size=1_000_000) % k  # heavy-tailed, like a half-collapsed codebook
    fast = best_of(lambda: usage_summary(code_counts(indices, k)), 20)
    naive = best_of(lambda: naive_stats(indices, k), 5)
    print(
        f"usage stats, 1M indices, K={k}: {fast * 1e3:.2f} ms (target {USAGE_TARGET_S * 1e3:.0f} ms); "
        f"np.unique baseline {naive * 1e3:.1f} ms; speed-up x{naive / fast:.1f}"
    )
    return fast < USAGE_TARGET_S


def bench_run_heatmap() -> bool:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = VQVAEConfig()
        for epoch in range(1, 21):
            model = VQVAE(config)
            torch.save(
                {"epoch": epoch, "model_state_dict": model.state_dict(), "config": config.to_dict()},
                folder / f"vqvae_epoch_{epoch:03d}.pt",
            )
        probe = ProbeData(x=np.random.default_rng(0).random((360, 64), dtype=np.float32))
        files = sorted(folder.glob("*.pt"))

        def full() -> None:
            usage_heatmap(run_usage(folder, probe)).to_json()

        full()  # warm: imports, adapter registry, first-call allocations
        warm = best_of(full, 3)
        load_only = best_of(lambda: [torch.load(f, weights_only=True) for f in files], 3)
    print(
        f"run-folder heatmap, 20 checkpoints x 360 probe inputs: {warm:.3f} s (target {HEATMAP_TARGET_S:.0f} s); "
        f"bare torch.load of the files {load_only:.3f} s; overhead x{warm / load_only:.1f}"
    )
    return warm < HEATMAP_TARGET_S


if __name__ == "__main__":
    torch.set_num_threads(1)
    ok = [bench_usage(), bench_run_heatmap()]
    print("all targets met" if all(ok) else "TARGET MISSED")
    sys.exit(0 if all(ok) else 1)
