"""Figures for run timelines (metrics against epoch) and A/B metric comparisons, of any family (the
timeline and Compare pages' pictures, not one family's)."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..metrics.base import MetricValue, is_defined, label
from .palette import series_colour


def timeline_figure(
    series: dict[str, list[tuple[int | None, MetricValue]]],
    keys: list[str],
    x_title: str = "epoch",
    *,
    overlay: dict[str, list[tuple[int | None, MetricValue]]] | None = None,
) -> go.Figure:
    """One small line chart per metric key, x = epoch (or step); undefined values leave gaps. With
    `overlay` (B's run, same keys), each chart draws A's run and B's in their colours, with a legend."""
    keys = [k for k in keys if k in series] or list(series)[:4]
    runs = [("A", series)] + ([("B", overlay)] if overlay else [])
    fig = make_subplots(
        rows=max(len(keys), 1),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[label(k) for k in keys],
        vertical_spacing=0.08 if len(keys) < 6 else 0.04,
    )
    for row, key in enumerate(keys, start=1):
        for name, points in ((name, run[key]) for name, run in runs if key in run):
            fig.add_trace(
                go.Scatter(
                    x=[epoch for epoch, _ in points],
                    y=[float(v) if is_defined(v) else None for _, v in points],
                    mode="lines+markers",
                    name=f"{name}'s run" if overlay else key,
                    legendgroup=name,
                    line={"color": series_colour(name, 0)},
                    showlegend=bool(overlay) and row == 1,
                ),
                row=row,
                col=1,
            )
    fig.update_xaxes(title_text=x_title, row=max(len(keys), 1), col=1)
    fig.update_layout(
        height=max(220 * len(keys), 300),
        margin={"t": 40, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "y": 1.08},
    )
    return fig
