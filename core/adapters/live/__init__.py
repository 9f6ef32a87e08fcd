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
from .codebook import LiveCodebookAdapter, nearest_codes
from .flow import LiveFlowAdapter
from .implicit import (
    MAX_QUANTISED_DIMS,
    SEARCH_ROWS,
    ImplicitQuantizer,
    LiveImplicitCodebookAdapter,
    implicit_size,
)
from .posterior import LivePosteriorAdapter, observed_split

__all__ = [
    "BUILDER_ENV",
    "DEFAULT_CHUNK",
    "MAX_QUANTISED_DIMS",
    "SEARCH_ROWS",
    "ImplicitQuantizer",
    "LiveAdapter",
    "LiveCodebookAdapter",
    "LiveFlowAdapter",
    "LiveImplicitCodebookAdapter",
    "LivePosteriorAdapter",
    "adapter_from_module",
    "as_numpy",
    "builder_adapter",
    "builder_configured",
    "builder_from_env",
    "evaluating",
    "hooked",
    "implicit_size",
    "load_builder",
    "nearest_codes",
    "observed_split",
    "placement",
    "tensors_in",
]
