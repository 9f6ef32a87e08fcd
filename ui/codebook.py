"""Cached helpers and sections of the codebook page: the sidebar's checkpoints and the runs to scrub, their
usage, one checkpoint's cards, classes and reconstructions."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import streamlit as st

from core import DEMO_DIR
from core.adapters.codebook import (
    CodeUsage,
    ReferenceVQVAEAdapter,
    RunUsage,
    no_usage,
    run_checkpoints,
    run_usage,
)
from core.adapters.live import builder_from_env
from core.io.errors import CollapseExplorerError
from core.io.logs import LogError, scan_run_folder
from core.metrics import MetricValue, format_value
from core.metrics.codebook import usage_per_class, usage_summary
from core.plots import codebook as plots
from ui import cache, state, widgets

T = TypeVar("T")
DEMO_RUNS_DIR = DEMO_DIR / "codebook"
# The page's two views: the sidebar's checkpoints (the default), or one run's checkpoints scrubbed by epoch.
VIEWS = {"chosen": "Chosen checkpoints (sidebar A and B)", "run": "Across a run (epoch by epoch)"}
SOURCES = {
    "data": "model run on probe x",
    "probe codes": "probe codes",
    "ema": "EMA cluster sizes (weights only)",
}


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


def sidebar_codebooks() -> list[tuple[str, str]]:
    """(slot 'A' / 'B', path) of the sidebar's checkpoints that open as codebook models."""
    trust = state.trusted()
    chosen = [(slot.upper(), state.selected_path(slot)) for slot in ("a", "b")]
    return [(slot, path) for slot, path in chosen if path is not None and codebook_checkpoint(path, trust)]


def run_label(slot: str, path: str) -> str:
    """'A: collapsing/': the slot and the run folder of a sidebar checkpoint."""
    return f"{slot}: {Path(path).parent.name}/"


def run_choices() -> list[RunChoice]:
    """Runs of the sidebar's checkpoints A / B when they are codebook models, then the shipped demo runs."""
    choices = []
    taken: set[Path] = set()  # one entry per folder: A and B in one run, or A in a demo run, show once
    for slot, path in sidebar_codebooks():
        folder = Path(path).parent
        if folder.resolve() not in taken:
            taken.add(folder.resolve())
            choices.append(RunChoice(run_label(slot, path), str(folder), path))
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
    return cache.code_usage(path, probe, state.trusted())


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


@dataclass(frozen=True)
class Shown:
    """One checkpoint on the page: its run's label ('A: collapsing/'), file, epoch, probe, and its usage
    counts float64 [H, K] with where they came from (a key of SOURCES)."""

    run: str
    path: str
    epoch: int | str
    probe: str | None
    counts: np.ndarray
    source: str

    @property
    def title(self) -> str:
        """'A: collapsing/ · vqvae_epoch_040.pt'."""
        return f"{self.run} · {Path(self.path).name}"

    @property
    def row(self) -> str:
        """'A: collapsing/ epoch 40': its row in the usage strip and its line in the usage plots."""
        return f"{self.run} epoch {self.epoch}"

    def at(self, head: int) -> np.ndarray:
        """Counts [K] of `head` (its last head where it has fewer)."""
        return self.counts[min(head, len(self.counts) - 1)]


def measured(slot: str, path: str) -> Shown:
    """A sidebar checkpoint measured on its probe (the sidebar's, else probe.npz beside it).

    Raises CollapseExplorerError when it cannot be read or no usage can be measured."""
    trust = state.trusted()
    probe = cache.resolve_probe(path, state.probe_path())
    usage = usage_of_checkpoint(path, probe)
    if usage is None:
        raise no_usage(Path(path).name)
    epoch = cache.loaded_checkpoint(path, trust).epoch
    shown_epoch = Path(path).name if epoch is None else epoch
    return Shown(run_label(slot, path), path, shown_epoch, probe, usage.counts, usage.source)


def in_run(label: str, folder: str, usage: RunUsage, position: int) -> Shown:
    """Checkpoint `position` of a measured run (the run view's scrubbed epoch)."""
    name = usage.names[position]
    return Shown(
        label,
        checkpoint_path(folder, name),
        usage.epochs[position],
        probe_for(folder),
        usage.counts[position],
        usage.sources[position],
    )


def as_run(shown: Shown) -> RunUsage:
    """One checkpoint as a run of one, for the CSV of the chosen checkpoints."""
    return RunUsage((Path(shown.path).name,), (shown.epoch,), shown.counts[None], (shown.source,))


def cards(shown: Shown, head: int, threshold: float, *, per_row: int = 2) -> None:
    """The checkpoint's title, its four usage cards at `threshold`, where the usage came from, and its
    findings; `per_row` 1 where it sits in half a screen beside another checkpoint."""
    found = summary(shown.at(head), threshold)
    st.subheader(widgets.md(shown.title))
    widgets.metric_grid(
        {
            "Perplexity": format_value(found["code_perplexity"], 2),
            "Perplexity / K": format_value(found["code_perplexity_ratio"], 3),
            "Dead codes": dead_codes_text(found),
            "Used codes": f"{format_value(found['used_codes'])} of {found['codebook_size']:,}",
        },
        per_row=per_row,
    )
    st.caption(f"Usage from {SOURCES[shown.source]}.")
    try:
        report = cache.report(shown.path, shown.probe, state.trusted())
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
    else:
        widgets.findings_section(report, show_errors_as=st.error)


def _each(shown: list[Shown], measure: Callable[[str, str | None], T]) -> Iterator[tuple[Shown, T]]:
    """(checkpoint, measure(its path, its probe)) per checkpoint shown; one that fails shows its error."""
    for one in shown:
        try:
            yield one, measure(one.path, one.probe)
        except CollapseExplorerError as exc:
            widgets.show_error(exc)


def class_section(shown: list[Shown], *, log: bool) -> None:
    """Which codes each class uses, per checkpoint shown."""
    for one, usage in _each(shown, usage_of_checkpoint):
        per_class = class_counts(usage) if usage is not None else None
        if per_class is None:
            st.info(
                f"{widgets.md(one.title)}: per-class usage needs code indices (probe x for a rebuildable "
                "model, or probe codes) and labels."
            )
        else:
            widgets.chart(plots.class_heatmap(per_class, log=log, title=one.row))


def reconstruction_section(shown: list[Shown]) -> None:
    """Inputs over their reconstructions through the codebook, per checkpoint shown."""
    for one, pair in _each(shown, reconstructions):
        side = math.isqrt(pair[0].shape[1]) if pair is not None else 0
        if pair is None or side * side != pair[0].shape[1]:
            st.info(
                f"{widgets.md(one.row)}: reconstructions need a rebuildable model with square-image probe x."
            )
        else:
            widgets.chart(plots.reconstruction_grid(*pair, image_shape=(side, side), title=one.row))
