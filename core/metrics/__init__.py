"""Pure metric functions over numpy arrays, one module per family (flow, text, codebook, posterior, training
and health for the training family's weights), plus spectrum and settings used by several families, and one
METRICS table of how to read each value (base.py). This file re-exports base.py only: the family modules
bring torch, scipy, sklearn and sacrebleu, which the app's first paint does without; `all_metrics()` imports
them all, and a module that computes a family's metrics has imported that family already.
"""

from __future__ import annotations

from .base import (
    METRICS,
    Better,
    MetricInfo,
    MetricValue,
    Undefined,
    all_metrics,
    format_interval,
    format_value,
    format_with_error,
    improvement,
    info_of,
    is_defined,
    label,
    readable,
    register_metrics,
    to_jsonable,
)

__all__ = [
    "METRICS",
    "Better",
    "MetricInfo",
    "MetricValue",
    "Undefined",
    "all_metrics",
    "format_interval",
    "format_value",
    "format_with_error",
    "improvement",
    "info_of",
    "is_defined",
    "label",
    "readable",
    "register_metrics",
    "to_jsonable",
]
