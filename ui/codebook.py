"""Cached helpers for the codebook page: which runs to show, their usage, one checkpoint's details."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core import DEMO_DIR
from core.adapters.codebook import (
    CodeUsage,
    ReferenceVQVAEAdapter,
    RunUsage,
    measure_usage,
    run_checkpoints,
    run_usage,
)
from core.adapters.live import builder_from_env
from core.io.errors import CollapseExplorerError
from core.io.logs import LogError, scan_run_folder
from core.metrics import MetricValue
from core.metrics.codebook import usage_per_class, usage_summary
from ui import cache, state

DEMO_RUNS_DIR = DEMO_DIR / "codebook"


@dataclass(frozen=True)
class RunChoice:
    """A run folder offered on the page, with the label shown and the checkpoint that selected it."""

    label: str
    folder: str
    checkpoint: str | None = None


def codebook_checkpoint(path: str | None, trust: bool) -> bool:
    """True when `path` opens as a codebook-family checkpoint (errors mean no)."""
    if path is None or not Path(path).is_file():
        return False
    try:
        return cache.adapter(path, trust).family == "codebook"
    except CollapseExplorerError:
        return False


def run_choices() -> list[RunChoice]:
    """Runs of the sidebar's checkpoints A / B when they are codebook models, then the shipped demo runs."""
    trust = state.trusted()
    choices = []
    taken: set[Path] = set()  # one entry per folder: A and B in one run, or A in a demo run, show once
    for slot in ("a", "b"):
        path = state.selected_path(slot)
        if codebook_checkpoint(path, trust) and Path(path).parent.resolve() not in taken:
            folder = Path(path).parent
            taken.add(folder.resolve())
            choices.append(RunChoice(f"{slot.upper()}: {folder.name}/", str(folder), path))
    if DEMO_RUNS_DIR.is_dir():
        for folder in sorted(p for p in DEMO_RUNS_DIR.iterdir() if p.is_dir() and p.resolve() not in taken):
            choices.append(RunChoice(f"demo: {folder.name}", str(folder)))
    return choices


def probe_for(folder: str) -> str | None:
    """The probe chosen in the sidebar, else probe.npz beside the run's first checkpoint."""
    return cache.resolve_probe(str(run_checkpoints(folder)[0]), state.probe_path())


@st.cache_data(show_spinner="Measuring code usage over the run…", max_entries=32)
def _run_usage(folder: cache.FileKey, probe: cache.FileKey | None, trust: bool) -> RunUsage:
    return run_usage(folder.path, cache.probe_data(probe and probe.path), builder_from_env(trust))


def usage_of_run(folder: str) -> RunUsage:
    """Usage of every checkpoint in `folder` (cached per folder and probe version); through the user's
    builder when the user trusted a file of this run (never for the shipped runs beside it)."""
    probe = probe_for(folder)
    run = Path(folder).resolve()
    trust = any(Path(path).parent == run for path in state.trusted_files())
    return _run_usage(cache.FileKey.of(folder), cache.FileKey.maybe(probe), trust)


def checkpoint_path(folder: str, name: str) -> str:
    return str(Path(folder) / name)


def usage_of_checkpoint(path: str, probe: str | None) -> CodeUsage | None:
    """Usage of one checkpoint (data-driven when possible; None when nothing can be measured)."""
    return measure_usage(cache.adapter(path, state.trusted()), cache.probe_data(probe))


def class_counts(usage: CodeUsage) -> np.ndarray | None:
    """Codes per class int [C, K] when the usage came with indices and labels, else None."""
    if usage.indices is None or usage.labels is None:
        return None
    return usage_per_class(usage.indices, usage.labels, usage.counts.shape[-1])


def reconstructions(path: str, probe: str | None, n: int = 10) -> tuple[np.ndarray, np.ndarray] | None:
    """(inputs [n, F], reconstructions [n, F]) for models that can reconstruct, else None."""
    adapter = cache.adapter(path, state.trusted())
    data = cache.probe_data(probe)
    if data is None or data.x is None or not isinstance(adapter, ReferenceVQVAEAdapter):
        return None
    x = np.asarray(data.x[:n], dtype=np.float32).reshape(min(n, len(data.x)), -1)
    return x, adapter.reconstruct(x)


def summary(counts: np.ndarray, threshold: float) -> dict[str, MetricValue]:
    """Usage metrics of counts [K] at the page's dead threshold."""
    return usage_summary(counts, threshold)


LOGGED_PERPLEXITY = ("val_perplexity", "perplexity")


@st.cache_data(show_spinner=False, max_entries=32)
def _logged(run: cache.FileKey) -> tuple[np.ndarray, np.ndarray] | None:
    folder = run.path
    try:
        log = scan_run_folder(folder, max_depth=1)
    except LogError:
        return None
    for series in LOGGED_PERPLEXITY:
        rows = log.table[(log.table["series"] == series) & log.table["epoch"].notna()]
        if not rows.empty:
            return rows["epoch"].to_numpy(np.float64), rows["value"].to_numpy(np.float64)
    return None


def logged_perplexity(folder: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(epochs, perplexity) from the run's training log (validation series first), or None."""
    return _logged(cache.FileKey.of(folder))


def usage_table(runs: dict[str, RunUsage]) -> list[dict[str, object]]:
    """Long-format usage of every checkpoint of every run shown: run, checkpoint, epoch, head, code,
    count, share of the checkpoint's tokens (for the CSV download)."""
    rows: list[dict[str, object]] = []
    for label, run in runs.items():
        for name, epoch, counts in zip(run.names, run.epochs, run.counts, strict=True):
            for head, per_code in enumerate(counts):
                total = float(per_code.sum())
                rows += [
                    {
                        "run": label,
                        "checkpoint": name,
                        "epoch": epoch,
                        "head": head,
                        "code": code,
                        "count": float(count),
                        "share": float(count) / total if total > 0 else 0.0,
                    }
                    for code, count in enumerate(per_code)
                ]
    return rows


def dead_codes_text(summary: dict) -> str:
    """'84% (54 of 64)': the dead-code share with its count, or the undefined reason."""
    share, size = summary["dead_code_fraction"], summary["codebook_size"]
    if not isinstance(share, float | int) or isinstance(share, bool):
        return str(share)
    return f"{share:.0%} ({round(share * size):,} of {size:,})"
