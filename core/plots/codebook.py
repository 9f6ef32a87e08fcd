"""Plotly figures for codebook usage (pure builders; no Streamlit).

Usage shares are counts / total per checkpoint, so runs with different probe sizes compare. Codes are
ordered by their usage in the last checkpoint unless `order="index"`, which makes dead codes a block
on the right instead of noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..adapters.codebook import RunUsage
from ..metrics.codebook import lorenz_curve, usage_timeline
from .palette import GUIDE_COLOUR, series_colour

Order = Literal["final", "index"]
HEATMAP_SCALE = "Viridis"
UNUSED_COLOR = "#e6e6e6"  # log heatmaps leave never-used cells blank, so the background shows through
LEGEND_BELOW = {
    "orientation": "h",
    "yanchor": "top",
    "y": -0.25,
}  # these figures often sit in half-width columns


def _shares(counts: np.ndarray) -> np.ndarray:
    """Rows of counts [..., K] -> usage shares (rows with no counts stay zero)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=-1, keepdims=True)
    return np.divide(c, total, out=np.zeros_like(c), where=total > 0)


def _code_order(shares: np.ndarray, order: Order) -> np.ndarray:
    if order == "index":
        return np.arange(shares.shape[-1])
    return np.argsort(-shares[-1], kind="stable")


def _heat_values(shares: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return shares.astype(np.float32)
    with np.errstate(divide="ignore"):
        return np.where(shares > 0, np.log10(shares), np.nan).astype(np.float32)


def _run_heatmap(run: RunUsage, head: int, log: bool, order: Order, showscale: bool = True) -> go.Heatmap:
    if not 0 <= head < run.counts.shape[1]:
        raise ValueError(f"head {head} out of range: the run has {run.counts.shape[1]} codebook heads")
    shares = _shares(run.counts[:, head])
    codes = _code_order(shares, order)
    return go.Heatmap(
        z=_heat_values(shares[:, codes], log),
        x=[str(c) for c in codes],
        y=[f"epoch {e}" for e in run.epochs],
        colorscale=HEATMAP_SCALE,
        showscale=showscale,
        colorbar={"title": "log10 share<br>(grey: unused)" if log else "share"},
        hovertemplate="code %{x}<br>%{y}<br>value %{z:.4f}<extra></extra>",
    )


def usage_heatmap(
    run: RunUsage, *, head: int = 0, log: bool = False, order: Order = "final", title: str = ""
) -> go.Figure:
    """Codes (x) by checkpoints (y) of one run; colour = usage share (log10 when `log`, blank = unused)."""
    fig = go.Figure(_run_heatmap(run, head, log, order))
    fig.update_layout(
        title=title or "Code usage per checkpoint",
        xaxis={"title": "code (sorted by final usage)" if order == "final" else "code", "type": "category"},
        yaxis={"title": "checkpoint"},
        height=160 + 28 * len(run.epochs),
        plot_bgcolor=UNUSED_COLOR,
    )
    return fig


def ab_heatmaps(
    runs: Mapping[str, RunUsage], *, head: int = 0, log: bool = False, order: Order = "final"
) -> go.Figure:
    """The usage heatmaps of several runs, one above the other (same colour scale, rows as high as their
    checkpoints): side by side, the second run's epoch labels would sit on the first one's heatmap."""
    if not runs:
        raise ValueError("no runs to compare")
    names = list(runs)
    sizes = [len(runs[n].epochs) for n in names]
    fig = make_subplots(
        rows=len(names),
        cols=1,
        subplot_titles=names,
        vertical_spacing=0.12,
        row_heights=[s + 2 for s in sizes],
    )
    traces = [_run_heatmap(runs[n], head, log, order, showscale=i == 0) for i, n in enumerate(names)]
    values = np.concatenate([np.ravel(t.z) for t in traces])
    lo, hi = (float(np.nanmin(values)), float(np.nanmax(values))) if np.isfinite(values).any() else (0.0, 1.0)
    for i, trace in enumerate(traces, start=1):
        trace.update(zmin=lo, zmax=hi)
        fig.add_trace(trace, row=i, col=1)
        fig.update_xaxes(type="category", showticklabels=False, row=i, col=1)
    fig.update_xaxes(title_text="code", row=len(names), col=1)
    fig.update_layout(
        title="Code usage per checkpoint, run by run",
        height=120 + sum(70 + 28 * s for s in sizes),
        plot_bgcolor=UNUSED_COLOR,
    )
    return fig


def class_heatmap(
    per_class: np.ndarray, *, log: bool = False, class_names: Sequence[str] = (), title: str = ""
) -> go.Figure:
    """Codes (x) by class (y): share of each class's tokens that go to each code; per_class int [C, K];
    `title` names the checkpoint."""
    counts = np.asarray(per_class)
    if counts.ndim != 2:
        raise ValueError(f"per-class counts must be [C, K], got shape {counts.shape}")
    shares = _shares(counts)
    codes = np.argsort(-counts.sum(axis=0), kind="stable")
    names = list(class_names) or [str(c) for c in range(len(counts))]
    fig = go.Figure(
        go.Heatmap(
            z=_heat_values(shares[:, codes], log),
            x=[str(c) for c in codes],
            y=names,
            colorscale=HEATMAP_SCALE,
            colorbar={"title": "log10 share<br>(grey: unused)" if log else "share of class"},
            hovertemplate="code %{x}<br>class %{y}<br>value %{z:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Which codes each class uses" + (f": {title}" if title else ""),
        xaxis={"title": "code (sorted by total usage)", "type": "category"},
        yaxis={"title": "class", "type": "category"},
        height=420,
        plot_bgcolor=UNUSED_COLOR,
    )
    return fig


# Log axes label decades only, as percentages: plotly's default "2 5" labels between decades read as
# values of their own.
LOG_SHARE_AXIS = {"type": "log", "dtick": 1, "tickformat": "~%", "minor": {"showgrid": True}}


def usage_rows(curves: Mapping[str, np.ndarray]) -> go.Figure:
    """One heatmap row of usage shares per entry of counts [K] (e.g. checkpoints A and B), codes ordered
    by the first entry's usage; log10 colour, unused codes blank (grey)."""
    if not curves:
        raise ValueError("no usage to draw")
    names = list(curves)
    shares = np.stack([_shares(np.asarray(curves[n], dtype=np.float64)) for n in names])
    codes = np.argsort(-shares[0], kind="stable")
    used = ", ".join(
        f"{n}: {int((shares[i] > 0).sum())} of {shares.shape[1]} used" for i, n in enumerate(names)
    )
    fig = go.Figure(
        go.Heatmap(
            z=_heat_values(shares[:, codes], True),
            x=[str(c) for c in codes],
            y=names,
            colorscale=HEATMAP_SCALE,
            colorbar={"title": "log10 share<br>(grey: unused)"},
            hovertemplate="code %{x}<br>%{y}<br>log10 share %{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Code usage ({used})",
        xaxis={"title": f"code (sorted by {names[0]}'s usage)", "type": "category", "showticklabels": False},
        yaxis={"type": "category", "autorange": "reversed"},
        height=140 + 40 * len(names),
        plot_bgcolor=UNUSED_COLOR,
        margin={"t": 50, "b": 40},
    )
    return fig


def sorted_usage_figure(curves: Mapping[str, np.ndarray], *, log: bool = True) -> go.Figure:
    """Usage shares sorted from most to least used, one line per entry of counts [K] (e.g. A and B).

    On the log axis unused codes cannot be drawn; the legend says how many were left out.
    """
    fig = go.Figure()
    for i, (name, counts) in enumerate(curves.items()):
        shares = np.sort(_shares(np.asarray(counts, dtype=np.float64)))[::-1]
        rank = np.arange(1, shares.size + 1)
        keep = shares > 0 if log else np.ones(shares.size, dtype=bool)
        dead = int((shares <= 0).sum())
        label = f"{name} ({dead} unused not drawn)" if log and dead else name
        line = {"color": series_colour(name, i)}
        y = shares[keep].astype(np.float32)
        fig.add_trace(go.Scatter(x=rank[keep], y=y, mode="lines+markers", name=label, line=line))
    if curves:
        k = np.asarray(next(iter(curves.values()))).size
        fig.add_hline(y=1.0 / k, line_dash="dot", line_color=GUIDE_COLOUR, annotation_text="uniform 1/K")
    fig.update_layout(
        title="Sorted code usage",
        xaxis={"title": "code rank"},
        yaxis={"title": "usage share", **(LOG_SHARE_AXIS if log else {"type": "linear", "tickformat": "~%"})},
        height=420,
        legend=LEGEND_BELOW,
    )
    return fig


def lorenz_figure(curves: Mapping[str, np.ndarray]) -> go.Figure:
    """Lorenz curves of code usage (codes from least to most used): the diagonal is uniform use, a curve
    hugging the bottom right is a codebook whose traffic sits on a few codes."""
    fig = go.Figure()
    for i, (name, counts) in enumerate(curves.items()):
        x, y = lorenz_curve(counts)
        line = {"color": series_colour(name, i)}
        fig.add_trace(
            go.Scatter(x=x.astype(np.float32), y=y.astype(np.float32), mode="lines", name=name, line=line)
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="uniform", line={"color": GUIDE_COLOUR, "dash": "dot"}
        )
    )
    fig.update_layout(
        title="Lorenz curve of code usage",
        xaxis={"title": "fraction of codes (least used first)", "range": [0, 1]},
        yaxis={"title": "fraction of assignments", "range": [0, 1]},
        height=420,
        legend=LEGEND_BELOW,
    )
    return fig


def timeline_figure(
    runs: Mapping[str, RunUsage],
    *,
    threshold: float = 0.0,
    head: int = 0,
    logged: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> go.Figure:
    """Perplexity and dead-code fraction per checkpoint epoch, one line per run (A/B on shared axes).

    `logged` maps a run name to (epochs [E], perplexity [E]) from its training log, drawn dotted in the
    run's colour: every epoch, where the checkpoints give only a few.
    """
    logged = logged or {}
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        subplot_titles=("Perplexity", "Dead-code fraction"),
        vertical_spacing=0.12,
    )
    k = None
    for i, (name, run) in enumerate(runs.items()):
        ppl, dead = usage_timeline(run.counts[:, head], threshold)
        color = series_colour(name, i)
        style = {"mode": "lines+markers", "name": name, "line": {"color": color}, "legendgroup": name}
        fig.add_trace(go.Scatter(x=list(run.epochs), y=ppl, **style), row=1, col=1)
        fig.add_trace(go.Scatter(x=list(run.epochs), y=dead, showlegend=False, **style), row=2, col=1)
        if name in logged:
            epochs, values = logged[name]
            line = {"color": color, "dash": "dot", "width": 1}
            fig.add_trace(
                go.Scatter(x=epochs, y=values, mode="lines", name=f"{name} (training log)", line=line),
                row=1,
                col=1,
            )
        k = run.counts.shape[-1]
    if k is not None:
        fig.add_hline(y=k, line_dash="dot", line_color=GUIDE_COLOUR, annotation_text=f"K = {k}", row=1, col=1)
    fig.update_yaxes(title_text="exp(H)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="fraction", range=[0, 1.02], row=2, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    fig.update_layout(title="Usage over training", height=480)
    return fig


def reconstruction_grid(
    originals: np.ndarray,
    reconstructions: np.ndarray,
    *,
    image_shape: tuple[int, int] = (8, 8),
    title: str = "",
) -> go.Figure:
    """Originals (top row) over reconstructions (bottom row), each [N, H*W], as one grey image."""
    a = np.asarray(originals, dtype=np.float32)
    b = np.asarray(reconstructions, dtype=np.float32)
    h, w = image_shape
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != h * w:
        raise ValueError(
            f"need originals and reconstructions of shape [N, {h * w}], got {a.shape} and {b.shape}"
        )
    n = len(a)
    grid = np.full((2 * h + 1, n * (w + 1) - 1), np.nan, dtype=np.float32)
    for i in range(n):
        cols = slice(i * (w + 1), i * (w + 1) + w)
        grid[:h, cols] = a[i].reshape(h, w)
        grid[h + 1 :, cols] = b[i].reshape(h, w)
    fig = go.Figure(go.Heatmap(z=grid, colorscale="gray_r", showscale=False, hoverinfo="skip"))
    fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor="x")
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(
        title=(title + ": " if title else "") + "inputs (top), reconstructions through the codebook (bottom)",
        height=220,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig
