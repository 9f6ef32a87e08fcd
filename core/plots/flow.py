"""Trajectory picture: projected inputs, one polyline per trajectory, start and end markers by colour group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..metrics.clustering import pack_bits

_PALETTE = qualitative.Plotly + qualitative.Dark24


JOINT = "all (joint)"


def colour_groups(
    attributes: np.ndarray, names: Sequence[str], by: str = JOINT
) -> tuple[np.ndarray, list[str]]:
    """(group index int64 [n], group names) colouring rows of 0/1 attributes [n, A] by one attribute
    named `by`, or by the joint combination (packed bits, named like "past+plural") when `by` is JOINT."""
    attributes = np.asarray(attributes)
    if by == JOINT:
        codes = pack_bits(attributes)
        labels = [
            "+".join(n for j, n in enumerate(names) if code >> j & 1) or "none"
            for code in range(2 ** len(names))
        ]
        return codes, labels
    column = list(names).index(by)
    return (attributes[:, column] != 0).astype(np.int64), [f"not {by}", by]


def polyline_xy(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y float32 arrays for one line trace from paths [T+1, n, 2], NaN between trajectories.

    NaN breaks the line like None does, but keeps the arrays numeric (Plotly sends them as typed arrays).
    """
    steps, n, _ = paths.shape
    xy = np.full((n, steps + 1, 2), np.nan, dtype=np.float32)
    xy[:, :steps] = np.swapaxes(paths, 0, 1)
    xy = xy.reshape(-1, 2)
    return xy[:, 0], xy[:, 1]


def _check_paths(
    paths: np.ndarray, groups: np.ndarray, hover: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    paths = np.asarray(paths, dtype=np.float32)
    if paths.ndim != 3 or paths.shape[2] != 2:
        raise ValueError(f"paths must be [T+1, n, 2], got shape {paths.shape}")
    groups = np.asarray(groups).reshape(-1)
    if len(groups) != paths.shape[1] or len(hover) != paths.shape[1]:
        raise ValueError(f"{paths.shape[1]} paths but {len(groups)} groups and {len(hover)} hover texts")
    return paths, groups


def _flow_traces(
    paths: np.ndarray,
    groups: np.ndarray,
    group_names: Sequence[str],
    hover: Sequence[str],
    background: np.ndarray | None,
    legend: bool = True,
) -> list[go.Scattergl]:
    """Background cloud, trajectory polylines, then start / end markers per group (see `flow_figure`)."""
    paths, groups = _check_paths(paths, groups, hover)
    hover = np.asarray(hover, dtype=object)
    traces = []
    if background is not None:
        background = np.asarray(background, dtype=np.float32)
        traces.append(
            go.Scattergl(
                x=background[:, 0],
                y=background[:, 1],
                mode="markers",
                marker={"size": 3, "color": "rgba(150,150,150,0.25)"},
                name="all inputs",
                legendgroup="all inputs",
                showlegend=legend,
                hoverinfo="skip",
            )
        )
    x, y = polyline_xy(paths)
    traces.append(
        go.Scattergl(
            x=x,
            y=y,
            mode="lines",
            line={"width": 1, "color": "rgba(90,90,90,0.35)"},
            name="trajectories",
            legendgroup="trajectories",
            showlegend=legend,
            hoverinfo="skip",
            connectgaps=False,
        )
    )
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        colour = _PALETTE[int(group) % len(_PALETTE)]
        name = group_names[int(group)] if int(group) < len(group_names) else str(group)
        # One legend entry per group (the end markers); clicking it hides the group's starts too.
        for step, symbol, size, label in ((0, "circle-open", 6, "start"), (-1, "circle", 8, "end")):
            traces.append(
                go.Scattergl(
                    x=paths[step, rows, 0],
                    y=paths[step, rows, 1],
                    mode="markers",
                    marker={"size": size, "symbol": symbol, "color": colour},
                    name=name,
                    legendgroup=name,
                    showlegend=legend and label == "end",
                    text=hover[rows],
                    hovertemplate=f"%{{text}}<extra>{name}, {label}</extra>",
                )
            )
    return traces


def flow_figure(
    paths: np.ndarray,
    groups: np.ndarray,
    group_names: Sequence[str],
    hover: Sequence[str],
    *,
    background: np.ndarray | None = None,
    title: str = "",
) -> go.Figure:
    """Trajectories in a 2-D frame, coloured by group.

    paths float [T+1, n, 2] projected steps (step 0 = inputs); groups int [n] index into group_names
    (the colour key: a target or original attribute value); hover [n] text per trajectory (the sentence);
    background float [M, 2] all projected inputs drawn faintly underneath. Open circles mark starts,
    filled ones ends.
    """
    fig = go.Figure(_flow_traces(paths, groups, group_names, hover, background))
    fig.update_layout(
        title=title or None,
        xaxis={"showticklabels": False, "zeroline": False},
        yaxis={"showticklabels": False, "zeroline": False, "scaleanchor": "x"},
        legend={"itemsizing": "constant", "orientation": "h", "yanchor": "top", "y": -0.02},
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        height=700,
    )
    return fig


def _padded_range(values: list[np.ndarray], pad: float = 0.05) -> list[float]:
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    margin = (high - low) * pad or 1.0
    return [low - margin, high + margin]


def compare_flow_figure(
    paths_a: np.ndarray,
    paths_b: np.ndarray,
    groups: np.ndarray,
    group_names: Sequence[str],
    hover: Sequence[str],
    *,
    background: np.ndarray | None = None,
    titles: tuple[str, str] = ("A", "B"),
) -> go.Figure:
    """Two panels side by side, trajectories of checkpoints A and B placed in one frame.

    paths_a, paths_b float [T+1, n, 2] of the same n rows (so groups int [n] and hover [n] serve both);
    background float [M, 2] the frame's inputs, drawn in both panels. Both panels get the same axis
    ranges (covering every point of either), so positions compare directly; the legend belongs to A's
    panel and toggles both.
    """
    if np.shape(paths_a)[1:] != np.shape(paths_b)[1:]:
        raise ValueError(f"A's paths {np.shape(paths_a)} and B's {np.shape(paths_b)} cover different rows")
    fig = make_subplots(
        rows=1, cols=2, shared_xaxes="all", shared_yaxes="all", subplot_titles=titles, horizontal_spacing=0.02
    )
    for col, paths in ((1, paths_a), (2, paths_b)):
        for trace in _flow_traces(paths, groups, group_names, hover, background, legend=col == 1):
            fig.add_trace(trace, row=1, col=col)
    points = [np.asarray(p, dtype=np.float32).reshape(-1, 2) for p in (paths_a, paths_b)]
    if background is not None:
        points.append(np.asarray(background, dtype=np.float32).reshape(-1, 2))
    x_range = _padded_range([p[:, 0] for p in points])
    y_range = _padded_range([p[:, 1] for p in points])
    fig.update_xaxes(range=x_range, showticklabels=False, zeroline=False)
    fig.update_yaxes(range=y_range, showticklabels=False, zeroline=False)
    fig.update_layout(
        legend={"itemsizing": "constant", "orientation": "h", "yanchor": "top", "y": -0.02},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=600,
    )
    return fig


def step_figure(per_step: np.ndarray) -> go.Figure:
    """Mean step length ||z_{t+1} - z_t|| against step t (from per_step float [T]): does the flow settle?"""
    per_step = np.asarray(per_step, dtype=np.float32)
    fig = go.Figure(
        go.Scatter(x=np.arange(1, len(per_step) + 1), y=per_step, mode="lines+markers", name="mean step")
    )
    fig.update_layout(
        xaxis={"title": "step"},
        yaxis={"title": "mean step length", "rangemode": "tozero"},
        height=220,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        showlegend=False,
    )
    return fig
