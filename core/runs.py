"""Run folders: every checkpoint of a training run diagnosed, and metrics against epoch (timeline)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .adapters.base import AdapterSpec
from .adapters.registry import REGISTRY, build_adapter, detect
from .checkpoints import epoch_from_name, load_checkpoint, weight_files
from .device import resolve_device
from .diagnosis import Report, diagnose_checkpoint
from .errors import CollapseExplorerError
from .metrics import MetricValue
from .probe import find_probe, load_probe


@dataclass(frozen=True)
class TimelinePoint:
    """One checkpoint of a run: its epoch, family and report, or the error that stopped it."""

    path: str
    epoch: int | None
    family: str | None = None
    report: Report | None = None
    error: str | None = None


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
    folder: str | Path, probe: str | Path | None = None, *, trust: bool = False, device: str = "cpu"
) -> list[TimelinePoint]:
    """Diagnose every checkpoint in `folder`, sorted by epoch; unreadable files keep their error."""
    folder = Path(folder)
    device = resolve_device(device)  # a missing GPU is one bad-input error, not one per checkpoint
    if not folder.is_dir():
        raise CollapseExplorerError(f"{folder} is not a folder; a timeline needs a run folder of checkpoints")
    files = weight_files(folder)
    if not files:
        raise CollapseExplorerError(
            f"{folder.name}/ holds no checkpoint files (*.pt, *.pth, *.ckpt, *.safetensors)"
        )
    points: list[TimelinePoint] = []
    for path in files:
        try:
            family, _, epoch, report = report_for(path, probe, trust=trust, device=device)
            points.append(TimelinePoint(str(path), epoch, family, report))
        except CollapseExplorerError as exc:
            epoch = epoch_from_name(path.name)
            points.append(TimelinePoint(str(path), epoch, error=" ".join(str(exc).split())))
    return sorted(points, key=lambda p: (p.epoch is None, p.epoch or 0, p.path))


def main_family(points: list[TimelinePoint]) -> str | None:
    """The family most checkpoints of the run belong to (a run folder may hold strays)."""
    families = [p.family for p in points if p.family is not None]
    return max(set(families), key=families.count) if families else None


def metric_series(points: list[TimelinePoint]) -> dict[str, list[tuple[int | None, MetricValue]]]:
    """metric key -> [(epoch, value)] over the run's main family, in epoch order."""
    family = main_family(points)
    series: dict[str, list[tuple[int | None, MetricValue]]] = {}
    for point in points:
        if point.report is None or point.family != family:
            continue
        for key, value in report_metrics(point.report).items():
            series.setdefault(key, []).append((point.epoch, value))
    return series


def report_metrics(report: Report) -> dict[str, MetricValue]:
    """All metric evidence of a report's findings, flattened (first finding wins on a clash)."""
    merged: dict[str, MetricValue] = {}
    for finding in report.findings:
        for key, value in finding.metrics.items():
            if isinstance(value, int | float) or hasattr(value, "reason"):
                merged.setdefault(key, value)  # type: ignore[arg-type]
    return merged
