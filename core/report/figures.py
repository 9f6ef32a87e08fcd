"""Family pictures for exported reports, every checkpoint (A, B) in the same pictures.

Each family turns (adapter, probe) into what it measures — code usage counts, KL per latent dimension,
mean step length per flow step, decoded probe outputs — and one builder draws the values of all
checkpoints together: a figure, or a list of figures and tables (`core.report.Table`).
Flow checkpoints also get their trajectories in joint, aligned frames side by side
(`flow_frames_figure`, the Compare page's figure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from ..adapters.base import CheckpointAdapter
from ..adapters.codebook import measure_usage
from ..adapters.registry import build_adapter, family_part
from ..config import SamplingConfig
from ..diagnosis.base import Report
from ..diagnosis.flow import probe_targets
from ..diagnosis.language import continue_probe
from ..diagnosis.posterior import analyse
from ..diagnosis.text import SAMPLE_SIZE, decode_probe
from ..io.checkpoints import load_checkpoint
from ..io.encode import plotly_text
from ..io.errors import CollapseExplorerError
from ..io.files import content_digest
from ..io.paths import display_name
from ..io.probe import ProbeData, find_probe, load_probe
from ..metrics.base import format_value
from ..metrics.flow.trajectories import mean_per_step
from ..plots.codebook import sorted_usage_figure, usage_rows
from ..plots.flow.figures import compare_flow_figure, flow_figure
from ..plots.flow.view import FlowView, FrameContext, check_flow_inputs, compare_flows, path_sample, row_texts
from ..plots.language import language_bars
from ..plots.palette import series_colour
from ..plots.posterior import kl_bars
from ..plots.text import metric_bars
from .html import Table


def codebook_usage(adapter: CheckpointAdapter, probe: ProbeData | None) -> np.ndarray | None:

    usage = measure_usage(adapter, probe)
    return None if usage is None else usage.counts.sum(axis=0)


def posterior_kl(adapter: CheckpointAdapter, probe: ProbeData | None) -> np.ndarray | None:

    if probe is None or probe.x is None:
        return None
    kl = analyse(adapter, probe.x).kl
    return kl if isinstance(kl, np.ndarray) else None


def flow_steps(adapter: CheckpointAdapter, probe: ProbeData | None) -> np.ndarray | None:

    if probe is None:
        return None
    z, attributes = check_flow_inputs(adapter, probe)
    steps, alpha = adapter.flow_defaults()  # type: ignore[attr-defined]
    return mean_per_step(adapter.flow(z, probe_targets(attributes), steps, alpha))


def steps_figure(series: Mapping[str, np.ndarray]) -> go.Figure:
    fig = go.Figure()
    for i, (label, per_step) in enumerate(series.items()):
        fig.add_scatter(
            x=np.arange(1, len(per_step) + 1),
            y=per_step,
            mode="lines+markers",
            name=label,
            line={"color": series_colour(label, i), "width": 2},
            marker={"color": series_colour(label, i)},
        )
    fig.update_layout(
        title="How far the inputs move at each flow step (each probe row with one attribute flipped)",
        xaxis_title="flow step",
        yaxis={"title": "mean distance moved in the step", "rangemode": "tozero"},
        legend={"title": {"text": "checkpoint"}, "orientation": "h", "y": -0.25},
        height=340,
    )
    return fig


def usage_figures(series: Mapping[str, np.ndarray]) -> list[go.Figure]:

    return [usage_rows(series), sorted_usage_figure(series, log=True)]


def kl_figure(series: Mapping[str, np.ndarray]) -> go.Figure:

    return kl_bars(dict(series))


OUTPUT_ROWS = 12  # outputs listed in the table; the metrics use the whole diagnosis sample


def text_outputs(adapter: CheckpointAdapter, probe: ProbeData | None):

    if probe is None or probe.embeddings is None:
        return None
    return decode_probe(adapter, probe, SamplingConfig(), SAMPLE_SIZE)


def text_pictures(series: Mapping[str, object]) -> list:
    """A table of what each model wrote for the same inputs (greedy, the diagnosis' own sample, so the
    pictures show what the verdict read), then the diversity bars of every model."""

    first = next(iter(series.values()))
    columns = ("input", *(("reference",) if first.references else ()), *series)
    rows = []
    for i, row in enumerate(first.rows[:OUTPUT_ROWS]):
        reference = (first.references[i],) if first.references else ()
        rows.append((str(int(row)), *reference, *(decoded.outputs[i] for decoded in series.values())))
    table = Table(
        "Generated outputs (greedy decoding)",
        columns,
        tuple(rows),
        f"The first {len(rows)} of the {len(first.rows)} probe inputs the diagnosis decoded (seeded sample).",
    )
    return [table, metric_bars({label: decoded.metrics for label, decoded in series.items()})]


def language_outputs(adapter: CheckpointAdapter, probe: ProbeData | None):
    """Greedy continuations of the diagnosis' own prompt sample, or None when the model cannot continue."""
    return continue_probe(adapter, probe) if adapter.spec().supports_prompts else None


def language_pictures(series: Mapping[str, object]) -> list:
    """The prompts with what each model wrote after them (greedy; the evidence, first), then diversity bars."""
    first = next(iter(series.values()))
    rows = [
        (prompt, *(continued.outputs[i] for continued in series.values()))
        for i, prompt in enumerate(first.prompts[:OUTPUT_ROWS])
    ]
    table = Table(
        "Continuations (greedy decoding)",
        ("prompt", *series),
        tuple(rows),
        f"The first {len(rows)} of the {len(first.prompts)} prompts the diagnosis continued.",
    )
    return [table, language_bars({label: continued.metrics for label, continued in series.items()})]


def flow_frames_figure(
    views: Sequence[FlowView], titles: Sequence[str], names: Sequence[str], sentences: Sequence[str]
) -> go.Figure:
    """The sampled trajectories of one checkpoint, or of A and B side by side (`compare_flows` views of the
    same rows), each in its joint frame, coloured by target combination (`names` the attribute names,
    `sentences` one per sampled row). The Compare page and the HTML report both draw this figure."""

    samples = [path_sample(view, names, sentences) for view in views]
    if len(views) == 1:
        return flow_figure(samples[0], background=views[0].background, title=titles[0])
    if len(views) != 2:
        raise ValueError(f"one or two views side by side, got {len(views)}")
    return compare_flow_figure(
        samples[0], samples[1], backgrounds=(views[0].background, views[1].background), titles=tuple(titles)
    )


def flow_frame_titles(labels: Sequence[str], views: Sequence[FlowView]) -> list[str]:
    """Panel titles: label, distinct endpoints and the frame's trustworthiness per view."""
    return [
        f"{plotly_text(label)}<br>{format_value(view.metrics['distinct_endpoints'])} distinct endpoints · "
        f"frame trustworthiness {format_value(view.trust)}"
        for label, view in zip(labels, views, strict=True)
    ]


def _flow_frames(
    adapters: Mapping[str, CheckpointAdapter], paths: Mapping[str, str], probe: ProbeData | None
) -> go.Figure | None:
    """Trajectories of the report's flow checkpoints in their joint frames (see `flow_frames_figure`)."""

    if probe is None or probe.attributes is None or not adapters:
        return None
    labels = list(adapters)
    # The input frame and joint frames a run ships beside its checkpoints (the demo's), else the user
    # cache, else fitted.
    context = FrameContext.for_probe(probe.embeddings, probe.attributes, Path(paths[labels[0]]).parent)
    context = replace(context, store=context.store.beside(*paths.values()))
    views = compare_flows(
        [adapters[label] for label in labels],
        [content_digest(paths[label]) for label in labels],
        probe,
        context,
    )
    names = probe.attribute_names or adapters[labels[0]].spec().attribute_names
    if len(names) != probe.attributes.shape[1]:
        names = tuple(f"attribute {i}" for i in range(probe.attributes.shape[1]))
    titles = flow_frame_titles([f"{label}: {display_name(Path(paths[label]))}" for label in labels], views)
    return compact_target_legend(flow_frames_figure(views, titles, names, row_texts(probe, views[0].sample)))


def compact_target_legend(figure: go.Figure) -> go.Figure:
    """The frames figure with a legend a reader takes in at once: inputs, paths and start points only.

    One legend row per target combination (32 for five attributes) would push the picture off the
    printed page; the colours stay, each dot's hover names its targets, and one line says so."""
    figure.for_each_trace(
        lambda trace: trace.update(showlegend=False) if str(trace.name).startswith("endpoint") else None
    )
    figure.add_annotation(
        text="Dots: where the inputs end, one colour per target combination (hover for it), sized by how many "
        "inputs end there.",
        xref="paper",
        yref="paper",
        x=0,
        y=-0.08,
        xanchor="left",
        yanchor="top",
        showarrow=False,
    )
    figure.update_layout(margin={"b": 60})
    return figure


def report_figures(
    items: Sequence[tuple[str, str, Report]], probe: str | None = None, *, trust: bool = False
) -> list:
    """Pictures (figures and tables) for checkpoints given as (label, path, report); one probe for
    all, else each its own. The first is the family's main picture (flow: the endpoints in their
    frames; codebook: the usage strip; posterior: KL per dimension; text: the outputs table).

    A checkpoint that cannot be rebuilt or measured is left out of the picture (its report says why).
    """
    if not items:
        return []
    loaded = {label: load_checkpoint(path, trust=trust) for label, path, _ in items}
    adapters: dict[str, CheckpointAdapter] = {}
    for label, value in loaded.items():
        try:
            adapters[label] = build_adapter(value)
        except CollapseExplorerError:
            continue
    families = {a.spec().family for a in adapters.values()}
    if len(families) != 1:
        return []
    family = families.pop()
    measure, draw = family_part(family, "measure"), family_part(family, "draw")
    if measure is None or draw is None:
        return []
    series: dict[str, object] = {}
    for label, path, _ in items:
        if label not in adapters:
            continue
        probe_path = probe or find_probe(path)
        try:
            values = measure(adapters[label], load_probe(probe_path) if probe_path else None)
        except CollapseExplorerError:
            continue
        if values is not None:
            series[label] = values
    figures: list = []
    if series:
        drawn = draw(series)
        figures = drawn if isinstance(drawn, list) else [drawn]
    if family == "flow":
        # Every checkpoint on the first one's probe, as the Compare page draws them.
        probe_path = probe or find_probe(items[0][1])
        try:
            frames = _flow_frames(
                adapters,
                {label: path for label, path, _ in items},
                load_probe(probe_path) if probe_path else None,
            )
        except CollapseExplorerError:
            frames = None
        # The endpoints in their frames are the picture that shows a prototype collapse: it leads.
        figures = ([frames] if frames is not None else []) + figures
    return figures
