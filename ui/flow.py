"""Cached helpers for the Trajectories page (checkpoints to offer, the frames, the flows, decoded endpoints,
selection and CSV tables) and for the flow block of the Compare page (A and B, each in its joint frame).

Caching: the probe's frame context (input frame) once per probe file version; a checkpoint's home frame
once per checkpoint, probe and default settings; each view per controls (st.cache_data, in memory), and
under all of them the joint frames on disk (shipped with the demo, else the user cache; see
core/plots/flow/projection.py), so revisiting a setting never refits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import DEMO_DIR
from core.adapters.base import CheckpointAdapter
from core.adapters.flow import flow_settings
from core.config import FlowConfig
from core.io.encode import csv_frame
from core.io.errors import CollapseExplorerError
from core.io.files import content_digest
from core.io.paths import default_demo, demo_checkpoints, display_name
from core.metrics import METRICS, Undefined, format_interval, format_value, format_with_error
from core.metrics.flow.clustering import median_nn_distance
from core.metrics.flow.field import PROBES, FieldStats
from core.plots.flow import PathSample, selected_rows
from core.plots.flow.projection import Projection
from core.plots.flow.targets import CONTROLS, default_controls
from core.plots.flow.text import DecodedEndpoints, decode_endpoints, decode_selected, demo_decoder
from core.plots.flow.view import (
    FlowView,
    FrameContext,
    at_home,
    check_flow_inputs,
    compare_flows,
    field_at_inputs,
    flow_view,
    home_anchor,
    row_texts,
    trajectory_columns,
)
from core.plots.flow.view import path_sample as core_path_sample
from core.report.figures import flow_frame_titles, flow_frames_figure
from ui import cache, state

DEMO_FLOW_DIR = DEMO_DIR / "flow"
# Decoding is ~2 ms a row on the CPU; a selection beyond this many rows lists the rest undecoded.
DECODE_LIMIT = 500
COMPARE_CAPTION = (
    "A's probe flowed by A and by B toward the same targets (row i flips attribute i mod A, as in the "
    "diagnosis) with A's steps and step size, the same sampled rows in both. Each panel is its checkpoint's "
    "joint frame (UMAP on inputs and endpoints), both aligned on the probe's input frame, so an input sits "
    "at the same place in both; each panel is scaled to its own points."
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


def partner(checkpoint: str) -> str | None:
    """Checkpoint B of the sidebar when it is a flow model other than `checkpoint` (drawn beside it)."""
    path_b = state.selected_path("b")
    if path_b is None or path_b == checkpoint or state.problem("b") is not None:
        return None
    return path_b if is_flow_checkpoint(path_b) else None


def default_choice(choices: dict[str, str]) -> int:
    """Index of checkpoint A if offered, else the collapsed demo run's last checkpoint."""
    if choices and next(iter(choices)).startswith("A: "):
        return 0
    demo = default_demo()
    paths = list(choices.values())
    return paths.index(str(demo)) if demo is not None and str(demo) in paths else max(len(paths) - 1, 0)


def setup(checkpoint: str, probe: str | None = None) -> FlowSetup:
    """Check the checkpoint and its probe data (default: the sidebar's, else the one beside it) fit
    together; CollapseExplorerError says why not."""
    probe = cache.resolve_probe(checkpoint, probe or state.probe_path())
    adapter = cache.adapter(checkpoint, state.trusted())
    embeddings, _ = check_flow_inputs(adapter, cache.probe_data(probe))
    names = _attribute_names(probe, adapter)
    steps, alpha = flow_settings(cache.loaded_checkpoint(checkpoint, state.trusted()).config)
    return FlowSetup(checkpoint, str(probe), names, steps, alpha, len(embeddings))


# The Trajectories page's two ways of choosing targets: the diagnosis's (FlowConfig targets empty), which it
# opens on so its first numbers are the verdict's, or one control per attribute.
AS_DIAGNOSED = "as the diagnosis: each row flips one attribute"
BY_HAND = "chosen per attribute"
TARGET_CHOICES = (AS_DIAGNOSED, BY_HAND)


def default_control_index(column: int) -> int:
    """Index into CONTROLS of the control column `column` opens with (see `default_controls`)."""
    return CONTROLS.index(default_controls(column + 1)[column])


def _attribute_names(probe: str, adapter: CheckpointAdapter) -> tuple[str, ...]:
    """The probe's attribute names, else the model's, else numbered ones (one per probe column)."""
    names = cache.probe_data(probe).attribute_names or adapter.spec().attribute_names
    columns = cache.probe_data(probe).attributes.shape[1]
    return tuple(names) if len(names) == columns else tuple(f"attribute {i}" for i in range(columns))


@st.cache_resource(show_spinner="Fitting the UMAP frame of the probe inputs (first time only)…")
def _probe_context(probe: cache.FileKey) -> tuple[FrameContext, float | Undefined]:
    data = cache.probe_data(probe.path)
    context = FrameContext.for_probe(data.embeddings, data.attributes, Path(probe.path).parent)
    return context, median_nn_distance(data.embeddings)


def _context(probe: cache.FileKey, *checkpoints: cache.FileKey) -> tuple[FrameContext, float | Undefined]:
    """The probe's frame context, its frames also looked up beside each checkpoint (where a run ships
    them: B drawn on A's probe), and the inputs' median nearest-neighbour distance (once per probe)."""
    context, scale = _probe_context(probe)
    return replace(context, store=context.store.beside(*(c.path for c in checkpoints))), scale


def frame(probe: str) -> tuple[FrameContext, float | Undefined]:
    """(the probe's frame context, the inputs' median nearest-neighbour distance), once per probe."""
    return _context(cache.FileKey.of(probe))


@st.cache_data(show_spinner=False, max_entries=64)
def _digest(file: cache.FileKey) -> str:
    return content_digest(file.path)


def digest(path: str) -> str:
    """Content digest of a checkpoint (keys its frames), once per file version."""
    return _digest(cache.FileKey.of(path))


def _flow_inputs(
    checkpoint: str, probe: str, trust: bool
) -> tuple[CheckpointAdapter, np.ndarray, np.ndarray]:
    """The cached flow adapter with the probe's (embeddings, attributes) checked against it."""
    adapter = cache.adapter(checkpoint, trust)
    return (adapter, *check_flow_inputs(adapter, cache.probe_data(probe)))


@st.cache_resource(
    show_spinner="Fitting this checkpoint's home frame: UMAP on inputs and endpoints at the diagnosis's targets…",
    max_entries=16,
)
def _home(checkpoint: cache.FileKey, probe: cache.FileKey, trust: bool, home: FlowConfig) -> Projection:
    adapter, embeddings, attributes = _flow_inputs(checkpoint.path, probe.path, trust)
    context, _ = _context(probe, checkpoint)
    return home_anchor(adapter, _digest(checkpoint), context, embeddings, attributes, home)


@st.cache_data(
    show_spinner="Flowing every probe row and fitting the joint frame (inputs + endpoints)…", max_entries=64
)
def _view(
    checkpoint: cache.FileKey,
    probe: cache.FileKey,
    trust: bool,
    home: FlowConfig,
    config: FlowConfig,
) -> FlowView:
    adapter, embeddings, attributes = _flow_inputs(checkpoint.path, probe.path, trust)
    context, scale = _context(probe, checkpoint)
    own = at_home(config, home, diagnosed=not config.targets)
    anchor = None if own else _home(checkpoint, probe, trust, home)
    return flow_view(
        adapter, _digest(checkpoint), context, embeddings, attributes, config, anchor=anchor, scale=scale
    )


def _files(setup: FlowSetup) -> tuple[cache.FileKey, cache.FileKey, bool]:
    """Cache key of the files in use: (checkpoint, probe, trust switch)."""
    return cache.FileKey.of(setup.checkpoint), cache.FileKey.of(setup.probe), state.trusted()


def view(setup: FlowSetup, config: FlowConfig) -> FlowView:
    """Flow, metrics and the sample in the joint frame for one set of controls (cached per file version);
    a frame away from the diagnosis's targets starts from the checkpoint's home frame."""
    return _view(*_files(setup), FlowConfig(setup.steps, setup.alpha), config)


def frame_caption(view: FlowView) -> str:
    """What the frame is, how faithful, and (for large probes) what was fitted and what placed."""
    n, total = len(view.rows), view.total
    if view.frame_note:
        text = f"Frame: {view.frame_note}."
        if not isinstance(view.trust, Undefined):
            text += f" Trustworthiness {format_value(view.trust)} (k=10, cosine)."
    else:
        text = (
            f"Joint frame: UMAP fitted on {n:,} inputs and their {n:,} endpoints together, so endpoints that "
            "left the inputs stand where they are; aligned on the probe's input frame, so a change of "
            f"controls moves only what the flow moved. Trustworthiness {format_value(view.trust)} "
            "(k=10, cosine)."
        )
    if n < total:
        text += (
            f" The frame is fitted on a stratified sample of {n:,} of {total:,} rows; the other rows are "
            f"placed by their nearest fitted points. Metrics use all {total:,} rows."
        )
    return text


def path_sample(setup: FlowSetup, view: FlowView, colour_source: str, colour_attr: str) -> PathSample:
    """The view's sampled paths with colours (target or original attributes, joint or one attribute),
    sentences and target / original labels, for the figures."""
    return core_path_sample(
        view,
        setup.attribute_names,
        texts(setup.probe, view.sample),
        colour_source,
        colour_attr,
        texts(setup.probe, view.rows),
    )


@dataclass(frozen=True)
class Pair:
    """Checkpoint B of the sidebar drawn beside the page's checkpoint: its view at the same controls on
    the same probe (so both frames are aligned on that probe's input frame), its sample, panel titles."""

    view: FlowView
    sample: PathSample
    titles: tuple[str, str]


def pair(
    setup: FlowSetup, label: str, config: FlowConfig, colour_source: str, colour_attr: str
) -> Pair | None:
    """Sidebar B beside the page's checkpoint (`partner`), flowed at the same controls on the same
    probe; None when B is not a flow model. CollapseExplorerError when B does not fit the probe."""
    path_b = partner(setup.checkpoint)
    if path_b is None:
        return None
    setup_b = FlowSetup(*_pair_setup(path_b, setup))
    view_b = view(setup_b, config)
    titles = (label, f"B: {display_name(Path(path_b))}")
    return Pair(view_b, path_sample(setup_b, view_b, colour_source, colour_attr), titles)


def _pair_setup(path_b: str, setup_a: FlowSetup) -> tuple:
    """B's setup fields on A's probe: A's attribute names, B's own default steps and alpha (its home)."""
    own = setup(path_b, setup_a.probe)
    return path_b, setup_a.probe, setup_a.attribute_names, own.steps, own.alpha, own.rows


def headline(view: FlowView, sample: PathSample, other: Pair | None = None) -> str:
    """One line a stakeholder reads first: distinct endpoints of all rows at these controls and how few
    dots hold 90% of the rows (for B too when it is drawn beside)."""

    def line(v: FlowView, s: PathSample) -> str:
        distinct = v.metrics.get("distinct_endpoints")
        counts = np.sort(s.spots.counts)[::-1]
        heavy = int(np.searchsorted(np.cumsum(counts), 0.9 * counts.sum()) + 1) if len(counts) else 0
        found = f"{distinct:,}" if isinstance(distinct, int) else "undefined"
        return (
            f"**{found} distinct endpoints** from {v.total:,} inputs; {heavy:,} of {len(counts):,} dots "
            f"hold 90% of the {int(counts.sum()):,} frame rows"
        )

    if other is None:
        return line(view, sample)
    # File names go into code spans (never read as Markdown).
    a, b = (f"`{title.replace('`', '')}`" for title in other.titles)
    return f"{a}: {line(view, sample)}  \n{b}: {line(other.view, other.sample)}"


@st.cache_data(show_spinner="Estimating divergence and curl…", max_entries=32)
def _field(
    checkpoint: cache.FileKey, probe: cache.FileKey, trust: bool, controls: tuple[str, ...]
) -> FieldStats:
    adapter, embeddings, attributes = _flow_inputs(checkpoint.path, probe.path, trust)
    return field_at_inputs(adapter, embeddings, attributes, controls)


def field(setup: FlowSetup, controls: tuple[str, ...]) -> FieldStats:
    """Surface divergence and curl of the field at the inputs for these controls, on a seeded sample of
    at most SAMPLE_ROWS inputs, with their standard errors (cached)."""
    return _field(*_files(setup), controls)


def field_errors(stats: FieldStats) -> dict[str, float | Undefined]:
    """Standard errors of the field stats by METRICS key (for `metric_cards`)."""
    return {"field_divergence": stats.divergence_se, "field_curl": stats.curl_se}


def field_caption(stats: FieldStats) -> str:
    """Where the field was estimated and what its ± means, with the 95% intervals."""
    spread = "the spread of the per-input estimates / sqrt(inputs)"
    if stats.sampled:
        where = (
            f"Estimated at a seeded uniform sample of {stats.rows:,} of the {stats.total:,} inputs, {PROBES} "
            f"Hutchinson probes each. ± is the standard error of the mean over those inputs ({spread}): it "
            "covers both which inputs were drawn and the random probes."
        )
    else:
        where = (
            f"Estimated at all {stats.total:,} inputs, {PROBES} Hutchinson probes each. ± is the standard "
            f"error of the mean over them ({spread}); with every input used it bounds the probes' noise."
        )
    intervals = [
        f"{METRICS[key].label.lower()} {shown}"
        for key, value, se in (
            ("field_divergence", stats.divergence, stats.divergence_se),
            ("field_curl", stats.curl, stats.curl_se),
        )
        if (shown := format_interval(value, se))
    ]
    return where + (f" 95% intervals: {'; '.join(intervals)}." if intervals else "")


def metric_cards(
    values: Mapping[str, object], errors: Mapping[str, object] | None = None
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Metric cards of METRICS keys -> values, "value ± standard error" where `errors` (by key) gives a
    defined one: (label -> shown value, label -> help, one note per undefined value saying why)."""
    cards: dict[str, str] = {}
    helps: dict[str, str] = {}
    notes: list[str] = []
    for key, value in values.items():
        info = METRICS[key]
        helps[info.label] = info.help
        if isinstance(value, Undefined):
            cards[info.label] = "undefined"
            notes.append(f"{info.label}: {value}")
            continue
        cards[info.label] = format_with_error(value, (errors or {}).get(key))
    return cards, helps, notes


def texts(probe: str, rows: np.ndarray) -> list[str]:
    """Hover text per row: the probe sentence, else the row number."""
    return row_texts(cache.probe_data(probe), rows)


def _decoder() -> str:
    decoder = demo_decoder()
    if decoder is None:
        raise CollapseExplorerError(
            "no text generator to decode with: the text demo is not built (run `python -m core.demo build`)"
        )
    return str(decoder)


@st.cache_data(show_spinner="Decoding endpoints…", max_entries=64)
def _decoded(
    checkpoint: cache.FileKey,
    probe: cache.FileKey,
    trust: bool,
    decoder: cache.FileKey,
    config: FlowConfig,
    count: int | None,
    rows: tuple[int, ...] = (),
) -> DecodedEndpoints:
    adapter, embeddings, attributes = _flow_inputs(checkpoint.path, probe.path, trust)
    # The decoder is the shipped demo generator, never a user file, so it loads without trust.
    text_adapter = cache.adapter(decoder.path)
    if count is None:
        return decode_selected(
            adapter, text_adapter, embeddings, attributes, config, np.array(rows, dtype=np.int64)
        )
    return decode_endpoints(adapter, text_adapter, embeddings, attributes, config, count)


def decoded(setup: FlowSetup, config: FlowConfig, count: int) -> DecodedEndpoints:
    """Start and endpoint of `count` seeded probe rows decoded by the shipped fixed text demo (cached)."""
    decoder = _decoder()
    return _decoded(*_files(setup), cache.FileKey.of(decoder), config, count)


def selected(event: object) -> list[int]:
    """Probe rows of the start / endpoint markers selected on the trajectory plot (box, lasso or
    clicks), from the chart's selection event; [] when nothing is selected."""
    selection = getattr(event, "selection", None) or {}
    points = selection.get("points", []) if hasattr(selection, "get") else []
    return selected_rows(points).tolist()


def selection_table(
    setup: FlowSetup, view: FlowView, rows: list[int], config: FlowConfig
) -> tuple[pd.DataFrame, str]:
    """(table of the selected rows, as the trajectories table plus the decoded start and endpoint; a note
    on what was not decoded). Decoding needs the shipped text demo and a model on its embedding space;
    without them the table has no decoded columns and the note says why."""
    chosen = np.asarray(rows, dtype=np.int64)
    table = pd.DataFrame(trajectory_columns(view, setup.attribute_names, texts(setup.probe, chosen), chosen))
    decode = chosen[:DECODE_LIMIT]
    note = f"Decoded the first {DECODE_LIMIT:,} of {len(chosen):,}." if len(chosen) > DECODE_LIMIT else ""
    try:
        decoder = _decoder()
        out = _decoded(
            *_files(setup),
            cache.FileKey.of(decoder),
            config,
            None,
            tuple(decode.tolist()),
        )
    except CollapseExplorerError as exc:
        return table, f"Endpoints not decoded: {exc}"
    padding = [""] * (len(chosen) - len(decode))
    table["decoded start"] = list(out.start) + padding
    table["decoded endpoint"] = list(out.end) + padding
    return table, note


def trajectories_csv(setup: FlowSetup, view: FlowView) -> Callable[[], str]:
    """The trajectories table of every probe row as CSV, built only when the download is clicked (it
    runs outside the script thread, so it reads the probe captured here, not the caches)."""
    probe = cache.probe_data(setup.probe)

    def build() -> str:
        sentences = row_texts(probe, np.arange(view.total))
        return csv_frame(pd.DataFrame(trajectory_columns(view, setup.attribute_names, sentences))).to_csv(
            index=False
        )

    return build


@st.cache_data(show_spinner="Flowing A and B and fitting their joint frames…", max_entries=16)
def _compared(a: cache.FileKey, b: cache.FileKey, probe: cache.FileKey, trust: bool) -> tuple[FlowView, ...]:
    context, scale = _context(probe, a, b)
    return compare_flows(
        (cache.adapter(a.path, trust), cache.adapter(b.path, trust)),
        (_digest(a), _digest(b)),
        cache.probe_data(probe.path),
        context,
        scale=scale,
    )


def compare_figure(path_a: str, path_b: str, probe: str | None = None) -> go.Figure:
    """Both flow checkpoints on A's probe (prototype-diagnosis targets, A's steps and alpha), side by side,
    each in its joint frame, coloured by target combination. CollapseExplorerError when they cannot be."""
    probe = cache.resolve_probe(path_a, probe)
    if probe is None:
        raise CollapseExplorerError(
            "no probe data for A: put probe.npz (embeddings, attributes) beside it or pick probe data"
        )
    view_a, view_b = _compared(
        cache.FileKey.of(path_a), cache.FileKey.of(path_b), cache.FileKey.of(probe), state.trusted()
    )
    names = _attribute_names(probe, cache.adapter(path_a, state.trusted()))
    views = (view_a, view_b)
    labels = [f"{slot}: {display_name(Path(path))}" for slot, path in (("A", path_a), ("B", path_b))]
    return flow_frames_figure(views, flow_frame_titles(labels, views), names, texts(probe, view_a.sample))


@st.cache_data(show_spinner="Flowing the probe and fitting its joint frame…", max_entries=16)
def _alone(a: cache.FileKey, probe: cache.FileKey, trust: bool) -> FlowView:
    context, scale = _context(probe, a)
    (view,) = compare_flows(
        (cache.adapter(a.path, trust),), (_digest(a),), cache.probe_data(probe.path), context, scale=scale
    )
    return view


def alone_figure(path: str, probe: str | None = None) -> go.Figure:
    """One flow checkpoint's trajectories on its probe in its joint frame (the diagnosis' targets and
    settings, as `compare_figure` draws each of two). CollapseExplorerError when they cannot be drawn."""
    probe = cache.resolve_probe(path, probe)
    if probe is None:
        raise CollapseExplorerError(
            "no probe data: put probe.npz (embeddings, attributes) beside the checkpoint or pick probe data"
        )
    view = _alone(cache.FileKey.of(path), cache.FileKey.of(probe), state.trusted())
    names = _attribute_names(probe, cache.adapter(path, state.trusted()))
    titles = flow_frame_titles([f"A: {display_name(Path(path))}"], [view])
    return flow_frames_figure([view], titles, names, texts(probe, view.sample))
