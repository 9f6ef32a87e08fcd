"""Cached helpers for the Training page: which run folders to offer, their logs, events and findings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core import DEMO_DIR
from core.diagnosis import Finding
from core.diagnosis.training import (
    TrainingEvent,
    detect_events,
    training_findings,
    watch_table,
)
from core.io.logs import (
    RunLog,
    checkpoint_epochs,
    epoch_checkpoints,
    find_logs,
    find_run_folder,
    scan_run_folder,
)
from core.metrics.training import is_flag, is_grad_norm, is_loss, pair_train_val
from ui import state, uploads

DEFAULT_RUN = DEMO_DIR / "training" / "exploding_run"
MAX_DEFAULT_SERIES = 6

Stamp = tuple[int, int, int]


@dataclass(frozen=True)
class RunChoice:
    """A run folder offered on the page and the label shown for it."""

    label: str
    folder: str


@dataclass(frozen=True)
class RunAnalysis:
    """Everything the page shows for one run, computed once per log version."""

    log: RunLog
    events: tuple[TrainingEvent, ...]
    findings: tuple[Finding, ...]
    checkpoints: tuple[tuple[int, float], ...]
    pairs: tuple[tuple[str, str], ...]
    default_series: tuple[str, ...]
    watch: tuple[dict[str, object], ...]
    checkpoint_files: tuple[tuple[str, str], ...]  # (label, path) for the weight-health picker


def _has_logs(folder: Path) -> bool:
    return folder.is_dir() and bool(find_logs(folder, max_depth=2))


def run_choices() -> list[RunChoice]:
    """Run folders of the sidebar's checkpoints A / B when they hold logs, then every shipped demo run
    (assets/demo/<family>/<run>/) with a log, the exploding training demo first."""
    choices: list[RunChoice] = []
    seen: set[Path] = set()
    for slot in ("a", "b"):
        path = state.selected_path(slot)
        if not path:
            continue
        folder = find_run_folder(path)
        if folder is not None and folder.resolve() not in seen:
            choices.append(RunChoice(f"{slot.upper()}: {folder.name}/", str(folder)))
            seen.add(folder.resolve())
    if DEMO_DIR.is_dir():
        runs = sorted(p for p in DEMO_DIR.glob("*/*") if p.is_dir() and p.resolve() not in seen)
        runs.sort(key=lambda p: p != DEFAULT_RUN)
        choices += [RunChoice(f"demo: {p.parent.name}/{p.name}", str(p)) for p in runs if _has_logs(p)]
    return choices


def user_folder(text: str) -> str:
    """A typed run folder, checked against this session's roots (raises CollapseExplorerError)."""
    return str(uploads.resolve(text))


def log_stamp(folder: str) -> Stamp:
    """(newest mtime, total size, file count) of the logs under `folder`: a rewritten log is re-read."""
    files = find_logs(Path(folder)) if Path(folder).is_dir() else [Path(folder)]
    stats = [f.stat() for f in files if f.exists()]
    return (max((s.st_mtime_ns for s in stats), default=0), sum(s.st_size for s in stats), len(stats))


def _default_series(log: RunLog) -> tuple[str, ...]:
    """Losses and gradient norms (not flags), training per-step series first."""
    chosen = []
    for name in log.series_names:
        _, values = log.series(name)
        if (is_loss(name) or is_grad_norm(name)) and not is_flag(values):
            chosen.append(name)
    chosen.sort(key=lambda n: (len(log.series(n)[0]) < 20, n))
    return tuple(chosen[:MAX_DEFAULT_SERIES])


@st.cache_data(show_spinner="Reading training logs…", max_entries=16)
def _analysis(folder: str, stamp: Stamp) -> RunAnalysis:
    log = scan_run_folder(folder)
    events = detect_events(log)
    return RunAnalysis(
        log,
        tuple(events),
        tuple(training_findings(log, events=events)),
        tuple(checkpoint_epochs(folder, log)),
        tuple(pair_train_val(log.series_names)),
        _default_series(log),
        tuple(watch_table(log)),
        tuple((f"epoch {epoch} · {path.name}", str(path)) for epoch, path in epoch_checkpoints(folder)),
    )


def analysis(folder: str) -> RunAnalysis:
    """Logs, events, findings and checkpoint markers of a run folder (cached per log version)."""
    return _analysis(folder, log_stamp(folder))
