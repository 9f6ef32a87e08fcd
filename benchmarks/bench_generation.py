"""Greedy generation of 64 sentences with the shipped fixed text-bridge demo in a warm process: target <= 2 s.

Baseline in the same process: the same 64 inputs decoded one at a time (unbatched). Both use one thread and
must give identical sentences. Run: .venv/bin/python benchmarks/bench_generation.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from timing import best_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import DEMO_DIR  # noqa: E402
from core.adapters.registry import open_adapter  # noqa: E402
from core.config import SamplingConfig  # noqa: E402
from core.io.probe import find_probe, load_probe  # noqa: E402

TARGET_S = 2.0
N = 64


def main() -> int:
    torch.set_num_threads(1)
    checkpoint = sorted((DEMO_DIR / "text" / "fixed").glob("bridge_epoch_*.pt"))[-1]
    adapter = open_adapter(str(checkpoint))
    embeddings = load_probe(find_probe(checkpoint)).embeddings[:N]
    config = SamplingConfig()
    batched = adapter.generate(embeddings, config)  # warm-up
    single = [adapter.generate(embeddings[i : i + 1], config)[0] for i in range(N)]
    if batched != single:
        print("FAIL: batched and one-at-a-time outputs differ")
        return 1
    fast = best_of(lambda: adapter.generate(embeddings, config), 3)
    slow = best_of(lambda: [adapter.generate(embeddings[i : i + 1], config) for i in range(N)], 1)
    ok = fast <= TARGET_S
    print(f"{checkpoint.relative_to(ROOT)}: {N} greedy outputs")
    print(f"batched      {fast:.3f} s (target <= {TARGET_S} s) {'OK' if ok else 'MISSED'}")
    print(f"one at a time {slow:.3f} s  -> batched is {slow / fast:.1f}x faster")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
