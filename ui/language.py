"""Generation page for language models: prompts, A and B continuations side by side, loops highlighted.

A and B are the sidebar's checkpoints when they are language models (a LoRA adapter on its base adds its
base model as a column), else the shipped demo's collapsed fine-tune (A) and healthy fine-tune (B).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core import DEMO_DIR
from core.config import SamplingConfig
from core.diagnosis.language import Continued, continue_probe
from core.diagnosis.text import sampling_noise
from core.io.errors import CollapseExplorerError
from core.io.paths import display_name
from core.io.probe import find_probe
from core.metrics import METRICS, format_value
from core.metrics.language import longest_loop, words
from core.plots.language import language_bars
from ui import cache, state, widgets

DEMO_RUNS = (("A", "collapsed"), ("B", "healthy"))
FAMILY_KEY = "gen_family"
KINDS = ("text bridge", "language model")


@dataclass(frozen=True)
class Model:
    """A language model offered on the page: its slot, folder or file, and where it came from."""

    slot: str
    path: str
    origin: str = "sidebar"


def _is_language(path: str | None) -> bool:
    if path is None or not Path(path).exists():
        return False
    try:
        return cache.adapter(path, state.trusted()).spec().family == "language"
    except CollapseExplorerError:
        return False


def models() -> list[Model]:
    """Sidebar A / B when they are language models, else the demo's collapsed (A) and healthy (B) runs."""
    chosen = [(slot.upper(), state.selected_path(slot)) for slot in ("a", "b")]
    picked = [Model(slot, str(path)) for slot, path in chosen if _is_language(path)]
    if picked:
        return picked
    demo = [(slot, run, DEMO_DIR / "language" / run) for slot, run in DEMO_RUNS]
    return [Model(slot, str(path), f"demo {run} fine-tune") for slot, run, path in demo if path.is_dir()]


def chosen() -> bool:
    """Whether the page shows language models: the kind switch, defaulting to them when the sidebar
    picked one."""
    picked = any(_is_language(state.selected_path(slot)) for slot in ("a", "b"))
    if FAMILY_KEY not in st.session_state:
        st.session_state[FAMILY_KEY] = KINDS[1] if picked else KINDS[0]
    kind = st.segmented_control(
        "Generator", KINDS, key=FAMILY_KEY, help="Which kind of model to generate with."
    )
    return kind == KINDS[1]


@st.cache_data(show_spinner="Continuing the prompts…", max_entries=64)
def _continued(
    file: cache.FileKey, probe: str | None, trust: bool, config: SamplingConfig, size: int
) -> Continued:
    data = cache.probe_data(probe) if probe else None
    return continue_probe(cache.adapter(file.path, trust), data, config, size)


def continued(model: Model, config: SamplingConfig, size: int) -> tuple[Continued, str | None]:
    """(the continuations of `model` on the sidebar's probe or the one beside it, that probe's path)."""
    probe = state.probe_path() or (str(p) if (p := find_probe(model.path)) else None)
    return _continued(cache.FileKey.of(model.path), probe, state.trusted(), config, size), probe


def loop_note(text: str) -> str:
    """`'cat' x 12` for the longest loop in a continuation, or ''."""
    loop = longest_loop(words(text))
    return f"{' '.join(loop.unit)!r} x {loop.repeats}" if loop else ""


def render(config: SamplingConfig, size: int) -> None:
    """The prompts table of the page's language models (the evidence, first), then metrics, warnings, bars."""
    models_ = models()
    if not models_:
        st.info("No language model: pick a model folder as A or B in the sidebar, or build the demo.")
        return
    try:
        results = {model: continued(model, config, size) for model in models_}
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
        return
    st.caption(
        " · ".join(f"{m.slot} = {display_name(Path(m.path))} ({m.origin})" for m in models_)
        + f" · prompts: {next(iter(results.values()))[0].metrics['prompts']}"
    )
    columns: dict[str, tuple[str, ...]] = {}
    for model, (result, _) in results.items():
        if result.base_outputs:
            columns[f"{model.slot} base"] = result.base_outputs
        columns[model.slot] = result.outputs
    st.subheader("Continuations")
    prompts = next(iter(results.values()))[0].prompts
    table = []
    for i, prompt in enumerate(prompts):
        row = {"prompt": prompt}
        for name, outputs in columns.items():
            row[name] = outputs[i]
            row[f"{name} loop"] = loop_note(outputs[i])
        table.append(row)
    loops = [name for name in columns if any(row[f"{name} loop"] for row in table)]
    if loops:
        st.caption(
            "Loops (a unit of 1-8 words repeated 3+ times in a row) are named beside each continuation."
        )
    shown = [
        {k: v for k, v in row.items() if not k.endswith(" loop") or k[: -len(" loop")] in loops}
        for row in table
    ]
    st.dataframe(_highlighted(shown, loops), hide_index=True, width="stretch")
    widgets.csv_download("Download the continuations (CSV)", shown, "continuations.csv", key="_lm_csv")
    metrics = {model.slot: result.metrics for model, (result, _) in results.items()}
    keys = [k for k in next(iter(metrics.values())) if k in METRICS]
    st.subheader("Metrics")
    st.dataframe(
        [
            {"metric": METRICS[k].titled, "reading": METRICS[k].direction}
            | {slot: format_value(values.get(k)) for slot, values in metrics.items()}
            for k in keys
        ],
        hide_index=True,
        width="stretch",
    )
    for slot, values in metrics.items():
        if note := sampling_noise(values):
            st.warning(f"{slot}: {note}.", icon=":material/casino:")
    st.plotly_chart(language_bars(metrics))


def _highlighted(rows: list[dict], loops: list[str]):
    """The table with looping continuations shaded (pandas Styler: cell values stay plain text)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if not loops:
        return frame

    def shade(column: pd.Series) -> list[str]:
        name = column.name.removesuffix(" loop")
        if name not in loops:
            return [""] * len(column)
        marks = frame[f"{name} loop"].astype(bool)
        return ["background-color: rgba(214, 39, 40, 0.25)" if m else "" for m in marks]

    return frame.style.apply(shade, axis=0)
