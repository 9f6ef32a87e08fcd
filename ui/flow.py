"""Cached helpers for the Trajectories page (checkpoints to offer, the frame, the flows, decoded endpoints) and
for the flow block of the Compare page (A and B flowed in A's frame)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import DEMO_DIR
from core.adapters.base import CheckpointAdapter
from core.adapters.vectorfield import flow_settings
from core.errors import CollapseExplorerError
from core.flowtext import DecodedEndpoints, decode_endpoints, demo_decoder
from core.flowview import FlowView, check_flow_inputs, compare_flows, field_at_inputs, flow_view
from core.metrics import Undefined, format_value
from core.metrics.clustering import median_nn_distance
from core.metrics.field import FieldStats
from core.paths import default_demo, demo_checkpoints, display_name
from core.plots.flow import JOINT, colour_groups, compare_flow_figure
from core.projection import PROJECTION_NAME, Projection, cached_projection
from ui import cache, state

DEMO_FLOW_DIR = DEMO_DIR / "flow"
COMPARE_CAPTION = (
    "A's probe flowed by A and by B toward the same targets (row i flips attribute i mod A, as in the "
    "diagnosis) with A's steps and step size. One frame for both: UMAP fitted on A's inputs, every step "
    "placed into it, same sampled rows and axes in both panels."
)


@dataclass(frozen=True)
class FlowSetup:
    """What the controls need: attribute names, config defaults, row count, and the files in use."""

    checkpoint: str
    probe: str
    attribute_names: tuple[str, ...]
    steps: int
    alpha: float
    rows: int


def is_flow_checkpoint(path: str | None) -> bool:
    """True when `path` opens as an adapter that can flow (errors mean no)."""
    if path is None or not Path(path).is_file():
        return False
    try:
        return cache.adapter(path, state.trusted()).spec().supports_flow
    except CollapseExplorerError:
        return False


def checkpoint_choices() -> dict[str, str]:
    """Label -> path: checkpoint A when it is a flow model, then every shipped flow demo checkpoint."""
    choices: dict[str, str] = {}
    selected = state.selected_path("a")
    if is_flow_checkpoint(selected):
        choices[f"A: {display_name(Path(selected))}"] = str(selected)
    for path in demo_checkpoints():
        if path.is_relative_to(DEMO_FLOW_DIR) and str(path) not in choices.values():
            choices[f"demo: {display_name(path)}"] = str(path)
    return choices


def default_choice(choices: dict[str, str]) -> int:
    """Index of checkpoint A if offered, else the collapsed demo run's last checkpoint."""
    if choices and next(iter(choices)).startswith("A: "):
        return 0
    demo = default_demo()
    paths = list(choices.values())
    return paths.index(str(demo)) if demo is not None and str(demo) in paths else max(len(paths) - 1, 0)


def setup(checkpoint: str) -> FlowSetup:
    """Check the checkpoint and its probe data fit together; CollapseExplorerError says why not."""
    probe = cache.resolve_probe(checkpoint, state.probe_path())
    adapter = cache.adapter(checkpoint, state.trusted())
    embeddings, _ = check_flow_inputs(adapter, cache.probe_data(probe))
    names = _attribute_names(probe, adapter)
    steps, alpha = flow_settings(cache.loaded_checkpoint(checkpoint, state.trusted()).config)
    return FlowSetup(checkpoint, str(probe), names, steps, alpha, len(embeddings))


def _attribute_names(probe: str, adapter: CheckpointAdapter) -> tuple[str, ...]:
    """The probe's attribute names, else the model's, else numbered ones (one per probe column)."""
    names = cache.probe_data(probe).attribute_names or adapter.spec().attribute_names
    columns = cache.probe_data(probe).attributes.shape[1]
    return tuple(names) if len(names) == columns else tuple(f"attribute {i}" for i in range(columns))


@st.cache_resource(show_spinner="Fitting the UMAP frame on the inputs (first time only, about a minute)…")
def _frame(probe: str, stamp: cache.Stamp) -> tuple[Projection, float | Undefined]:
    embeddings = cache.probe_data(probe).embeddings
    shipped = Path(probe).with_name(PROJECTION_NAME)
    return cached_projection(embeddings, shipped), median_nn_distance(embeddings)


def frame(probe: str) -> tuple[Projection, float | Undefined]:
    """(projection fitted on the probe inputs, their median nearest-neighbour distance), once per probe."""
    return _frame(probe, cache.file_stamp(probe))


def _flow_inputs(
    checkpoint: str, probe: str, trust: bool
) -> tuple[CheckpointAdapter, np.ndarray, np.ndarray]:
    """The cached flow adapter with the probe's (embeddings, attributes) checked against it."""
    adapter = cache.adapter(checkpoint, trust)
    return (adapter, *check_flow_inputs(adapter, cache.probe_data(probe)))


@st.cache_data(show_spinner="Flowing…", max_entries=64)
def _view(
    checkpoint: str,
    stamp: cache.Stamp,
    probe: str,
    probe_stamp: cache.Stamp,
    trust: bool,
    controls: tuple[str, ...],
    steps: int,
    alpha: float,
    sample_size: int,
) -> FlowView:
    adapter, embeddings, attributes = _flow_inputs(checkpoint, probe, trust)
    projection, scale = _frame(probe, probe_stamp)
    return flow_view(
        adapter, embeddings, attributes, projection, controls, steps, alpha, sample_size, scale=scale
    )


def _files(setup: FlowSetup) -> tuple[str, cache.Stamp, str, cache.Stamp, bool]:
    """Cache key of the files in use: (checkpoint, its stamp, probe, its stamp, trust switch)."""
    stamps = cache.file_stamp(setup.checkpoint), cache.file_stamp(setup.probe)
    return setup.checkpoint, stamps[0], setup.probe, stamps[1], state.trusted()


def view(setup: FlowSetup, controls: tuple[str, ...], steps: int, alpha: float, sample_size: int) -> FlowView:
    """Flow, metrics and projected sample for one set of controls (cached per checkpoint/probe version)."""
    return _view(*_files(setup), controls, steps, alpha, sample_size)


@st.cache_data(show_spinner="Estimating divergence and curl…", max_entries=32)
def _field(
    checkpoint: str,
    stamp: cache.Stamp,
    probe: str,
    probe_stamp: cache.Stamp,
    trust: bool,
    controls: tuple[str, ...],
) -> FieldStats:
    adapter, embeddings, attributes = _flow_inputs(checkpoint, probe, trust)
    return field_at_inputs(adapter, embeddings, attributes, controls)


def field(setup: FlowSetup, controls: tuple[str, ...]) -> FieldStats:
    """Surface divergence and curl of the field at the inputs for these controls (cached)."""
    return _field(*_files(setup), controls)


def background(probe: str) -> np.ndarray:
    """2-D coordinates float32 [N, 2] of every probe input in the frame."""
    return frame(probe)[0].coords


def texts(probe: str, rows: np.ndarray) -> list[str]:
    """Hover text per row: the probe sentence, else the row number."""
    sentences = cache.probe_data(probe).texts
    return [sentences[i] if i < len(sentences) else f"row {i}" for i in rows]


@st.cache_data(show_spinner="Decoding endpoints…", max_entries=64)
def _decoded(
    checkpoint: str,
    stamp: cache.Stamp,
    probe: str,
    probe_stamp: cache.Stamp,
    trust: bool,
    decoder: str,
    decoder_stamp: cache.Stamp,
    controls: tuple[str, ...],
    steps: int,
    alpha: float,
    count: int,
) -> DecodedEndpoints:
    adapter, embeddings, attributes = _flow_inputs(checkpoint, probe, trust)
    # The decoder is the shipped demo generator, never a user file, so it loads without trust.
    text_adapter = cache.adapter(decoder)
    return decode_endpoints(adapter, text_adapter, embeddings, attributes, controls, steps, alpha, count)


def decoded(
    setup: FlowSetup, controls: tuple[str, ...], steps: int, alpha: float, count: int
) -> DecodedEndpoints:
    """Start and endpoint of `count` seeded probe rows decoded by the shipped fixed text demo (cached)."""
    decoder = demo_decoder()
    if decoder is None:
        raise CollapseExplorerError(
            "no text generator to decode with: the text demo is not built (run `python -m core.demo build`)"
        )
    return _decoded(*_files(setup), str(decoder), cache.file_stamp(decoder), controls, steps, alpha, count)


@st.cache_data(show_spinner="Flowing A and B…", max_entries=16)
def _compared(
    path_a: str,
    stamp_a: cache.Stamp,
    path_b: str,
    stamp_b: cache.Stamp,
    probe: str,
    probe_stamp: cache.Stamp,
    trust: bool,
) -> tuple[FlowView, FlowView]:
    projection, scale = _frame(probe, probe_stamp)
    return compare_flows(
        cache.adapter(path_a, trust),
        cache.adapter(path_b, trust),
        cache.probe_data(probe),
        projection,
        scale=scale,
    )


def compare_figure(path_a: str, path_b: str, probe: str | None = None) -> go.Figure:
    """Both flow checkpoints on A's probe (prototype-diagnosis targets, A's steps and alpha), side by side
    in A's projection frame, coloured by target combination. CollapseExplorerError when they cannot be."""
    probe = cache.resolve_probe(path_a, probe)
    if probe is None:
        raise CollapseExplorerError(
            "no probe data for A: put probe.npz (embeddings, attributes) beside it or pick probe data"
        )
    view_a, view_b = _compared(
        path_a,
        cache.file_stamp(path_a),
        path_b,
        cache.file_stamp(path_b),
        probe,
        cache.file_stamp(probe),
        state.trusted(),
    )
    names = _attribute_names(probe, cache.adapter(path_a, state.trusted()))
    groups, group_names = colour_groups(view_a.target[view_a.sample], names, JOINT)
    titles = tuple(
        f"{slot}: {display_name(Path(path))} · {format_value(view.metrics['distinct_endpoints'])} distinct "
        "endpoints"
        for slot, path, view in (("A", path_a, view_a), ("B", path_b, view_b))
    )
    return compare_flow_figure(
        view_a.paths,
        view_b.paths,
        groups,
        group_names,
        texts(probe, view_a.sample),
        background=background(probe),
        titles=titles,
    )
