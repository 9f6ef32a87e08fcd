"""Training-curve figures: loss components over steps for one or two runs, TensorBoard-style smoothing,
log scale, detected events as markers, checkpoint epochs as vertical lines; the train/validation gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from ..io.encode import plotly_text
from ..metrics.training import ema_smooth, train_val_gap
from .palette import GUIDE_COLOUR
from .traces import scatter_for

if TYPE_CHECKING:
    from ..diagnosis.training import TrainingEvent
    from ..io.logs import RunLog

MAX_POINTS = 4000  # per trace; longer series are thinned evenly (events are drawn from the full data)
RUN_DASH = ("solid", "dash")
EVENT_SYMBOL = {
    "nonfinite": "x",
    "grad_blowup": "triangle-up",
    "spike": "diamond",
    "divergence": "star",
    "rising": "star",
}
EVENT_COLOR = {"collapse": "#d62728", "warning": "#ff7f0e"}


def _thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Evenly spaced indices (first and last kept) when n exceeds max_points, else all of them."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def _line(x: np.ndarray, y: np.ndarray, **kwargs: object) -> go.Scatter | go.Scattergl:
    keep = _thin(len(x))
    return scatter_for(len(keep))(
        x=x[keep].astype(np.float32), y=y[keep].astype(np.float32), mode="lines", **kwargs
    )


def _last_finite_before(steps: np.ndarray, values: np.ndarray, step: float) -> float | None:
    ok = np.flatnonzero(np.isfinite(values) & (steps <= step))
    return float(values[ok[-1]]) if ok.size else None


def loss_figure(
    runs: Sequence[tuple[str, RunLog]],
    series: Sequence[str],
    *,
    log_y: bool = False,
    smoothing: float = 0.6,
    events: Sequence[Sequence[TrainingEvent]] | None = None,
    checkpoint_steps: Sequence[Sequence[tuple[int, float]]] | None = None,
) -> go.Figure:
    """Selected series of one or two runs against step (run 2 dashed). With smoothing > 0 the raw curve
    is drawn faint under its EMA. `events[i]` and `checkpoint_steps[i]` ((epoch, step) pairs) belong to
    runs[i]; each event is marked on its curve at the step it began (a NaN at the curve's last finite
    value). NaN/Inf points break the line."""
    fig = go.Figure()
    colors = qualitative.Plotly
    for r, (label, run) in enumerate(runs):
        available = set(run.series_names)
        for i, name in enumerate(series):
            if name not in available:
                continue
            steps, values = run.series(name)
            color = colors[i % len(colors)]
            legend = name if len(runs) == 1 else f"{name} ({label})"
            style = {"color": color, "dash": RUN_DASH[r % 2]}
            if smoothing > 0:
                fig.add_trace(
                    _line(
                        steps, values, name=legend, line={**style, "width": 1}, opacity=0.3, showlegend=False
                    )
                )
                values = ema_smooth(values, smoothing)
            fig.add_trace(_line(steps, values, name=legend, line={**style, "width": 2}, legendgroup=legend))
        for event in events[r] if events else ():
            if event.series not in series:
                continue
            steps, values = run.series(event.series)
            y = _last_finite_before(steps, values, event.step)  # the curve's own value where it began
            if y is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[event.step],
                    y=[y],
                    mode="markers",
                    marker={
                        "symbol": EVENT_SYMBOL.get(event.kind, "circle"),
                        "size": 13,
                        "color": EVENT_COLOR.get(event.severity, "#7f7f7f"),
                        "line": {"width": 1, "color": GUIDE_COLOUR},
                    },
                    name=f"{event.kind.replace('_', ' ')}: {event.series}",
                    # Hover text from the log's own names: escaped here, joined by the template's <br>.
                    hovertemplate=plotly_text(
                        f"{label}: {event.kind.replace('_', ' ')} in {event.series} at step {event.step:g}"
                    )
                    + "<br>"
                    + plotly_text(event.detail)
                    + "<extra></extra>",
                    showlegend=False,
                )
            )
        for epoch, step in checkpoint_steps[r] if checkpoint_steps else ():
            fig.add_vline(
                x=step,
                line={"dash": "dot", "width": 1, "color": "#999999"},
                annotation={"text": f"ckpt e{epoch}", "textangle": -90, "font": {"size": 9}},
            )
    fig.update_layout(
        xaxis_title="step",
        yaxis_title="value (log)" if log_y else "value",
        yaxis_type="log" if log_y else "linear",
        hovermode="closest",
        height=480,
        margin={"t": 30, "b": 40, "l": 60, "r": 20},
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def gap_figure(
    runs: Sequence[tuple[str, RunLog]], pairs: Sequence[tuple[str, str]], *, smoothing: float = 0.6
) -> go.Figure:
    """Validation minus training (train smoothed, interpolated at the validation steps) for each
    (train, val) pair present in each run; above 0 the model does worse on held-out data."""
    fig = go.Figure()
    colors = qualitative.Plotly
    for r, (label, run) in enumerate(runs):
        available = set(run.series_names)
        for i, (train, val) in enumerate(pairs):
            if train not in available or val not in available:
                continue
            ts, tv = run.series(train)
            vs, vv = run.series(val)
            gap = train_val_gap(ts, ema_smooth(tv, smoothing), vs, vv)
            name = f"{val} - {train}" + ("" if len(runs) == 1 else f" ({label})")
            fig.add_trace(
                go.Scatter(
                    x=vs.astype(np.float32),
                    y=gap.astype(np.float32),
                    mode="lines+markers",
                    name=name,
                    line={"color": colors[i % len(colors)], "dash": RUN_DASH[r % 2]},
                )
            )
    fig.add_hline(y=0, line={"color": "#999999", "width": 1})
    fig.update_layout(
        xaxis_title="step",
        yaxis_title="validation - training",
        height=320,
        margin={"t": 30, "b": 40, "l": 60, "r": 20},
    )
    return fig
