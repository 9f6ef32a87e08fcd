"""Exact chunked cosine silhouette vs sklearn.metrics.silhouette_score, 20,000 x 384, same process.

Target: at least 2x faster, values equal to 1e-6. Single-threaded BLAS for both (shared machine).
Run: .venv/bin/python benchmarks/bench_silhouette.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits
from timing import timed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from core.metrics.flow.clustering import pack_bits, silhouette

N, D, A = 20_000, 384, 5


def main() -> int:
    rng = np.random.default_rng(0)
    attributes = rng.integers(0, 2, size=(N, A)).astype(np.int8)
    labels = pack_bits(attributes)
    centres = rng.normal(size=(2**A, D))
    x = (centres[labels] + 3.0 * rng.normal(size=(N, D))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)

    ours, ours_s = timed(lambda: silhouette(x, labels))
    theirs, theirs_s = timed(lambda: silhouette_score(x.astype(np.float64), labels, metric="cosine"))

    print(f"silhouette {N} x {D}, {len(np.unique(labels))} labels")
    print(f"  ours    {ours_s:8.3f} s  value {ours:.9f}")
    print(f"  sklearn {theirs_s:8.3f} s  value {theirs:.9f}")
    ok = theirs_s / ours_s >= 2 and abs(ours - theirs) <= 1e-6
    print(
        f"  speed-up {theirs_s / ours_s:.1f}x (target >= 2x), abs diff {abs(ours - theirs):.2e} (target <= 1e-6)"
    )
    print("OK" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    with threadpool_limits(limits=1):
        sys.exit(main())
