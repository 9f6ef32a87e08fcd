"""Which Plotly scatter a figure draws with: SVG for a few thousand points, WebGL beyond.

Every WebGL figure costs the browser a GL context and a shader set-up on each redraw, and where the GPU is
missing or busy (a headless or software-rendered Chromium, a shared demo machine) that is 0.3-0.6 s per
figure: more than drawing a few thousand SVG markers (benchmarks/bench_browser.py).
"""

from __future__ import annotations

import plotly.graph_objects as go

WEBGL_ABOVE = 5000  # points in one figure (or one trace, for long training curves)

Scatter = type[go.Scatter] | type[go.Scattergl]


def scatter_for(points: int) -> Scatter:
    """go.Scatter (SVG) for a figure of at most WEBGL_ABOVE points, else go.Scattergl."""
    return go.Scattergl if points > WEBGL_ABOVE else go.Scatter
