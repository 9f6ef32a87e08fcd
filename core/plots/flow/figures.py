"""Trajectory pictures in a joint frame: inputs, paths, start points and endpoints as separate traces; an
animation over the steps; A and B side by side.

Every start / endpoint marker carries `customdata` = [probe row, target label, original label], so hover
shows a row's sentence with its target and a selection on the plot can be read back (`selected_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ...metrics.flow.clustering import pack_bits
from ..traces import Scatter, scatter_for

_PALETTE = qualitative.Plotly + qualitative.Dark24
JOINT = "all (joint)"
INPUTS = "inputs"
PATHS = "paths"
LEGEND = {
    "itemsizing": "constant",
    "orientation": "h",
    "yanchor": "top",
    "y": -0.02,
}
AXIS = {"showticklabels": False, "zeroline": False, "showgrid": False}


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


def joint_labels(attributes: np.ndarray, names: Sequence[str]) -> list[str]:
    """Joint combination name per row of 0/1 attributes [n, A] ("past+plural", "none")."""
    codes, labels = colour_groups(attributes, names, JOINT)
    return [labels[code] for code in codes]


def polyline_xy(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y float32 arrays for one line trace from paths [T+1, n, 2], NaN between trajectories.

    NaN breaks the line like None does, but keeps the arrays numeric (Plotly sends them as typed arrays).
    """
    steps, n, _ = paths.shape
    xy = np.full((n, steps + 1, 2), np.nan, dtype=np.float32)
    xy[:, :steps] = np.swapaxes(paths, 0, 1)
    xy = xy.reshape(-1, 2)
    return xy[:, 0], xy[:, 1]


@dataclass(frozen=True)
class Spots:
    """Endpoints grouped where they coincide: one spot per (distinct endpoint, colour group). Centre x, y
    float32 [k] in the frame, colour group int [k], member probe rows per spot (int64 arrays), and the
    first member's sentence, target and original label [k] for hover."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    members: tuple[np.ndarray, ...]
    sentences: Sequence[str]
    targets: Sequence[str]
    originals: Sequence[str]

    @property
    def counts(self) -> np.ndarray:
        """Rows per spot, int64 [k]."""
        return np.array([len(m) for m in self.members], dtype=np.int64)

    def customdata(self, positions: np.ndarray) -> list[list]:
        """Per spot at `positions`: [first probe row, target, original, row count, every member row as
        space-separated text]; the members let a selection of the spot list all its rows
        (`selected_rows`). Text, because a plot's selection passes nested arrays on flattened."""
        return [
            [
                int(self.members[i][0]),
                self.targets[i],
                self.originals[i],
                len(self.members[i]),
                " ".join(map(str, self.members[i].tolist())),
            ]
            for i in positions
        ]


def endpoint_spots(
    coords: np.ndarray,
    groups: np.ndarray,
    rows: np.ndarray,
    components: np.ndarray | None,
    sentences: Sequence[str],
    targets: Sequence[str],
    originals: Sequence[str],
) -> Spots:
    """Spots of endpoints at frame coords float [m, 2] with colour groups int [m] and probe rows int [m]:
    rows of one distinct-endpoint component int [m] (see `distinct_endpoints`) and one colour group form a
    spot at their mean position; without components every endpoint is its own spot. Sentences, targets
    and originals are per endpoint [m]."""
    coords = np.asarray(coords, dtype=np.float32).reshape(-1, 2)
    groups = np.asarray(groups, dtype=np.int64).reshape(-1)
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    parts = np.arange(len(rows)) if components is None else np.asarray(components, dtype=np.int64)
    _, first, spot = np.unique(
        np.stack([parts, groups], axis=1), axis=0, return_index=True, return_inverse=True
    )
    spot = spot.reshape(-1)
    k = len(first)
    size = np.bincount(spot, minlength=k).astype(np.float32)
    x = np.bincount(spot, coords[:, 0], minlength=k) / size
    y = np.bincount(spot, coords[:, 1], minlength=k) / size
    order = np.argsort(spot, kind="stable")
    members = tuple(np.split(rows[order], np.cumsum(np.bincount(spot, minlength=k))[:-1]))
    return Spots(
        x.astype(np.float32),
        y.astype(np.float32),
        groups[first],
        members,
        [sentences[i] for i in first],
        [targets[i] for i in first],
        [originals[i] for i in first],
    )


@dataclass(frozen=True)
class PathSample:
    """What the figures draw per sampled row: paths float [T+1, n, 2] (step 0 = inputs), colour group
    index int [n] into `group_names`, probe row ids int [n], sentence [n], target and original labels [n];
    and the endpoints of every frame row grouped into `spots` (default: each sampled endpoint its own)."""

    paths: np.ndarray
    groups: np.ndarray
    group_names: Sequence[str]
    rows: np.ndarray
    sentences: Sequence[str]
    targets: Sequence[str]
    originals: Sequence[str]
    spots: Spots | None = None

    def __post_init__(self) -> None:
        paths = np.asarray(self.paths, dtype=np.float32)
        if paths.ndim != 3 or paths.shape[2] != 2:
            raise ValueError(f"paths must be [T+1, n, 2], got shape {paths.shape}")
        n = paths.shape[1]
        sizes = {len(v) for v in (self.groups, self.rows, self.sentences, self.targets, self.originals)}
        if sizes != {n}:
            raise ValueError(f"{n} paths but groups, rows, sentences and labels of lengths {sorted(sizes)}")
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "groups", np.asarray(self.groups).reshape(-1))
        if self.spots is None:
            spots = endpoint_spots(
                paths[-1], self.groups, self.rows, None, self.sentences, self.targets, self.originals
            )
            object.__setattr__(self, "spots", spots)

    def colour(self, group: int) -> tuple[str, str]:
        """(name, colour) of colour group `group`."""
        name = self.group_names[group] if group < len(self.group_names) else str(group)
        return name, _PALETTE[group % len(_PALETTE)]

    def by_group(self) -> Iterable[tuple[str, str, np.ndarray]]:
        """(group name, colour, row positions int [k]) per colour group present, in group order."""
        for group in np.unique(self.groups):
            yield *self.colour(int(group)), np.flatnonzero(self.groups == group)

    def spots_by_group(self) -> Iterable[tuple[str, str, np.ndarray]]:
        """(group name, colour, spot positions int [k]) per colour group with spots, in group order."""
        for group in np.unique(self.spots.groups):
            yield *self.colour(int(group)), np.flatnonzero(self.spots.groups == group)

    def customdata(self, positions: np.ndarray) -> np.ndarray:
        """[k, 3] object array of (probe row, target, original) for the rows at `positions`."""
        return np.array(
            [[int(self.rows[i]), self.targets[i], self.originals[i]] for i in positions], dtype=object
        ).reshape(-1, 3)


def scatter_of(sample: PathSample, background: np.ndarray | None) -> Scatter:
    """The scatter class of a picture of `sample` over `background`, by its point count (`scatter_for`)."""
    points = sample.paths.shape[0] * sample.paths.shape[1] + len(sample.spots.x)
    return scatter_for(points + (0 if background is None else len(background)))


def background_trace(background: np.ndarray | None, legend: bool, scatter: Scatter) -> list[go.Scatter]:
    if background is None:
        return []
    background = np.asarray(background, dtype=np.float32)
    return [
        scatter(
            x=background[:, 0],
            y=background[:, 1],
            mode="markers",
            marker={"size": 3, "color": "rgba(150,150,150,0.3)"},
            name=INPUTS,
            legendgroup=INPUTS,
            showlegend=legend,
            hoverinfo="skip",
        )
    ]


def path_lines(sample: PathSample, legend: bool, scatter: Scatter, opacity: float = 0.18) -> go.Scatter:
    x, y = polyline_xy(sample.paths)
    return scatter(
        x=x,
        y=y,
        mode="lines",
        line={"width": 1, "color": f"rgba(90,90,90,{opacity})"},
        name=PATHS,
        legendgroup=PATHS,
        showlegend=legend,
        hoverinfo="skip",
        connectgaps=False,
    )


_HOVER = {
    "start": "%{text}<br>original: %{customdata[2]}<br>target: %{customdata[1]}<extra>start · row %{customdata[0]}</extra>",
    "endpoint": "%{customdata[3]} row(s) end here<br>%{text}<br>target: %{customdata[1]}<br>original: %{customdata[2]}<extra>endpoint · row %{customdata[0]}</extra>",
}


START_POINTS = "start points"
# Spot diameter in px: 5 + 4 sqrt(rows), at most this; one row is a 9 px dot, 30 rows a 27 px one.
MAX_SPOT_PX = 44


def spot_sizes(counts: np.ndarray) -> np.ndarray:
    """Marker diameters float [k] (px) of spots holding `counts` rows: area grows with the row count."""
    return np.minimum(5 + 4 * np.sqrt(np.asarray(counts, dtype=np.float64)), MAX_SPOT_PX)


def spot_traces(sample: PathSample, legend: bool, scatter: Scatter, faint: bool = False) -> list[go.Scatter]:
    """One trace of endpoint spots per colour group, each spot sized by its rows (`spot_sizes`)."""
    spots = sample.spots
    sentences = np.asarray(spots.sentences, dtype=object)
    counts = spots.counts
    return [
        scatter(
            x=spots.x[at],
            y=spots.y[at],
            mode="markers",
            marker={
                "size": spot_sizes(counts[at]),
                "color": colour,
                "opacity": 0.3 if faint else 0.85,
                "line": {"width": 0.5, "color": "white"},
            },
            name=f"endpoint · {name}",
            legendgroup=f"endpoint · {name}",
            showlegend=legend,
            text=sentences[at],
            customdata=spots.customdata(at),
            hovertemplate=_HOVER["endpoint"],
            hoverinfo="skip" if faint else None,
        )
        for name, colour, at in sample.spots_by_group()
    ]


def _markers(sample: PathSample, legend: bool, scatter: Scatter) -> list[go.Scatter]:
    """One trace of the sampled start points (small open circles at step 0, each in its group's colour),
    then one trace of endpoint spots per colour group; each trace is its own legend entry, and a panel
    drawn beside another toggles with it (same legend group)."""
    colours = np.empty(len(sample.rows), dtype=object)
    for _, colour, rows in sample.by_group():
        colours[rows] = colour
    everyone = np.arange(len(sample.rows))
    starts = scatter(
        x=sample.paths[0, :, 0],
        y=sample.paths[0, :, 1],
        mode="markers",
        marker={"size": 5, "symbol": "circle-open", "color": list(colours), "opacity": 0.6},
        name=START_POINTS,
        legendgroup=START_POINTS,
        showlegend=legend,
        text=np.asarray(sample.sentences, dtype=object),
        customdata=sample.customdata(everyone),
        hovertemplate=_HOVER["start"],
    )
    return [starts, *spot_traces(sample, legend, scatter)]


def flow_figure(sample: PathSample, *, background: np.ndarray | None = None, title: str = "") -> go.Figure:
    """Trajectories in a 2-D frame: background float [M, 2] (the frame's inputs, a faint cloud), the
    sampled paths (faint) and start points, and the endpoints as spots sized by how many rows end there,
    coloured by group; inputs, paths, start points and each group's endpoints are traces of their own,
    which the legend hides."""
    scatter = scatter_of(sample, background)
    fig = go.Figure(
        [
            *background_trace(background, True, scatter),
            path_lines(sample, True, scatter),
            *_markers(sample, True, scatter),
        ]
    )
    fig.update_layout(
        title=title or None,
        xaxis=AXIS,
        yaxis={**AXIS, "scaleanchor": "x"},
        legend=LEGEND,
        margin={"l": 10, "r": 10, "t": 60 if title else 10, "b": 10},
        height=620,
        dragmode="select",
    )
    return fig


def compare_flow_figure(
    sample_a: PathSample,
    sample_b: PathSample,
    *,
    backgrounds: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    titles: tuple[str, str] = ("A", "B"),
) -> go.Figure:
    """Two panels side by side, A's and B's trajectories of the same rows, each in its own joint frame
    (both aligned on the probe's input frame, so an input sits at the same place in both).

    Each panel is scaled to its own points: a collapsed run's islands can lie far beyond the inputs, and
    one shared range would shrink the healthy panel to a dot. The legend belongs to A's panel and toggles
    both (same legend groups).
    """
    if sample_a.paths.shape[1:] != sample_b.paths.shape[1:]:
        raise ValueError(
            f"A's paths {sample_a.paths.shape} and B's {sample_b.paths.shape} cover different rows"
        )
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.03)
    for col, (sample, background) in enumerate(zip((sample_a, sample_b), backgrounds, strict=True), start=1):
        legend = col == 1
        scatter = scatter_of(sample, background)
        traces = [
            *background_trace(background, legend, scatter),
            path_lines(sample, legend, scatter),
            *_markers(sample, legend, scatter),
        ]
        for trace in traces:
            fig.add_trace(trace, row=1, col=col)
    fig.update_xaxes(**AXIS)
    fig.update_yaxes(**AXIS)
    fig.update_layout(
        yaxis={"scaleanchor": "x"},
        yaxis2={"scaleanchor": "x2"},
        legend=LEGEND,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        height=620,
        dragmode="select",
    )
    return fig


def selected_rows(points: Iterable[Mapping]) -> np.ndarray:
    """Sorted distinct probe rows int64 of the selected start points and endpoint spots (a Plotly
    selection's points, as Streamlit reports them), read from their customdata (a spot gives every row
    that ends there); other points are ignored."""
    rows: set[int] = set()
    for point in points:
        data = point.get("customdata")
        if not isinstance(data, Sequence) or isinstance(data, str) or not data:
            continue
        members = data[4].split() if len(data) > 4 and isinstance(data[4], str) else [data[0]]
        try:
            rows.update(int(row) for row in members)
        except (TypeError, ValueError):
            continue
    return np.array(sorted(rows), dtype=np.int64)


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
