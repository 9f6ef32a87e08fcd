"""The flow family's pictures: figures.py (trajectories, step lengths, frames drawn), animation.py (the
flow played step by step), targets.py (what the flow moves toward), view.py (what the
Trajectories page shows for one set of controls), projection.py (joint, aligned 2-D frames), text.py
(flow endpoints read back as sentences), generative.py (a generative flow's noise, endpoints and real data
in one frame). This file only re-exports the figures.
"""

from __future__ import annotations

from .animation import ANIMATION_FRAMES, animation_steps, flow_animation
from .figures import (
    INPUTS,
    JOINT,
    MAX_SPOT_PX,
    PATHS,
    START_POINTS,
    PathSample,
    Spots,
    colour_groups,
    compare_flow_figure,
    endpoint_spots,
    flow_figure,
    joint_labels,
    polyline_xy,
    selected_rows,
    spot_sizes,
    step_figure,
)
from .generative import generative_figure, generative_frame

__all__ = [
    "ANIMATION_FRAMES",
    "INPUTS",
    "JOINT",
    "MAX_SPOT_PX",
    "PATHS",
    "START_POINTS",
    "PathSample",
    "Spots",
    "animation_steps",
    "colour_groups",
    "compare_flow_figure",
    "endpoint_spots",
    "flow_animation",
    "flow_figure",
    "generative_figure",
    "generative_frame",
    "joint_labels",
    "polyline_xy",
    "selected_rows",
    "spot_sizes",
    "step_figure",
]
