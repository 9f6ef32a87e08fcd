"""Run folders: every checkpoint of a training run diagnosed, and metrics against epoch (timeline)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from .adapters.base import AdapterSpec
from .adapters.registry import REGISTRY, build_adapter, detect
from .diagnosis.base import SEVERITY_ORDER, Finding, Kind, Report
from .diagnosis.checkpoint import diagnose_checkpoint
from .io.checkpoints import load_checkpoint
from .io.errors import CollapseExplorerError
from .io.paths import checkpoint_files, epoch_from_name, found_file
from .io.probe import find_probe, load_probe
from .metrics.base import MetricValue, Undefined, info_of, is_defined
from .models.device import resolve_device


@dataclass(frozen=True)
class TimelinePoint:
    """One checkpoint of a run: its epoch, family and report, or the error that stopped it. A guard
    check during training (`guard_points`) has its step too, and the findings file as its path."""

    path: str
    epoch: int | None
    family: str | None = None
    report: Report | None = None
    error: str | None = None
    step: int | None = None


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def report_for(
    path: str | Path, probe: str | Path | None = None, *, trust: bool = False, device: str = "cpu"
) -> tuple[str | None, AdapterSpec | None, int | None, Report]:
    """(family, spec, epoch, report) for one checkpoint; the probe defaults to probe.npz beside it or its run.

    Memoised per file version (mtime, size) in this process, so a timeline re-diagnoses only new files.
    """
    path = Path(path)
    probe_path = Path(probe) if probe else find_probe(path)
    probe_stamp = _stamp(probe_path) if probe_path is not None else None
    return _cached_report(
        str(path),
        _stamp(path),
        str(probe_path) if probe_path else None,
        probe_stamp,
        trust,
        resolve_device(device),
    )


@functools.lru_cache(maxsize=512)
def _cached_report(
    path: str, stamp: tuple[int, int], probe: str | None, probe_stamp: tuple | None, trust: bool, device: str
) -> tuple[str | None, AdapterSpec | None, int | None, Report]:
    loaded = load_checkpoint(path, trust=trust)
    try:
        adapter = build_adapter(loaded, device=device)
    except CollapseExplorerError:
        adapter = None  # diagnose_checkpoint still reports broken weights (or re-raises the reason)
    builder = None if adapter is None else (lambda _: adapter)
    report = diagnose_checkpoint(loaded, load_probe(probe) if probe else None, builder=builder, device=device)
    family = adapter.spec().family if adapter is not None else _detected_family(loaded)
    return family, adapter.spec() if adapter is not None else None, loaded.epoch, report


def _detected_family(loaded) -> str | None:
    name = detect(loaded.shapes(), loaded.config)
    return REGISTRY[name].family if name is not None else None


def timeline(
    folder: str | Path,
    probe: str | Path | None = None,
    *,
    trust: bool | frozenset[str] = False,
    device: str = "cpu",
) -> list[TimelinePoint]:
    """Diagnose every checkpoint in `folder`, sorted by epoch; unreadable files keep their error.
    `trust`: True allows full unpickling of every file, a set only of the files whose resolved paths
    it holds (the app trusts the files the user ticked the switch for, not their whole folder)."""
    folder = Path(folder)
    device = resolve_device(device)  # a missing GPU is one bad-input error, not one per checkpoint
    if not folder.is_dir():
        raise CollapseExplorerError(f"{folder} is not a folder; a timeline needs a run folder of checkpoints")
    files = checkpoint_files(folder)
    if not files:
        raise CollapseExplorerError(
            f"{folder.name}/ holds no checkpoint files (*.pt, *.pth, *.ckpt, *.safetensors)"
        )
    points: list[TimelinePoint] = []
    for path in files:
        try:
            allowed = trust if isinstance(trust, bool) else str(path.resolve()) in trust
            family, _, epoch, report = report_for(path, probe, trust=allowed, device=device)
            points.append(TimelinePoint(str(path), epoch, family, report))
        except CollapseExplorerError as exc:
            epoch = epoch_from_name(path.name)
            points.append(TimelinePoint(str(path), epoch, error=" ".join(str(exc).split())))
    return sorted(points, key=lambda p: (p.epoch is None, p.epoch or 0, p.path))


GUARD_FILE = "collapse_guard.jsonl"  # written by core.guard, one JSON record per check
GUARD_FORMAT = "collapse-explorer-guard/1"
GUARD_MAX_BYTES = 64 * 1024 * 1024
GUARD_MAX_LINE = 1024 * 1024
GUARD_MAX_DEPTH = 3
KINDS = frozenset(get_args(Kind))


def guard_files(folder: str | Path) -> list[Path]:
    """Findings files the training guard wrote in `folder` or its subfolders (3 levels at most)."""
    root = Path(folder)
    found = []
    for path in sorted(root.rglob(GUARD_FILE)) if root.is_dir() else []:
        if len(path.relative_to(root).parts) <= GUARD_MAX_DEPTH + 1 and found_file(path, root) is not None:
            found.append(path)
    return found


def _metric(value: object) -> MetricValue | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("undefined"), str):
        return Undefined(value["undefined"])
    return None


def _finding(row: object) -> Finding | None:
    if not isinstance(row, Mapping):
        return None
    kind, severity, summary = row.get("kind"), row.get("severity"), row.get("summary")
    if kind not in KINDS or severity not in SEVERITY_ORDER or not isinstance(summary, str):
        return None
    raw = row.get("metrics") if isinstance(row.get("metrics"), Mapping) else {}
    metrics = {str(k): m for k, v in raw.items() if (m := _metric(v)) is not None}
    fix = row.get("fix") if isinstance(row.get("fix"), str) else ""
    return Finding(kind, severity, summary, metrics, fix)


def _guard_point(path: Path, record: object) -> TimelinePoint | None:
    if not isinstance(record, Mapping) or record.get("format") != GUARD_FORMAT:
        return None
    step, epoch = record.get("step"), record.get("epoch")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None
    rows = record.get("findings") if isinstance(record.get("findings"), list) else []
    findings = tuple(f for f in map(_finding, rows) if f is not None)
    errors = tuple(str(e) for e in record.get("errors", []) if isinstance(e, str))
    names = [a for a in record.get("adapters", []) if isinstance(a, str)]
    report = Report(f"{path} @ step {step}", ", ".join(names) or None, findings, errors)
    family = findings[0].kind if findings else None
    epoch = int(epoch) if isinstance(epoch, int | float) and not isinstance(epoch, bool) else None
    return TimelinePoint(str(path), epoch, family, report, step=step)


def guard_points(folder: str | Path) -> tuple[list[TimelinePoint], list[str]]:
    """Every check the training guard logged under `folder`, in step order, and notes on what was skipped.

    The files are untrusted: each is read only up to GUARD_MAX_BYTES, lines that are not complete
    guard records (a line cut off mid-write, another format) are skipped and counted.
    """
    points: list[TimelinePoint] = []
    notes: list[str] = []
    for path in guard_files(folder):
        skipped = 0
        with open(path, "rb") as handle:
            data = handle.read(GUARD_MAX_BYTES + 1)
        if len(data) > GUARD_MAX_BYTES:
            notes.append(f"{path.name}: larger than {GUARD_MAX_BYTES // 2**20} MiB, the rest not read")
            data = data[:GUARD_MAX_BYTES]
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                point = _guard_point(path, json.loads(line)) if len(line) <= GUARD_MAX_LINE else None
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                point = None
            if point is None:
                skipped += 1
            else:
                points.append(point)
        if skipped:
            notes.append(f"{path.name}: {skipped} line(s) that are not guard checks skipped")
    return sorted(points, key=lambda p: (p.step, p.path)), notes


def main_family(points: list[TimelinePoint]) -> str | None:
    """The family most checkpoints of the run belong to (a run folder may hold strays)."""
    families = [p.family for p in points if p.family is not None]
    return max(set(families), key=families.count) if families else None


def metric_series(
    points: list[TimelinePoint], x: str = "epoch"
) -> dict[str, list[tuple[int | None, MetricValue]]]:
    """metric key -> [(x, value)] over the run's main family, in point order; x is "epoch" or "step"."""
    family = main_family(points)
    series: dict[str, list[tuple[int | None, MetricValue]]] = {}
    for point in points:
        if point.report is None or point.family != family:
            continue
        for key, value in report_metrics(point.report).items():
            series.setdefault(key, []).append((getattr(point, x), value))
    return series


def changing_metrics(series: dict[str, list[tuple[int | None, MetricValue]]]) -> list[str]:
    """Keys of `series` whose defined values change across the run (constants such as the codebook size
    or the probe's row count say nothing over time), metrics with a good direction first."""

    def changes(points: list[tuple[int | None, MetricValue]]) -> bool:
        values = {float(v) for _, v in points if is_defined(v)}  # type: ignore[arg-type]
        return len(values) > 1

    def rank(key: str) -> int:
        info, _ = info_of(key)
        if info is None or info.family == "setting":
            return 3
        return 0 if info.better != "neither" and not info.context else 1 if info.family != "training" else 2

    found = [k for k, points in series.items() if changes(points)]
    return sorted(found, key=lambda k: (rank(k), found.index(k)))


def report_metrics(report: Report) -> dict[str, MetricValue]:
    """All metric evidence of a report's findings, flattened (first finding wins on a clash)."""
    merged: dict[str, MetricValue] = {}
    for finding in report.findings:
        for key, value in finding.metrics.items():
            if isinstance(value, int | float) or hasattr(value, "reason"):
                merged.setdefault(key, value)  # type: ignore[arg-type]
    return merged
