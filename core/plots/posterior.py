"""Figures for VAE posterior collapse (pure builders; no Streamlit).

Bar charts compare checkpoints A and B with dimensions sorted by value, so "how many latents carry
information" reads off the bar heights whatever their index. Digit images are built with Pillow:
each feature vector becomes a square grey image (8x8 for digits), upscaled with nearest neighbour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from ..metrics.base import Undefined, readable
from ..metrics.posterior import ACTIVE_THRESHOLD
from .palette import GUIDE_COLOUR, series_colour

if TYPE_CHECKING:
    from ..diagnosis.posterior import RunTimeline

_GAP = 2
_GAP_SHADE = 255

Series = Mapping[str, "np.ndarray | Undefined"]


def _sorted_bars(series: Series, *, title: str, y_title: str, log: bool = False) -> go.Figure:
    fig = go.Figure()
    notes = []
    for i, (label, values) in enumerate(series.items()):
        if isinstance(values, Undefined):
            notes.append(f"{label}: {values}")
            continue
        v = np.sort(np.asarray(values, dtype=np.float64))[::-1]
        if log:
            v = np.maximum(v, 1e-8)
        fig.add_trace(
            go.Bar(
                x=np.arange(1, len(v) + 1),
                y=v.astype(np.float32),
                name=label,
                marker_color=series_colour(label, i),
                hovertemplate=f"{label} rank %{{x}}: %{{y:.4g}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title + ("<br><sup>" + "; ".join(notes) + "</sup>" if notes else ""),
        barmode="group",
        xaxis_title="latent dimension (sorted, largest first)",
        yaxis_title=y_title,
        yaxis_type="log" if log else "linear",
        legend_title_text="checkpoint",
        margin={"t": 70, "b": 40},
    )
    return fig


def kl_bars(kl: Series, floor: float = 0.0) -> go.Figure:
    """Data-averaged KL per latent dimension [Z] per checkpoint label, sorted, with the free-bits floor."""
    # The slot ("A" of "A: run/file.pt") keeps the title short enough for a narrow screen.
    totals = ", ".join(
        f"{label.split(':')[0]}: {readable(float(np.sum(v)))}"
        for label, v in kl.items()
        if not isinstance(v, Undefined)
    )
    fig = _sorted_bars(
        kl, title=f"KL per dimension (nats)<br><sup>total {totals}</sup>", y_title="KL_j (nats)"
    )
    if floor > 0:
        fig.add_hline(
            y=floor, line_dash="dash", line_color=GUIDE_COLOUR, annotation_text=f"free-bits floor {floor:g}"
        )
    return fig


def activity_bars(mu_var: Series, threshold: float = ACTIVE_THRESHOLD) -> go.Figure:
    """Var_x(mu_j) [Z] per checkpoint, sorted, log scale, with the active-unit threshold and counts."""
    counts = ", ".join(
        f"{label}: {int((np.asarray(v) >= threshold).sum())} of {len(v)}"
        for label, v in mu_var.items()
        if not isinstance(v, Undefined)
    )
    fig = _sorted_bars(
        mu_var, title=f"Active units (Var_x(mu) >= {threshold:g}; {counts})", y_title="Var_x(mu_j)", log=True
    )
    fig.add_hline(
        y=threshold,
        line_dash="dash",
        line_color=GUIDE_COLOUR,
        annotation_text=f"active threshold {threshold:g}",
    )
    return fig


def sigma_bars(sigma: Series) -> go.Figure:
    """Mean posterior standard deviation per dimension [Z] per checkpoint (1 = the prior's)."""
    fig = _sorted_bars(sigma, title="Posterior std per dimension (mean over data)", y_title="mean sigma_j")
    fig.add_hline(y=1.0, line_dash="dot", line_color=GUIDE_COLOUR, annotation_text="prior sigma = 1")
    return fig


def display_range(x: np.ndarray) -> tuple[float, float]:
    """(low, high) grey-scale range: the 1st and 99th percentiles of x, widened if they coincide."""
    a = np.asarray(x, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(a, [1, 99]))
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    return low, high


def _image_shape(features: int) -> tuple[int, int]:
    side = math.isqrt(features)
    return (side, side) if side * side == features else (1, features)


def image_grid(
    rows: np.ndarray, value_range: tuple[float, float] | None = None, *, scale: int = 8
) -> Image.Image:
    """Grey-scale grid from feature vectors rows [R, C, F] (F = side^2 -> square tiles), nearest upscale."""
    a = np.asarray(rows, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"image rows must be [R, C, F], got {a.shape}")
    r, c, f = a.shape
    if f == 0 or r == 0 or c == 0:
        raise ValueError("nothing to draw: empty image grid")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    low, high = value_range or display_range(a)
    h, w = _image_shape(f)
    tiles = np.clip((np.nan_to_num(a, nan=low) - low) / (high - low), 0.0, 1.0)
    tiles = (255 * tiles).astype(np.uint8).reshape(r, c, h, w)
    tiles = tiles.repeat(scale, axis=2).repeat(scale, axis=3)
    th, tw = h * scale, w * scale
    canvas = np.full((r * (th + _GAP) - _GAP, c * (tw + _GAP) - _GAP), _GAP_SHADE, np.uint8)
    for i in range(r):
        for j in range(c):
            canvas[i * (th + _GAP) : i * (th + _GAP) + th, j * (tw + _GAP) : j * (tw + _GAP) + tw] = tiles[
                i, j
            ]
    return Image.fromarray(canvas, mode="L")


def reconstruction_grid(x: np.ndarray, recon: np.ndarray, *, scale: int = 8) -> Image.Image:
    """Two rows: inputs x [N, F] on top, reconstructions [N, F] below, on the inputs' grey range."""
    x = np.asarray(x).reshape(len(x), -1)
    recon = np.asarray(recon).reshape(len(recon), -1)
    if x.shape != recon.shape:
        raise ValueError(f"inputs {x.shape} and reconstructions {recon.shape} differ in shape")
    return image_grid(np.stack([x, recon]), display_range(x), scale=scale)


def traversal_grid(
    decoded: np.ndarray, value_range: tuple[float, float] | None = None, *, scale: int = 8
) -> Image.Image:
    """One row per traversed dimension, one column per step, from decoded [D, S, F]."""
    return image_grid(decoded, value_range, scale=scale)


def kl_timeline(timeline: RunTimeline, label: str) -> go.Figure:
    """Heatmap of KL per dimension [E, Z] over a run's checkpoints (rows sorted by the last checkpoint)."""
    kl = np.asarray(timeline.kl, dtype=np.float64)
    order = np.argsort(-np.nan_to_num(kl[-1], nan=-1.0), kind="stable")
    columns = [
        f"epoch {e}" if e is not None else name
        for e, name in zip(timeline.epochs, timeline.names, strict=True)
    ]
    active = ", ".join(
        f"{c}: {a}" if a >= 0 else f"{c}: undefined" for c, a in zip(columns, timeline.active, strict=True)
    )
    fig = go.Figure(
        go.Heatmap(
            z=kl[:, order].T.astype(np.float32),
            x=columns,
            y=[f"z{d}" for d in order],
            colorscale="Viridis",
            colorbar_title="KL (nats)",
            hovertemplate="%{x}, %{y}: KL %{z:.4g}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"KL per dimension over the run: {label}<br><sup>active units {active}</sup>",
        xaxis_title="checkpoint",
        yaxis_title="latent dimension (sorted by last KL)",
        yaxis_autorange="reversed",
        margin={"t": 70, "b": 40},
    )
    return fig
