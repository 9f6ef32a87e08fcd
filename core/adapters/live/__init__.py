"""Adapters over a live `nn.Module` (the user's own class, `--builder`, the training guard): the public
base `LiveAdapter` and running the module (base.py), one adapter per family (codebook, implicit,
posterior, flow) and `adapter_from_module` / the builder import (builder.py). This file only re-exports.
"""

from __future__ import annotations

from .base import DEFAULT_CHUNK, LiveAdapter, as_numpy, evaluating, hooked, placement, tensors_in
from .builder import (
    BUILDER_ENV,
    adapter_from_module,
    builder_adapter,
    builder_configured,
    builder_from_env,
    load_builder,
)

__all__ = [
    "BUILDER_ENV",
    "DEFAULT_CHUNK",
    "LiveAdapter",
    "adapter_from_module",
    "as_numpy",
    "builder_adapter",
    "builder_configured",
    "builder_from_env",
    "evaluating",
    "hooked",
    "load_builder",
    "placement",
    "tensors_in",
]
