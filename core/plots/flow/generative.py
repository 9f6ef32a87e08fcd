"""A generative flow in one 2-D frame: the noise it starts from, the endpoints it reaches, the real data.

A collapsed flow shows its endpoints piled on a few points while the real data spreads around them. The
frame is the data itself when it is 2-D, else a PCA fitted jointly on noise, endpoints and real data (so
endpoints that left the noise's manifold are placed as faithfully as the data). Meant for the
Trajectories page beside the attribute-flow picture.
"""

from __future__ import annotations

import itertools

import numpy as np
import plotly.graph_objects as go


def generative_frame(
    noise: np.ndarray, endpoints: np.ndarray, real: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """(noise [N, 2], endpoints [N, 2], real [M, 2] or None, frame name): rows flattened, projected
    together onto their first two principal axes unless they are 2-D already."""
    parts = [np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in (noise, endpoints)]
    if real is not None:
        parts.append(np.asarray(real, dtype=np.float64).reshape(len(real), -1))
    width = parts[0].shape[1]
    if any(p.shape[1] != width for p in parts):
        raise ValueError(
            f"noise, endpoints and real data must have the same width, got {[p.shape[1] for p in parts]}"
        )
    stacked = np.concatenate(parts)
    if width == 2:
        flat, name = stacked, "data axes"
    else:
        from sklearn.decomposition import PCA

        flat = (
            PCA(n_components=2, random_state=0).fit_transform(stacked)
            if width > 2
            else np.pad(stacked, ((0, 0), (0, 1)))
        )
        name = "joint PCA of noise, endpoints and real data" if width > 2 else "the one data axis"
    bounds = np.cumsum([0, *(len(p) for p in parts)])
    pieces = [flat[a:b].astype(np.float32) for a, b in itertools.pairwise(bounds)]
    return pieces[0], pieces[1], (pieces[2] if real is not None else None), name


def generative_figure(
    noise: np.ndarray, endpoints: np.ndarray, real: np.ndarray | None = None, *, title: str = ""
) -> go.Figure:
    """Noise (grey), real data (blue) and endpoints (red) in one 2-D frame (WebGL scatter)."""
    start, end, data, frame = generative_frame(noise, endpoints, real)
    fig = go.Figure()
    traces = [("noise x", start, "#b0b0b0"), ("real data x1", data, "#1f77b4"), ("endpoints", end, "#d62728")]
    for name, points, colour in traces:
        if points is None:
            continue
        fig.add_trace(
            go.Scattergl(
                x=points[:, 0],
                y=points[:, 1],
                mode="markers",
                name=name,
                marker={"size": 5, "color": colour, "opacity": 0.7},
            )
        )
    fig.update_layout(
        title={"text": title or f"noise, endpoints and real data ({frame})"},
        xaxis={"zeroline": False},
        yaxis={"zeroline": False, "scaleanchor": "x"},
        legend={"orientation": "h"},
    )
    return fig
