"""Pure metric functions over numpy arrays, one module per family (flow, text, codebook, posterior, training
and health for the training family's weights), plus spectrum and settings used by several families, and one
METRICS table of how to read each value (base.py). Importing this package imports every family module, so
the table is complete. This file only imports and re-exports.
"""

from __future__ import annotations

from . import codebook, flow, health, language, posterior, settings, spectrum, text, training
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
    "codebook",
    "flow",
    "format_interval",
    "format_value",
    "format_with_error",
    "health",
    "improvement",
    "info_of",
    "is_defined",
    "label",
    "language",
    "posterior",
    "readable",
    "register_metrics",
    "settings",
    "spectrum",
    "text",
    "to_jsonable",
    "training",
]
