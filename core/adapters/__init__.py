"""Adapters turn a loaded checkpoint into a model the metrics can query (see base.py)."""

from .base import AdapterSpec, CheckpointAdapter
from .registry import REGISTRY, build_adapter, detect, open_adapter, register

__all__ = [
    "REGISTRY",
    "AdapterSpec",
    "CheckpointAdapter",
    "build_adapter",
    "detect",
    "open_adapter",
    "register",
]
