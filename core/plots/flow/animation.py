"""The flow played: the sampled points move from their inputs to their endpoints over a few of the flow's
steps (Plotly frames), over the still picture of flow_figure (faint inputs, paths and endpoint spots)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .figures import AXIS, LEGEND, PathSample, background_trace, path_lines, scatter_of, spot_sizes


def _padded_range(values: Sequence[np.ndarray], pad: float = 0.05) -> list[float]:
    finite = np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in values])
    finite = finite[np.isfinite(finite)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    margin = (high - low) * pad or 1.0
    return [low - margin, high + margin]


# The animation shows at most this many steps (evenly spaced, first and last kept): the browser moves
# the points between them, and each frame is sent and drawn.
ANIMATION_FRAMES = 6


def animation_steps(steps: int, most: int = ANIMATION_FRAMES) -> list[int]:
    """Step indices (of paths with `steps` points, 0 = inputs) the animation shows: all when few, else
    `most` evenly spaced ones including the first and the last."""
    if steps <= most:
        return list(range(steps))
    return sorted(set(np.rint(np.linspace(0, steps - 1, most)).astype(int).tolist()))


def flow_animation(
    sample: PathSample, *, background: np.ndarray | None = None, frame_ms: int = 500
) -> go.Figure:
    """The flow played: one SVG marker trace of the sampled points, each in its group's colour (the
    picture above has the groups' legend), moves through `animation_steps` (Plotly frames named by step),
    with play / pause buttons and a step slider, over the faint frame inputs, paths and endpoint spots
    (static; WebGL only for many points, see `scatter_for`). Axes stay fixed over every step.

    One moving trace, not one per group: a frame then updates one trace, and a browser redraws a figure
    of a few traces several times faster than one of 70 (32 target groups, moving and still)."""
    shown = animation_steps(sample.paths.shape[0])
    scatter = scatter_of(sample, background)
    spot_colours = [sample.colour(int(group))[1] for group in sample.spots.groups]
    static = [
        *background_trace(background, True, scatter),
        path_lines(sample, True, scatter, opacity=0.1),
        scatter(
            x=sample.spots.x,
            y=sample.spots.y,
            mode="markers",
            marker={"size": spot_sizes(sample.spots.counts), "color": spot_colours, "opacity": 0.3},
            name="endpoints",
            hoverinfo="skip",
        ),
    ]
    colours = [sample.colour(int(group))[1] for group in sample.groups]
    moving = go.Scatter(
        x=sample.paths[0, :, 0],
        y=sample.paths[0, :, 1],
        mode="markers",
        marker={"size": 7, "color": colours, "line": {"width": 0.5, "color": "white"}},
        name="moving points",
        text=np.asarray(sample.sentences, dtype=object),
        customdata=sample.customdata(np.arange(len(sample.rows))),
        hovertemplate="%{text}<br>target: %{customdata[1]}<extra>row %{customdata[0]}</extra>",
    )
    frames = [
        go.Frame(
            name=str(t),
            data=[go.Scatter(x=sample.paths[t, :, 0], y=sample.paths[t, :, 1])],
            traces=[len(static)],
        )
        for t in shown
    ]
    still = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    play = {
        "frame": {"duration": frame_ms, "redraw": False},
        "fromcurrent": True,
        "mode": "immediate",
        "transition": {"duration": int(frame_ms * 0.8), "easing": "linear"},
    }
    points = [sample.paths.reshape(-1, 2)] + (
        [] if background is None else [np.asarray(background).reshape(-1, 2)]
    )
    fig = go.Figure([*static, moving], frames=frames)
    fig.update_layout(
        xaxis={**AXIS, "range": _padded_range([p[:, 0] for p in points]), "autorange": False},
        yaxis={**AXIS, "range": _padded_range([p[:, 1] for p in points]), "autorange": False},
        legend=LEGEND,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=480,
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.0,
                "y": 1.0,
                "xanchor": "left",
                "yanchor": "bottom",
                "pad": {"b": 6},
                "showactive": False,
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, play]},
                    {"label": "❚❚ Pause", "method": "animate", "args": [[None], still]},
                ],
            }
        ],
        sliders=[
            {
                "active": 0,
                "x": 0.22,
                "len": 0.78,
                "y": 1.0,
                "yanchor": "bottom",
                "pad": {"b": 6, "t": 0},
                "currentvalue": {"prefix": "step ", "visible": True, "xanchor": "right"},
                "steps": [{"label": str(t), "method": "animate", "args": [[str(t)], still]} for t in shown],
            }
        ],
    )
    return fig
