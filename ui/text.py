"""Cached helpers for the generation page: which text models to compare, their decoded probe, typed sentences."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import streamlit as st

from core import DEMO_DIR
from core.config import SUGGESTED_SAMPLING, SamplingConfig
from core.diagnosis.text import Decoded, decode_probe
from core.io.errors import CollapseExplorerError
from core.io.paths import display_name
from ui import cache, state

DEMO_RUNS = (("A", "collapsed"), ("B", "fixed"))


@dataclass(frozen=True)
class Model:
    """A text generator offered on the page: its slot ("A" / "B"), checkpoint path and where it came from."""

    slot: str
    path: str
    origin: str = "sidebar"


def _last_checkpoint(run: str) -> str | None:
    folder = DEMO_DIR / "text" / run
    files = sorted(folder.glob("bridge_epoch_*.pt"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return str(files[-1]) if files else None


def _is_text(path: str | None) -> bool:
    if path is None or not Path(path).exists():
        return False
    try:
        return cache.adapter(path, state.trusted()).spec().family == "text"
    except CollapseExplorerError:
        return False


def models() -> list[Model]:
    """Sidebar A / B when they are text generators, else the shipped collapsed (A) and fixed (B) runs."""
    chosen = [(slot.upper(), state.selected_path(slot)) for slot in ("a", "b")]
    picked = [Model(slot, path) for slot, path in chosen if _is_text(path)]
    if picked:
        return picked
    demo = [(slot, run, _last_checkpoint(run)) for slot, run in DEMO_RUNS]
    return [Model(slot, path, f"demo {run} run") for slot, run, path in demo if path]


def describe(model: Model) -> str:
    """`A = text/collapsed/bridge_epoch_7.pt (demo collapsed run)`."""
    return f"{model.slot} = {display_name(Path(model.path))} ({model.origin})"


def use_suggested(prefix: str = "gen") -> None:
    """Button callback: set the sampling widgets to the suggested fix (before they are drawn)."""
    for field in fields(SUGGESTED_SAMPLING):
        st.session_state[f"{prefix}_{field.name}"] = getattr(SUGGESTED_SAMPLING, field.name)


def sampling_controls(prefix: str = "gen") -> SamplingConfig:
    """One widget per SamplingConfig field (bounds, step and help from the field metadata).

    Raises ValueError with the config's message when the combination is impossible.
    """
    values: dict[str, object] = {}
    columns = st.columns(3)
    for i, field in enumerate(fields(SamplingConfig)):
        meta = field.metadata
        column = columns[i % 3]
        key = f"{prefix}_{field.name}"
        label = field.name.replace("_", " ").capitalize()
        if field.type in (bool, "bool"):
            values[field.name] = column.toggle(label, value=field.default, help=meta["help"], key=key)
        elif field.name == "seed":
            values[field.name] = int(
                column.number_input(
                    label, meta["min"], meta["max"], field.default, meta["step"], help=meta["help"], key=key
                )
            )
        else:
            as_int = isinstance(field.default, int)
            cast = int if as_int else float
            values[field.name] = column.slider(
                label,
                cast(meta["min"]),
                cast(meta["max"]),
                cast(field.default),
                cast(meta["step"]),
                help=meta["help"],
                key=key,
            )
    return SamplingConfig(**values)


@st.cache_data(show_spinner="Generating…", max_entries=64)
def _decoded(file: cache.FileKey, probe: str, trust: bool, config: SamplingConfig, size: int) -> Decoded:
    return decode_probe(cache.adapter(file.path, trust), cache.probe_data(probe), config, size)


def probe_for(model: Model) -> str:
    """The probe file the page measures every model on: the sidebar's, else the one beside `model`."""
    probe = cache.resolve_probe(model.path, state.probe_path())
    if probe is None:
        raise CollapseExplorerError(
            f"no probe data for {display_name(Path(model.path))}: put probe.npz beside it or pick probe data"
        )
    return probe


def decoded(model: Model, probe: str, config: SamplingConfig, size: int) -> Decoded:
    """Outputs and metrics of `model` on a seeded subsample of `size` inputs of `probe`; settings that
    change nothing under the others (temperature without sampling) reuse the cached outputs."""
    return _decoded(cache.FileKey.of(model.path), probe, state.trusted(), config.effective(), size)


@st.cache_data(show_spinner="Embedding with MiniLM…", max_entries=256)
def embed(text: str) -> np.ndarray:
    """MiniLM embedding of one sentence, float32 [1, 384]."""
    from core.demo.corpus import embed_sentences

    return embed_sentences([text])


def decode_text(model: Model, text: str, config: SamplingConfig) -> str:
    """What `model` writes for the MiniLM embedding of `text`; empty text raises a clear error."""
    if not text.strip():
        raise CollapseExplorerError("type a sentence first: the text box is empty")
    return cache.adapter(model.path, state.trusted()).generate(embed(text.strip()), config)[0]


def decode_embeddings(embeddings: np.ndarray, config: SamplingConfig | None = None) -> list[str]:
    """Sentences the shipped fixed demo generator writes for MiniLM-space embeddings [N, 384] (e.g. the
    endpoints of a flow); raises CollapseExplorerError when the demo is not built or sizes differ."""
    path = _last_checkpoint("fixed")
    if path is None:
        raise CollapseExplorerError("the text demo is not built: run `python -m core.demo build`")
    return cache.adapter(path).generate(embeddings, config or SamplingConfig())
