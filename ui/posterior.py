"""Cached helpers for the Latents page: VAE checkpoints to show, posterior analysis, traversals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core import DEMO_DIR
from core.diagnosis.posterior import PosteriorAnalysis, RunTimeline, analyse, latent_traversal, run_timeline
from core.io.errors import CollapseExplorerError, ProbeError
from core.io.paths import checkpoint_files
from core.metrics import Undefined
from ui import cache, state

DEMO_RUNS_DIR = DEMO_DIR / "posterior"
DEMO_DEFAULTS = {"a": "collapsed", "b": "fixed"}


@dataclass(frozen=True)
class Choice:
    """A checkpoint shown on the page: slot label, path, probe file, and where it came from."""

    slot: str
    path: str
    probe: str | None
    source: str  # "sidebar" or "demo"


def why_not_posterior(path: str | None, trust: bool) -> str | None:
    """None when `path` opens as a posterior-family (VAE) checkpoint, else the reason it does not."""
    if path is None or not Path(path).exists():
        return "no such file"
    try:
        family = cache.adapter(path, trust).family
    except CollapseExplorerError as exc:
        return " ".join(str(exc).split())
    return None if family == "posterior" else f"a {family} checkpoint, not a VAE"


def demo_final(run: str) -> str | None:
    """Last-epoch checkpoint of a shipped demo run, or None when the demo is not built."""
    folder = DEMO_RUNS_DIR / run
    if not folder.is_dir():
        return None
    files = checkpoint_files(folder)
    return str(files[-1]) if files else None


def choices() -> tuple[list[Choice], list[str]]:
    """Checkpoints A and B: the sidebar's when they are VAEs, else the demo's collapsed (A) / fixed (B).

    Also returns notes on sidebar picks that were not used and why.
    """
    trust = state.trusted()
    picked: list[Choice] = []
    notes: list[str] = []
    for slot in ("a", "b"):
        if state.problem(slot) is not None:  # a rejected choice gets no demo stand-in (the page says why)
            continue
        path = state.selected_path(slot)
        reason = why_not_posterior(path, trust) if path is not None else None
        if path is not None and reason is None:
            picked.append(
                Choice(slot.upper(), path, cache.resolve_probe(path, state.probe_path()), "sidebar")
            )
            continue
        if path is not None:
            notes.append(f"{slot.upper()} ({Path(path).name}): {reason}")
        demo = demo_final(DEMO_DEFAULTS[slot])
        if demo is not None:
            picked.append(Choice(slot.upper(), demo, cache.resolve_probe(demo, None), "demo"))
    return picked, notes


def default_floor(picked: list[Choice], trust: bool) -> float:
    """The first free-bits floor found in the checkpoints' configs, else 0."""
    for choice in picked:
        floor = getattr(cache.adapter(choice.path, trust), "free_bits", None)
        if floor:
            return float(min(max(floor, 0.0), 2.0))
    return 0.0


def in_data_units(choice: Choice, a: np.ndarray, trust: bool) -> np.ndarray:
    """Features [N, F] (or [..., F]) in data units: undoes a channel-wise normalisation the config records."""
    adapter = cache.adapter(choice.path, trust)
    a = np.asarray(a, dtype=np.float32)
    if not hasattr(adapter, "denormalise"):
        return a
    return adapter.denormalise(a.reshape(-1, a.shape[-1])).reshape(a.shape)


@st.cache_data(show_spinner="Encoding probe data…", max_entries=32)
def _analysis(file: cache.FileKey, probe: str, floor: float, trust: bool) -> PosteriorAnalysis:
    data = cache.probe_data(probe)
    if data is None or data.x is None:
        raise ProbeError(f"probe data {Path(probe).name} has no 'x' array of model inputs")
    return analyse(cache.adapter(file.path, trust), data.x, floor)


def analysis(choice: Choice, floor: float, trust: bool) -> PosteriorAnalysis:
    """Posterior statistics of a checkpoint on its probe x (cached per file version and floor)."""
    if choice.probe is None:
        raise ProbeError(
            f"no probe data for {Path(choice.path).name}: put a probe.npz with 'x' beside it or pick one "
            "in the sidebar"
        )
    return _analysis(cache.FileKey.of(choice.path), choice.probe, floor, trust)


@st.cache_data(show_spinner=False, max_entries=64)
def _traversal(
    file: cache.FileKey,
    base: tuple[float, ...],
    dims: tuple[int, ...],
    values: tuple[float, ...],
    trust: bool,
) -> np.ndarray:
    return latent_traversal(cache.adapter(file.path, trust), np.asarray(base), dims, values)


def traversal(
    choice: Choice, base: np.ndarray, dims: list[int], values: np.ndarray, trust: bool
) -> np.ndarray:
    """Decoded traversals float32 [len(dims), len(values), F] around latent `base` [Z] (cached)."""
    return _traversal(
        cache.FileKey.of(choice.path),
        tuple(float(v) for v in base),
        tuple(int(d) for d in dims),
        tuple(float(v) for v in values),
        trust,
    )


@st.cache_data(show_spinner="Measuring the run's checkpoints…", max_entries=16)
def _timeline(run: cache.FileKey, probe: str) -> RunTimeline:
    data = cache.probe_data(probe)
    if data is None or data.x is None:
        raise ProbeError(f"probe data {Path(probe).name} has no 'x' array of model inputs")
    return run_timeline(run.path, data.x)


def timeline(choice: Choice) -> RunTimeline:
    """KL per dimension over the checkpoints in the folder of `choice` (cached per folder version)."""
    if choice.probe is None:
        raise ProbeError(f"no probe data for {Path(choice.path).name}")
    folder = str(Path(choice.path).parent)
    return _timeline(cache.FileKey.of(folder), choice.probe)


def probe_rows(choice: Choice, n: int) -> np.ndarray:
    """The first n probe inputs, flattened to [n, F]."""
    x = np.asarray(cache.probe_data(choice.probe).x)[:n]
    return x.reshape(len(x), -1)


def traversal_values(span: tuple[float, float], steps: int) -> np.ndarray:
    """Evenly spaced latent values from span[0] to span[1] (float [steps])."""
    return np.linspace(span[0], span[1], steps)


def active_dims(result: PosteriorAnalysis) -> list[int]:
    """Indices of the active latent dimensions (empty when activity is undefined)."""
    return [] if result.active_mask is None else [int(d) for d in np.flatnonzero(result.active_mask)]


def traversal_base(result: PosteriorAnalysis, *, from_first_row: bool) -> np.ndarray:
    """Where traversals start: the first probe row's mu, or the prior mean z = 0 (float32 [Z])."""
    return result.mu[0] if from_first_row else np.zeros(result.mu.shape[1], np.float32)


def dimension_table(results: dict[str, PosteriorAnalysis]) -> list[dict[str, object]]:
    """One row per checkpoint and latent dimension: KL_j (nats), Var_x(mu_j), mean sigma_j, active
    (for the CSV download); undefined statistics are left blank."""
    rows: list[dict[str, object]] = []
    for label, result in results.items():
        z = result.mu.shape[1]
        columns = {"kl_nats": result.kl, "var_mu": result.mu_var, "mean_sigma": result.sigma}
        mask = result.active_mask
        for j in range(z):
            row: dict[str, object] = {"checkpoint": label, "dimension": j}
            for name, values in columns.items():
                row[name] = None if isinstance(values, Undefined) else float(values[j])
            row["active"] = None if mask is None else bool(mask[j])
            rows.append(row)
    return rows
