"""The flow family's metrics: trajectories (movement, endpoints, attribute flips), clustering (silhouette,
distinct endpoints, purity), field (divergence and curl) and frame (trustworthiness of a 2-D picture).
This file only imports the modules, which register their metrics.
"""

from . import clustering, field, frame, trajectories

__all__ = ["clustering", "field", "frame", "trajectories"]
