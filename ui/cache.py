"""Every st.cache_* wrapper over core/ for the shared pages. Keys include the file's mtime and size,
so a checkpoint rewritten on disk is read again; adapters are shared read-only across sessions.

The layers that bring torch (adapters, the checkpoint reader, the diagnosis of a whole checkpoint, weight
health) are imported on a wrapper's first miss, not with this module: every page imports it, and the first
screen of a cold app shows a stored verdict before anything needs torch (ui/verdict.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from core.diagnosis import Finding, Report
from core.io.paths import FileKey
from core.io.probe import ProbeData, find_probe, load_probe
from ui import state

if TYPE_CHECKING:
    from core.adapters.base import CheckpointAdapter
    from core.io.checkpoints import LoadedCheckpoint
    from core.metrics.health import WeightHealth


@st.cache_resource(show_spinner="Reading checkpoint…", max_entries=32)
def _loaded(file: FileKey, trust: bool) -> LoadedCheckpoint:
    from core.io.checkpoints import load_checkpoint

    return load_checkpoint(file.path, trust=trust)


def loaded_checkpoint(path: str, trust: bool = False) -> LoadedCheckpoint:
    """The safely loaded checkpoint (cached per file version)."""
    return _loaded(FileKey.of(path), trust)


@st.cache_resource(show_spinner="Rebuilding model…", max_entries=16)
def _adapter(
    file: FileKey, trust: bool, built: bool, device: str, probe: FileKey | None
) -> CheckpointAdapter:
    from core.adapters.live import builder_from_env
    from core.adapters.registry import build_adapter

    builder = builder_from_env(built)
    loaded = _loaded(file, trust)
    if builder is None:
        return build_adapter(loaded, device=device)
    data = None if probe is None else _probe(probe)
    # A quantizer that keeps no codebook tensor (FSQ, LFQ) is found by running probe x through the model.
    return builder(loaded, probe_x=None if data is None else data.x)


def builds(path: str, trust: bool) -> bool:
    """Whether the user's builder makes this file's model: only for a file the user trusted (never for
    the shipped demo or other files a page opens beside it)."""
    if not (trust and state.trusted(path)):
        return False
    from core.adapters.live import builder_configured

    return builder_configured()


def adapter(path: str, trust: bool = False) -> CheckpointAdapter:
    """The detected adapter with its rebuilt model on the sidebar's device (cached, shared read-only);
    a user builder's model also sees the checkpoint's probe x."""
    built = builds(path, trust)
    probe = resolve_probe(path, state.probe_path()) if built else None
    return _adapter(FileKey.of(path), trust, built, state.device(), FileKey.maybe(probe))


def resolve_probe(checkpoint: str, probe: str | None) -> str | None:
    """The probe file to use: the one chosen, else probe.npz beside the checkpoint or its run."""
    if probe:
        return probe
    found = find_probe(checkpoint)
    return str(found) if found is not None else None


@st.cache_resource(show_spinner=False, max_entries=16)
def _probe(file: FileKey) -> ProbeData:
    return load_probe(file.path)


def probe_data(path: str | None) -> ProbeData | None:
    """Probe arrays (cached per file version), or None."""
    return None if path is None else _probe(FileKey.of(path))


@st.cache_data(show_spinner="Diagnosing…", max_entries=64)
def _report(file: FileKey, probe: str | None, trust: bool, built: bool, device: str) -> Report:
    from core.adapters.live import builder_from_env
    from core.diagnosis.checkpoint import diagnose_checkpoint

    return diagnose_checkpoint(
        _loaded(file, trust), probe_data(probe), builder=builder_from_env(built), device=device
    )


def report(path: str, probe: str | None = None, trust: bool = False) -> Report:
    """Findings for a checkpoint with its probe data (cached)."""
    probe = resolve_probe(path, probe)
    return _report(FileKey.of(path), probe, trust, builds(path, trust), state.device())


@st.cache_data(show_spinner="Measuring code usage…", max_entries=64)
def _code_usage(file: FileKey, probe: FileKey | None, trust: bool, built: bool, device: str):
    from core.adapters.codebook import measure_usage

    model = _adapter(file, trust, built, device, probe if built else None)
    return measure_usage(model, None if probe is None else _probe(probe))


def code_usage(path: str, probe: str | None = None, trust: bool = False):
    """`core.adapters.codebook.CodeUsage` of one codebook checkpoint on its probe (cached per file and
    probe version), or None when neither probe data nor the weights give usage."""
    probe = resolve_probe(path, probe)
    return _code_usage(FileKey.of(path), FileKey.maybe(probe), trust, builds(path, trust), state.device())


@st.cache_data(show_spinner="Diagnosing every checkpoint of the run…", max_entries=16)
def _timeline(folder: FileKey, probe: str | None, trusted: frozenset[str], device: str) -> list:
    from core.timeline import timeline

    return timeline(folder.path, probe, trust=trusted, device=device)


def run_timeline(folder: str, probe: str | None = None, trust: bool = False) -> list:
    """Every checkpoint of a run folder diagnosed (cached per folder version). With `trust`, only the
    files the user trusted are unpickled fully, never the rest of their folder."""
    from ui.state import trusted_files

    return _timeline(FileKey.of(folder), probe, trusted_files() if trust else frozenset(), state.device())


@st.cache_data(show_spinner="Reading the training guard's checks…", max_entries=16)
def _guard(folder: str, files: tuple[FileKey, ...]) -> tuple[list, list[str]]:
    from core.timeline import guard_points

    return guard_points(folder)


def guard_checks(folder: str) -> tuple[list, list[str]]:
    """(checks the training guard logged under a run folder, notes on skipped lines), cached per file version."""
    from core.timeline import guard_files

    return _guard(folder, tuple(FileKey.of(p) for p in guard_files(folder)))


@st.cache_data(show_spinner="Comparing…", max_entries=32)
def _comparison(a: FileKey, b: FileKey, probe: str | None, trust: bool, device: str):
    from core.report.compare import check_comparable, compare_metrics
    from core.timeline import report_for

    _, spec_a, _, report_a = report_for(a.path, probe, trust=trust, device=device)
    _, spec_b, _, report_b = report_for(b.path, probe, trust=trust, device=device)
    check_comparable(spec_a, spec_b)
    return report_a, report_b, compare_metrics(report_a, report_b)


def comparison(path_a: str, path_b: str, probe: str | None = None, trust: bool = False):
    """(report A, report B, metric deltas) for two checkpoints of one family, both measured on A's probe."""
    probe = resolve_probe(path_a, probe)
    return _comparison(FileKey.of(path_a), FileKey.of(path_b), probe, trust, state.device())


@dataclass(frozen=True)
class Pair:
    """What a report or its pictures of A (and B) depend on: the files (with their versions), the probe and
    the settings."""

    a: FileKey
    b: FileKey | None
    probe: str | None
    trust: bool
    built: bool
    device: str


def _items(pair: Pair) -> tuple[list, list | None]:
    """((label, path, report) of A and B, the metric deltas or None without B)."""
    a, b = pair.a, pair.b
    if b is None:
        return [("A", a.path, _report(a, pair.probe, pair.trust, pair.built, pair.device))], None
    report_a, report_b, deltas = _comparison(a, b, pair.probe, pair.trust, pair.device)
    return [("A", a.path, report_a), ("B", b.path, report_b)], deltas


@st.cache_data(show_spinner="Building the report…", max_entries=8)
def _export(pair: Pair) -> tuple[str, str]:
    from core.report.html import Entry, export_both

    items, deltas = _items(pair)
    entries = [Entry(label, path, report, pair.probe) for label, path, report in items]
    return export_both(entries, deltas, _pictures(pair))


@st.cache_data(show_spinner="Drawing the family's picture…", max_entries=16)
def _pictures(pair: Pair) -> list:
    from core.report.figures import report_figures

    items, _ = _items(pair)
    return report_figures(items, pair.probe, trust=pair.trust)


def _pair(path_a: str, path_b: str | None, probe: str | None, trust: bool) -> Pair:
    probe = resolve_probe(path_a, probe)
    built = builds(path_a, trust)
    return Pair(FileKey.of(path_a), FileKey.maybe(path_b), probe, trust, built, state.device())


def export(path_a: str, path_b: str | None, probe: str | None = None, trust: bool = False) -> tuple[str, str]:
    """The downloadable report of A, or of A vs B: (offline HTML document, JSON of the same report)."""
    return _export(_pair(path_a, path_b, probe, trust))


def pictures(path_a: str, path_b: str | None, probe: str | None = None, trust: bool = False) -> list:
    """The report's family pictures of A (and B, both on A's probe), the main one first (cached; the
    report reuses them)."""
    return _pictures(_pair(path_a, path_b, probe, trust))


@st.cache_data(show_spinner="Checking weights…", max_entries=32)
def _health(file: FileKey, trust: bool) -> tuple[WeightHealth, tuple[Finding, ...]]:
    from core.diagnosis.training import weight_findings
    from core.metrics.health import weight_health

    health = weight_health(_loaded(file, trust))
    return health, tuple(weight_findings(health))


def checkpoint_health(path: str) -> tuple[WeightHealth, tuple[Finding, ...]]:
    """Weight health of one checkpoint and its training finding (cached per file version)."""
    return _health(FileKey.of(path), state.trusted(path))
