"""Plotly figures for text generators (pure builders; no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from ..metrics import text as _text_metrics  # noqa: F401  (registers the METRICS entries read below)
from ..metrics.base import METRICS, is_defined
from .palette import series_colour

# Metrics on a 0-1 scale, drawn together; BLEU-like metrics (0-100) would flatten them.
DIVERSITY_KEYS = ("unique_output_ratio", "most_common_share", "distinct_1", "distinct_2", "bridge_similarity")


def metric_bars(
    results: Mapping[str, Mapping[str, object]], keys: Sequence[str] = DIVERSITY_KEYS
) -> go.Figure:
    """Grouped bars of 0-1 metrics, one group per metric and one bar per model; undefined values are gaps.

    `results` maps a model name to its metrics (keys as in METRICS); keys no model has are left out.
    """
    shown = [k for k in keys if any(k in metrics for metrics in results.values())]
    labels = [f"{METRICS[k].label} ({METRICS[k].better} is better)" for k in shown]
    figure = go.Figure()
    for i, (name, metrics) in enumerate(results.items()):
        values = [float(metrics[k]) if is_defined(metrics.get(k)) else None for k in shown]
        figure.add_bar(name=name, x=labels, y=values, marker_color=series_colour(name, i))
    figure.update_layout(
        barmode="group",
        yaxis={"range": [0, 1.05], "title": "value"},
        height=340,
        margin={"l": 40, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.12},
    )
    return figure
