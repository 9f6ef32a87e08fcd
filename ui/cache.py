"""Every st.cache_* wrapper over core/ for the shared pages. Keys include the file's mtime and size,
so a checkpoint rewritten on disk is read again; adapters are shared read-only across sessions."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.adapters.base import CheckpointAdapter
from core.adapters.live import builder_configured, builder_from_env
from core.adapters.registry import build_adapter
from core.checkpoints import LoadedCheckpoint, load_checkpoint
from core.diagnosis import Report, diagnose_checkpoint
from core.paths import Stamp, file_stamp
from core.probe import ProbeData, find_probe, load_probe
from ui import state


@st.cache_resource(show_spinner="Reading checkpoint…", max_entries=32)
def _loaded(path: str, stamp: Stamp, trust: bool) -> LoadedCheckpoint:
    return load_checkpoint(path, trust=trust)


def loaded_checkpoint(path: str, trust: bool = False) -> LoadedCheckpoint:
    """The safely loaded checkpoint (cached per file version)."""
    return _loaded(path, file_stamp(path), trust)


@st.cache_resource(show_spinner="Rebuilding model…", max_entries=16)
def _adapter(
    path: str,
    stamp: Stamp,
    trust: bool,
    built: bool,
    device: str,
    probe: str | None,
    probe_stamp: Stamp | None,
) -> CheckpointAdapter:
    builder = builder_from_env(built)
    loaded = _loaded(path, stamp, trust)
    if builder is None:
        return build_adapter(loaded, device=device)
    data = probe_data(probe)
    # A quantizer that keeps no codebook tensor (FSQ, LFQ) is found by running probe x through the model.
    return builder(loaded, probe_x=None if data is None else data.x)


def _built(path: str, trust: bool) -> bool:
    """Whether the user's builder makes this file's model: only for a file the user trusted (never for
    the shipped demo or other files a page opens beside it)."""
    return trust and builder_configured() and state.trusted(path)


def adapter(path: str, trust: bool = False) -> CheckpointAdapter:
    """The detected adapter with its rebuilt model on the sidebar's device (cached, shared read-only);
    a user builder's model also sees the checkpoint's probe x."""
    built = _built(path, trust)
    probe = resolve_probe(path, state.probe_path()) if built else None
    probe_stamp = file_stamp(probe) if probe else None
    return _adapter(path, file_stamp(path), trust, built, state.device(), probe, probe_stamp)


def resolve_probe(checkpoint: str, probe: str | None) -> str | None:
    """The probe file to use: the one chosen, else probe.npz beside the checkpoint or its run."""
    if probe:
        return probe
    found = find_probe(checkpoint)
    return str(found) if found is not None else None


@st.cache_resource(show_spinner=False, max_entries=16)
def _probe(path: str, stamp: Stamp) -> ProbeData:
    return load_probe(path)


def probe_data(path: str | None) -> ProbeData | None:
    """Probe arrays (cached per file version), or None."""
    return None if path is None else _probe(path, file_stamp(path))


@st.cache_data(show_spinner="Diagnosing…", max_entries=64)
def _report(path: str, stamp: Stamp, probe: str | None, trust: bool, built: bool, device: str) -> Report:
    return diagnose_checkpoint(
        _loaded(path, stamp, trust), probe_data(probe), builder=builder_from_env(built), device=device
    )


def report(path: str, probe: str | None = None, trust: bool = False) -> Report:
    """Findings for a checkpoint with its probe data (cached)."""
    probe = resolve_probe(path, probe)
    return _report(path, file_stamp(path), probe, trust, _built(path, trust), state.device())


@st.cache_data(show_spinner="Diagnosing every checkpoint of the run…", max_entries=16)
def _timeline(folder: str, stamp: Stamp, probe: str | None, trusted: frozenset[str], device: str) -> list:
    from core.runs import timeline

    return timeline(folder, probe, trust=trusted, device=device)


def run_timeline(folder: str, probe: str | None = None, trust: bool = False) -> list:
    """Every checkpoint of a run folder diagnosed (cached per folder version). With `trust`, only the
    files the user trusted are unpickled fully, never the rest of their folder."""
    from ui.state import trusted_files

    return _timeline(
        folder, file_stamp(folder), probe, trusted_files() if trust else frozenset(), state.device()
    )


@st.cache_data(show_spinner="Reading the training guard's checks…", max_entries=16)
def _guard(folder: str, stamps: tuple[Stamp, ...]) -> tuple[list, list[str]]:
    from core.runs import guard_points

    return guard_points(folder)


def guard_checks(folder: str) -> tuple[list, list[str]]:
    """(checks the training guard logged under a run folder, notes on skipped lines), cached per file version."""
    from core.runs import guard_files

    return _guard(folder, tuple(file_stamp(p) for p in guard_files(folder)))


@st.cache_data(show_spinner="Comparing…", max_entries=32)
def _comparison(
    path_a: str, stamp_a: Stamp, path_b: str, stamp_b: Stamp, probe: str | None, trust: bool, device: str
):
    from core.report import check_comparable, compare_metrics
    from core.runs import report_for

    _, spec_a, _, report_a = report_for(path_a, probe, trust=trust, device=device)
    _, spec_b, _, report_b = report_for(path_b, probe, trust=trust, device=device)
    check_comparable(spec_a, spec_b)
    return report_a, report_b, compare_metrics(report_a, report_b)


def comparison(path_a: str, path_b: str, probe: str | None = None, trust: bool = False):
    """(report A, report B, metric deltas) for two checkpoints of one family, both measured on A's probe."""
    probe = resolve_probe(path_a, probe)
    return _comparison(path_a, file_stamp(path_a), path_b, file_stamp(path_b), probe, trust, state.device())


@dataclass(frozen=True)
class Pair:
    """What a report or its pictures of A (and B) depend on: files and their versions, probe, settings."""

    path_a: str
    stamp_a: Stamp
    path_b: str | None
    stamp_b: Stamp | None
    probe: str | None
    trust: bool
    built: bool
    device: str


def _items(pair: Pair) -> tuple[list, list | None]:
    """((label, path, report) of A and B, the metric deltas or None without B)."""
    p = pair
    if p.path_b is None:
        return [("A", p.path_a, _report(p.path_a, p.stamp_a, p.probe, p.trust, p.built, p.device))], None
    report_a, report_b, deltas = _comparison(
        p.path_a, p.stamp_a, p.path_b, p.stamp_b, p.probe, p.trust, p.device
    )
    return [("A", p.path_a, report_a), ("B", p.path_b, report_b)], deltas


@st.cache_data(show_spinner="Building the report…", max_entries=8)
def _export(pair: Pair) -> tuple[str, str]:
    from core.report import Entry, export_both

    items, deltas = _items(pair)
    entries = [Entry(label, path, report, pair.probe) for label, path, report in items]
    return export_both(entries, deltas, _pictures(pair))


@st.cache_data(show_spinner="Drawing the family's picture…", max_entries=16)
def _pictures(pair: Pair) -> list:
    from core.report_figures import report_figures

    items, _ = _items(pair)
    return report_figures(items, pair.probe, trust=pair.trust)


def _pair(path_a: str, path_b: str | None, probe: str | None, trust: bool) -> Pair:
    stamp_b = file_stamp(path_b) if path_b is not None else None
    probe = resolve_probe(path_a, probe)
    built = _built(path_a, trust)
    return Pair(path_a, file_stamp(path_a), path_b, stamp_b, probe, trust, built, state.device())


def export(path_a: str, path_b: str | None, probe: str | None = None, trust: bool = False) -> tuple[str, str]:
    """The downloadable report of A, or of A vs B: (offline HTML document, JSON of the same report)."""
    return _export(_pair(path_a, path_b, probe, trust))


def pictures(path_a: str, path_b: str | None, probe: str | None = None, trust: bool = False) -> list:
    """The report's family pictures of A (and B, both on A's probe), the main one first (cached; the
    report reuses them)."""
    return _pictures(_pair(path_a, path_b, probe, trust))
