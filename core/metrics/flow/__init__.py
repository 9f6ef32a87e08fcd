"""The flow family's metrics: trajectories (movement, endpoints, attribute flips), clustering (silhouette,
distinct endpoints, purity), field (divergence and curl), frame (trustworthiness of a 2-D picture) and
generative (a generative flow's endpoints against real data).
This file only imports the modules, which register their metrics.
"""

from . import clustering, field, frame, generative, trajectories

__all__ = ["clustering", "field", "frame", "generative", "trajectories"]
