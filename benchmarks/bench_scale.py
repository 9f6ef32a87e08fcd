"""Scale targets of issues 13 and 22: `diagnose` of a learning-to-flow-size field at 2k / 20k / 100k probe rows.

The case (issue 22's reproduction): `VectorFieldNetwork(512, 5, 256)` (Linear(517, 256), LayerNorm, ReLU,
Linear(256, 256), LayerNorm, ReLU, Linear(256, 256), ReLU, Linear(256, 512)) with torch.manual_seed(0) weights,
saved as {"epoch", "model_state_dict": {"network.<k>": ...}, "config": {"model": {...}}}, and a probe of one of
three kinds with 5 random 0/1 attributes:

- clustered: embedding-like unit rows (power-law spectrum over all 512 directions plus one offset per attribute);
- unstructured: standard normal rows normalised to unit length (numpy default_rng(0)), no cluster structure;
- mixed: unstructured rows of which a tenth sit in 20 tight clusters.

Targets at 100k unstructured rows (issue 22): `diagnose` <= 40 s wall, <= 1.5 GB peak RSS, <= 5.5x the 20k
time; clustered data no slower than the baseline; the distinct counts equal the baseline's (both exact).

Each `diagnose` and each per-metric child runs in a fresh process (imports included) whose peak RSS is read with
getrusage; the per-metric child times the distinct counts (and with --all-metrics every metric) on the same
arrays. The baseline is the code of a git commit (default: the commit before issue 22, extracted with `git
archive` into a temporary folder, so the old implementation lives only there), timed in the same run, so before
/ after figures share the machine's load; --repeat runs every measurement that many times and reports medians.
One torch / BLAS thread by default (the machine is shared; `--threads` changes it). Run:

    .venv/bin/python benchmarks/bench_scale.py [--kinds clustered,unstructured,mixed] [--rows 2000,20000,100000]
        [--baseline ca62742] [--repeat 1]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DIM, ATTRIBUTES, HIDDEN = 512, 5, 256
KINDS = ("clustered", "unstructured", "mixed")
BASELINE = "ca62742"  # main before issue 22: k-means cells, all pairs in full where cells do not prune
TARGET_WALL_S, TARGET_RSS_GB, TARGET_GROWTH = 40.0, 1.5, 5.5
DISTINCT = ("median_nn", "distinct_inputs", "distinct_endpoints")
METRIC_ORDER = (
    "flow",
    *DISTINCT,
    "silhouette_target",
    "silhouette_original",
    "purity",
    "movement_steps",
    "spread_ratio",
    "rankme",
    "divergence_curl",
)
# Runs one command (its stdout kept or dropped) and prints its exit code, peak RSS (kB) and CPU seconds on a
# last line once it exits: getrusage of a process that has one child.
RSS_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "keep = sys.argv[1] == 'keep'\n"
    "code = subprocess.run(sys.argv[2:], stdout=None if keep else subprocess.DEVNULL).returncode\n"
    "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(code, use.ru_maxrss, use.ru_utime + use.ru_stime, flush=True)\n"
)


def _module(*names: str):
    """The first of `names` that imports: module paths differ between the baseline and the current tree."""
    for name in names[:-1]:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    return importlib.import_module(names[-1])


def probe_embeddings(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embedding-like unit rows float32 [n, 512] and 0/1 attributes int8 [n, 5]."""
    rng = np.random.default_rng(seed)
    attributes = (rng.random((n, ATTRIBUTES)) < 0.5).astype(np.int8)
    rotation = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0]
    spectrum = 1.0 / np.arange(1, DIM + 1)
    offsets = rng.standard_normal((ATTRIBUTES, DIM)) / np.sqrt(DIM)
    z = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 8192):
        rows = slice(start, start + 8192)
        cloud = (rng.standard_normal((len(attributes[rows]), DIM)) * np.sqrt(spectrum)) @ rotation
        block = (2 * attributes[rows] - 1) @ offsets + cloud
        z[rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return z, attributes


def unit_rows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Issue 22's probe: standard normal rows normalised to unit length, float32 [n, 512], then 0/1 int8 [n, 5]."""
    rng = np.random.default_rng(seed)
    z = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 8192):
        block = rng.standard_normal((min(8192, n - start), DIM))
        z[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return z, rng.integers(0, 2, (n, ATTRIBUTES)).astype(np.int8)


def mixed_rows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows of which a tenth sit in 20 tight clusters (jitter far below the rows' spacing)."""
    z, attributes = unit_rows(n, seed)
    rng = np.random.default_rng(seed + 1)
    members = rng.choice(n, n // 10, replace=False)
    centres = z[rng.choice(n, 20, replace=False)]
    jitter = rng.standard_normal((len(members), DIM)) * (0.01 / np.sqrt(DIM))
    block = centres[rng.integers(0, 20, len(members))] + jitter
    z[members] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return z, attributes


def make_case(folder: Path, n: int, kind: str) -> Path:
    """Checkpoint + probe.npz of `n` rows of `kind` in `folder`; returns the checkpoint path."""
    import torch

    network = _module("core.models.flow", "core.models.vectorfield").VectorFieldNetwork
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = network(DIM, ATTRIBUTES, HIDDEN)
    checkpoint = folder / "fclf_epoch_1.pt"
    config = {
        "embedding_dim": DIM,
        "num_attributes": ATTRIBUTES,
        "hidden_dim": HIDDEN,
        "projection_radius": 1.0,
    }
    torch.save({"epoch": 1, "model_state_dict": model.state_dict(), "config": {"model": config}}, checkpoint)
    make = {"clustered": probe_embeddings, "unstructured": unit_rows, "mixed": mixed_rows}[kind]
    z, attributes = make(n)
    np.savez(folder / "probe.npz", embeddings=z, attributes=attributes)
    return checkpoint


def child(checkpoint: str, every_metric: bool) -> None:
    """Per-metric seconds and distinct counts on one case, printed as JSON. Uses only calls the baseline has."""
    import torch

    open_adapter = _module("core.adapters.registry").open_adapter
    probe_targets = _module("core.diagnosis.flow", "core.diagnosis.prototype").probe_targets
    trajectories = _module("core.metrics.flow.trajectories", "core.metrics.trajectories")
    clustering = _module("core.metrics.flow.clustering", "core.metrics.clustering")
    field_stats = _module("core.metrics.flow.field", "core.metrics.field").field_stats
    rankme = _module("core.metrics.spectrum").rankme
    load_probe = _module("core.io.probe", "core.probe").load_probe
    distinct_endpoints, pack_bits = clustering.distinct_endpoints, clustering.pack_bits

    adapter = open_adapter(checkpoint)
    probe = load_probe(Path(checkpoint).with_name("probe.npz"))
    z, attributes = probe.embeddings, probe.attributes
    targets = probe_targets(attributes)
    target_labels, original_labels = pack_bits(targets), pack_bits(attributes)
    times: dict[str, float] = {}

    def clock(name: str, fn):
        start = time.perf_counter()
        result = fn()
        times[name] = time.perf_counter() - start
        return result

    y = targets.astype(np.float32)
    summarise = getattr(trajectories, "flow_summary", None)
    if summarise is None:  # older code: the whole path [T+1, N, D]
        traj = clock("flow", lambda: adapter.flow(z, y, 10, 0.1))
        start, end = traj[0], traj[-1]
    else:
        # Older commits learnt the step count from a one-row call; newer ones are told it.
        steps = {"steps": 10} if "steps" in inspect.signature(summarise).parameters else {}
        traj = clock("flow", lambda: summarise(lambda zc, yc: adapter.flow(zc, yc, 10, 0.1), z, y, **steps))
        start, end = traj.start, traj.end
    scale = clock("median_nn", lambda: clustering.median_nn_distance(z))
    inputs = clock("distinct_inputs", lambda: distinct_endpoints(z, scale))
    found = clock("distinct_endpoints", lambda: distinct_endpoints(end, scale))
    counts = {"distinct_inputs": int(inputs[0]), "distinct_endpoints": int(found[0])}
    if not every_metric:
        print(json.dumps({"times": times, **counts}))
        return
    clock("silhouette_target", lambda: clustering.silhouette(end, target_labels))
    clock("silhouette_original", lambda: clustering.silhouette(end, original_labels))
    clock("purity", lambda: clustering.purity(target_labels, found[1]))
    clock("movement_steps", lambda: (trajectories.movement(traj), trajectories.step_distances(traj)))
    clock("spread_ratio", lambda: trajectories.spread_ratio(traj, target_labels))
    clock("rankme", lambda: rankme(end))
    field = adapter.field_fn()
    yt = torch.from_numpy(y)
    parameters = inspect.signature(field_stats).parameters
    if "max_rows" in parameters:  # as the page estimates them: a seeded sample of the inputs
        sample_rows = _module("core.metrics.flow.field", "core.metrics.field").SAMPLE_ROWS
        clock("divergence_curl", lambda: field_stats(field, start, condition=yt, max_rows=sample_rows))
    elif "condition" in parameters:  # rows in chunks, each with its targets
        clock("divergence_curl", lambda: field_stats(field, start, condition=yt))
    else:
        clock("divergence_curl", lambda: field_stats(lambda points: field(points, yt), start))
    print(json.dumps({"times": times, **counts}))


def _env(code_root: Path, threads: int) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(code_root))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    return env


def _launch(code_root: Path, command: list[str], threads: int, keep: bool) -> tuple[str, float, float, int]:
    """(child's stdout, CPU seconds, peak RSS in GB, exit code) of `command` run in a fresh process."""
    launcher = [sys.executable, "-c", RSS_LAUNCHER, "keep" if keep else "drop", *command]
    out = subprocess.run(
        launcher, cwd=code_root, env=_env(code_root, threads), capture_output=True, text=True
    )
    lines = out.stdout.strip().splitlines()
    if out.returncode or not lines:
        raise RuntimeError(f"{command[1:]} failed: {out.stderr.strip()[-2000:]}")
    code, rss_kb, cpu = lines[-1].split()
    return "\n".join(lines[:-1]), float(cpu), int(rss_kb) / 1024**2, int(code)


def diagnose_run(code_root: Path, checkpoint: Path, threads: int) -> dict:
    """Wall and CPU seconds, peak RSS (GB) and exit code of `python -m core diagnose`, in a fresh process."""
    start = time.perf_counter()
    _, cpu, rss, code = _launch(
        code_root, [sys.executable, "-m", "core", "diagnose", str(checkpoint)], threads, False
    )
    return {"wall": time.perf_counter() - start, "cpu": cpu, "rss": rss, "exit": code}


def metric_run(code_root: Path, checkpoint: Path, threads: int, every_metric: bool) -> dict:
    """The per-metric child's times and counts, with its peak RSS (GB)."""
    command = [sys.executable, __file__, "--child", str(checkpoint)] + (
        ["--all-metrics"] if every_metric else []
    )
    stdout, _, rss, _ = _launch(code_root, command, threads, True)
    return {**json.loads(stdout.splitlines()[-1]), "rss": rss}


def extract(ref: str, folder: Path) -> Path:
    """The tree of commit `ref` in `folder` (git archive: no worktree, nothing written to the repository)."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _growth(values: list[float]) -> str:
    return " ".join(f"x{b / a:.1f}" if a > 0 else "-" for a, b in itertools.pairwise(values))


def _median(runs: list[dict], *path: str) -> float:
    values = []
    for run in runs:
        for key in path:
            run = run[key]
        values.append(run)
    return statistics.median(values)


def _distinct_seconds(run: dict) -> float:
    return run["times"]["distinct_inputs"] + run["times"]["distinct_endpoints"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--rows", default="2000,20000,100000")
    parser.add_argument(
        "--baseline", default=BASELINE, help="git commit whose code to time as 'before' ('' skips)"
    )
    parser.add_argument(
        "--baseline-rows", type=int, default=100_000, help="skip the baseline above this many rows"
    )
    parser.add_argument(
        "--diagnose-kinds", default="unstructured", help="kinds whose full `diagnose` is timed"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of every measurement; medians are reported"
    )
    parser.add_argument("--all-metrics", action="store_true", help="time every metric, not only the counts")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.all_metrics)
        return 0
    sys.path.insert(0, str(ROOT))
    kinds, rows = args.kinds.split(","), [int(r) for r in args.rows.split(",")]
    diagnosed = set(args.diagnose_kinds.split(",")) if args.diagnose_kinds else set()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        codes = {"after": ROOT}
        if args.baseline:
            codes["before"] = extract(args.baseline, Path(tmp) / "baseline")
        for kind, n in itertools.product(kinds, rows):
            checkpoint = make_case(Path(tmp) / f"{kind}_{n}", n, kind)
            for _, (name, code_root) in itertools.product(range(args.repeat), codes.items()):
                if name == "before" and n > args.baseline_rows:
                    continue
                entry = (
                    results.setdefault(kind, {})
                    .setdefault(n, {})
                    .setdefault(name, {"metrics": [], "diagnose": []})
                )
                metrics = metric_run(code_root, checkpoint, args.threads, args.all_metrics)
                entry["metrics"].append(metrics)
                line = (
                    f"{name:6s} {kind:12s} {n:>7,} rows: counts {_distinct_seconds(metrics):6.1f} s "
                    f"(inputs {metrics['distinct_inputs']}, endpoints {metrics['distinct_endpoints']}), "
                    f"peak RSS {metrics['rss']:4.2f} GB"
                )
                if kind in diagnosed:
                    run = diagnose_run(code_root, checkpoint, args.threads)
                    entry["diagnose"].append(run)
                    line += (
                        f"; diagnose {run['wall']:6.1f} s wall, {run['cpu']:6.1f} s CPU, {run['rss']:4.2f} GB"
                    )
                print(f"{line} (load {os.getloadavg()[0]:.1f})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return report(results, rows, args)


def report(results: dict, rows: list[int], args: argparse.Namespace) -> int:
    """Print the tables (medians over repeats) and check the targets; 0 when every target is met."""
    print(
        f"\nmedians of {args.repeat} run(s), {args.threads} thread(s); seconds of distinct_inputs + distinct_endpoints"
    )
    print(
        f"  {'kind':12s} {'rows':>7s} {'before':>8s} {'after':>8s} {'ratio':>6s} {'RSS before':>10s} {'RSS after':>9s}  counts"
    )
    checks: dict[str, bool] = {}
    for kind, sizes in results.items():
        for n, entry in sizes.items():
            after = entry["after"]["metrics"]
            before = entry.get("before", {}).get("metrics", [])
            now = statistics.median(_distinct_seconds(r) for r in after)
            counts = (after[0]["distinct_inputs"], after[0]["distinct_endpoints"])
            then, ratio, then_rss, same = "-", "-", "-", "no baseline"
            if before:
                was = statistics.median(_distinct_seconds(r) for r in before)
                then, ratio, then_rss = (
                    f"{was:8.2f}",
                    f"{was / now:5.1f}x",
                    f"{_median(before, 'rss'):8.2f} GB",
                )
                same = (
                    "equal"
                    if counts == (before[0]["distinct_inputs"], before[0]["distinct_endpoints"])
                    else "DIFFER"
                )
                checks[f"{kind} {n:,}: counts {counts} equal the baseline's"] = same == "equal"
                if kind == "clustered":
                    checks[f"clustered {n:,}: {now:.2f} s not slower than {was:.2f} s (10% noise)"] = (
                        now <= 1.1 * was
                    )
            print(
                f"  {kind:12s} {n:>7,} {then:>8s} {now:8.2f} {ratio:>6s} {then_rss:>10s} "
                f"{_median(after, 'rss'):6.2f} GB  {counts[0]} inputs, {counts[1]} endpoints ({same})"
            )
    print("\nper metric, seconds (before -> after, medians)")
    for kind, sizes in results.items():
        print(f"  {kind}")
        for key in METRIC_ORDER:
            cells = []
            for n in rows:
                entry = sizes.get(n, {})
                if key not in entry.get("after", {"metrics": [{"times": {}}]})["metrics"][0]["times"]:
                    continue
                now = _median(entry["after"]["metrics"], "times", key)
                before = entry.get("before", {}).get("metrics")
                cells.append(
                    f"{_median(before, 'times', key):8.2f} -> {now:6.2f}" if before else f"{now:18.2f}"
                )
            if cells:
                print(f"    {key:20s}" + "".join(f"{c:>20s}" for c in cells))
    for kind, sizes in results.items():
        runs = {n: e for n, e in sizes.items() if e["after"]["diagnose"]}
        if not runs:
            continue
        print(f"\ndiagnose, {kind} (fresh process; wall / CPU seconds, peak RSS)")
        for name in ("before", "after"):
            line = [
                f"{n:,}: {_median(e[name]['diagnose'], 'wall'):.1f} / {_median(e[name]['diagnose'], 'cpu'):.1f} s, "
                f"{_median(e[name]['diagnose'], 'rss'):.2f} GB"
                for n, e in runs.items()
                if e.get(name, {}).get("diagnose")
            ]
            print(f"  {name:6s} " + "; ".join(line))
        if 100_000 in runs and 20_000 in runs:
            big, mid = runs[100_000]["after"]["diagnose"], runs[20_000]["after"]["diagnose"]
            wall, rss = _median(big, "wall"), _median(big, "rss")
            growth = wall / _median(mid, "wall")
            checks[
                f"{kind} 100k wall {wall:.1f} s <= {TARGET_WALL_S:.0f} s (CPU {_median(big, 'cpu'):.1f} s)"
            ] = wall <= TARGET_WALL_S
            checks[f"{kind} 100k peak RSS {rss:.2f} GB <= {TARGET_RSS_GB} GB"] = rss <= TARGET_RSS_GB
            checks[f"{kind} 100k / 20k wall = {growth:.1f} <= {TARGET_GROWTH}"] = growth <= TARGET_GROWTH
    print()
    for text, met in checks.items():
        print(f"  {'OK    ' if met else 'MISSED'} {text}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
