"""Trajectories page server time and picture quality, on the shipped flow demo's last checkpoints.

1. Re-render after a control change, warm (umap imported and compiled): `core.plots.flow.view.flow_view` as the
   page's cached helper runs it, flow of every probe row (1,000), all endpoint metrics, the joint frame
   refitted from the checkpoint's home frame (frames cache emptied, so every setting is a real fit), and
   500 paths x 10 steps placed into it. Target <= 1.5 s. Baseline in the same process: the bare
   adapter flow. Also: a revisit of a setting (frame read from the on-disk cache).
2. Picture: trustworthiness (sklearn, k=10, cosine) of every frame fitted above and of the shipped home
   frames (target >= 0.93 at the default controls on both runs), and the shown endpoints' spots (1% grid
   of the picture's span; target: collapsed <= 3x its distinct endpoints, fixed >= 3x collapsed).
3. Alignment (why frames start from the home frame): between the default flip and a flip of another
   attribute, how far the inputs move and how far the endpoints of one target combination move (share
   of the picture's span), for our warm refit and for a refit started from the input frame and
   Procrustes-aligned on the inputs (the other cheap option).
4. First paint in a fresh process: imports + `AppTest.from_file(...).run()` of the page at default controls
   (shipped frames, so no UMAP fit and no umap import). Target <= 5 s. Baseline: imports alone.

Single-threaded torch and BLAS (the machine is shared; timings taken beside other jobs are noisy, the
ratios less so). Run: .venv/bin/python benchmarks/bench_trajectories_page.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from timing import best_of, timed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import DEMO_DIR  # noqa: E402
from core.adapters.registry import open_adapter  # noqa: E402
from core.config import FlowConfig  # noqa: E402
from core.io.files import content_digest  # noqa: E402
from core.io.probe import load_probe  # noqa: E402
from core.metrics.flow.clustering import median_nn_distance, pack_bits  # noqa: E402
from core.plots.flow.projection import FRAMES_DIR, FrameStore  # noqa: E402
from core.plots.flow.targets import default_controls, target_attributes  # noqa: E402
from core.plots.flow.view import (  # noqa: E402
    FlowView,
    FrameContext,
    check_flow_inputs,
    flow_view,
    home_anchor,
    joint_frame,
)

RERENDER_S = 1.5
FIRST_PAINT_S = 5.0
TRUST = 0.93
FIRST_PAINT = """
import time
start = time.perf_counter()
import sys
from pathlib import Path
from streamlit.testing.v1 import AppTest
import core.adapters.registry, core.plots.flow.view, ui.flow
imports = time.perf_counter() - start
at = AppTest.from_file(str(Path.cwd() / "pages" / "trajectories.py"), default_timeout=600).run()
first = time.perf_counter() - start
assert not at.exception and not at.error, (at.exception, at.error)
start = time.perf_counter()
at.run()
print(f"{imports:.3f} {first:.3f} {time.perf_counter() - start:.3f} {'umap' in sys.modules}")
"""


def spots(view: FlowView) -> int:
    """Distinct cells of a 1% grid over the span of everything drawn that the shown endpoints occupy."""
    drawn = np.concatenate([view.background, view.paths.reshape(-1, 2)])
    low, span = drawn.min(axis=0), np.ptp(drawn, axis=0)
    return len({tuple(c) for c in np.floor((view.paths[-1] - low) / (0.01 * span)).astype(int).tolist()})


def moved(a: np.ndarray, b: np.ndarray, labels_a: np.ndarray, labels_b: np.ndarray) -> tuple[float, float]:
    """(mean input displacement, median displacement of same-target endpoint centroids) between frames
    a and b [2n, 2], as shares of their joint span."""
    n = len(labels_a)
    span = float(np.ptp(np.concatenate([a, b]), axis=0).mean())
    inputs = float(np.linalg.norm(a[:n] - b[:n], axis=1).mean()) / span
    centroids = [
        np.linalg.norm(a[n:][labels_a == c].mean(axis=0) - b[n:][labels_b == c].mean(axis=0)) / span
        for c in np.intersect1d(labels_a, labels_b)
    ]
    return inputs, float(np.median(centroids))


def run(name: str, cache: Path) -> dict[str, float]:
    checkpoint = sorted((DEMO_DIR / "flow" / name).glob("*.pt"))[-1]
    adapter = open_adapter(str(checkpoint))
    embeddings, attributes = check_flow_inputs(adapter, load_probe(checkpoint.parent / "probe.npz"))
    store = FrameStore(checkpoint.parent / FRAMES_DIR, cache)
    context = FrameContext.for_probe(embeddings, attributes, checkpoint.parent, store)
    digest, scale, a = content_digest(checkpoint), median_nn_distance(embeddings), attributes.shape[1]
    steps, alpha = adapter.flow_defaults()
    anchor = home_anchor(adapter, digest, context, embeddings, attributes, FlowConfig(steps, alpha))
    home = flow_view(
        adapter,
        digest,
        context,
        embeddings,
        attributes,
        FlowConfig(steps, alpha, default_controls(a), 500),
        scale=scale,
    )

    # Every other single flip, "set" controls and flips of two: each a setting never fitted before.
    settings = [tuple("flip" if j == i else "keep" for j in range(a)) for i in range(1, a)]
    settings += [tuple("set 1" if j == i else "keep" for j in range(a)) for i in range(a)]
    settings += [tuple("flip" if j in (i, i + 1) else "keep" for j in range(a)) for i in range(a - 1)]
    views: list[FlowView] = []

    def render() -> None:
        controls = settings[len(views)]
        views.append(
            flow_view(
                adapter,
                digest,
                context,
                embeddings,
                attributes,
                FlowConfig(steps, alpha, controls, 500),
                anchor=anchor,
                scale=scale,
            )
        )

    render()  # compiles what is left to compile
    warm = best_of(render, 6)
    _, revisit = timed(
        lambda: flow_view(
            adapter,
            digest,
            context,
            embeddings,
            attributes,
            FlowConfig(steps, alpha, settings[1], 500),
            anchor=anchor,
            scale=scale,
        )
    )
    target = attributes.astype(np.float32)
    bare = best_of(lambda: adapter.flow(embeddings, target, steps, alpha), 5)

    # Alignment: the flip of attribute 1 refitted from the input frame and aligned on its inputs.
    flip = settings[0]
    flip_target = target_attributes(attributes, flip)
    rows = context.rows
    endpoints = adapter.flow(embeddings[rows], flip_target[rows].astype(np.float32), steps, alpha)[-1]
    procrustes = joint_frame(context, digest, embeddings[rows], endpoints, flip_target[rows], steps, alpha)
    home_labels, flip_labels = pack_bits(home.target[rows]), pack_bits(flip_target[rows])
    ours = moved(home.coords, views[0].coords, home_labels, flip_labels)
    other = moved(home.coords, procrustes.coords, home_labels, flip_labels)

    trusts = [v.trust for v in views]
    print(f"{checkpoint.relative_to(ROOT)}: {len(embeddings):,} probe rows, 500 shown x {steps} steps")
    print(
        f"  default controls (shipped home frame): trustworthiness {home.trust:.3f}; shown endpoints on "
        f"{spots(home)} spots of a 1% grid; {home.metrics['distinct_endpoints']} distinct endpoints"
    )
    print(
        f"  re-render after a control change (warm, new frame fitted, best of 6): {warm:.3f} s "
        f"(target <= {RERENDER_S} s) {'OK' if warm <= RERENDER_S else 'MISSED'}"
    )
    print(f"  baseline bare adapter.flow: {bare:.3f} s -> re-render = {warm / bare:.1f}x the flow alone")
    print(
        f"  revisit of a setting (frame from the disk cache): {revisit:.3f} s = {revisit / bare:.1f}x the flow"
    )
    print(
        f"  trustworthiness of the {len(trusts)} refitted frames: min {min(trusts):.3f}, "
        f"median {float(np.median(trusts)):.3f}"
    )
    print(
        f"  alignment, flip of attribute 0 -> 1: warm refit from the home frame moves inputs {ours[0]:.3f} "
        f"and same-target endpoints {ours[1]:.3f} of the span; refit from the input frame + Procrustes on "
        f"the inputs: {other[0]:.3f} and {other[1]:.3f}"
    )
    return {
        "trust": home.trust,
        "spots": spots(home),
        "distinct": home.metrics["distinct_endpoints"],
        "warm": warm,
    }


def main() -> int:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1):
        results = {name: run(name, Path(tmp) / name) for name in ("collapsed", "fixed")}
    collapsed, fixed = results["collapsed"], results["fixed"]
    picture = collapsed["spots"] <= 3 * collapsed["distinct"] and fixed["spots"] >= 3 * collapsed["spots"]
    print(
        f"spots: collapsed {collapsed['spots']} (<= 3 x {collapsed['distinct']}), fixed {fixed['spots']} "
        f"= {fixed['spots'] / collapsed['spots']:.1f}x collapsed (>= 3x) {'OK' if picture else 'MISSED'}"
    )
    out = subprocess.run(
        [sys.executable, "-c", FIRST_PAINT], cwd=ROOT, capture_output=True, text=True, check=True
    )
    imports, first, second, umap = out.stdout.split()[-4:]
    imports, first, second = float(imports), float(first), float(second)
    print(
        f"first paint, fresh process (imports + AppTest run): {first:.2f} s (target <= {FIRST_PAINT_S} s) "
        f"{'OK' if first <= FIRST_PAINT_S else 'MISSED'}; imports alone {imports:.2f} s -> page "
        f"{first - imports:.2f} s; second run {second:.2f} s; umap imported: {umap}"
    )
    ok = (
        all(r["warm"] <= RERENDER_S and r["trust"] >= TRUST for r in results.values())
        and picture
        and first <= FIRST_PAINT_S
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
