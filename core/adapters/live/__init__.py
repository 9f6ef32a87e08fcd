"""Adapters over a live `nn.Module` (the user's own class, `--builder`, the training guard): the public
base `LiveAdapter` and running the module (base.py), one adapter per family (codebook, implicit,
posterior, flow; generative flows v(x, t[, c]) and text models decoded greedily) and
`adapter_from_module` / the builder import (builder.py). This file only re-exports.
"""

from __future__ import annotations

from .base import (
    DEFAULT_CHUNK,
    LiveAdapter,
    as_numpy,
    copied,
    evaluating,
    hooked,
    placement,
    tensor_of,
    tensors_in,
    token_ids,
)
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
from .generative import DEFAULT_FLOW_STEPS, TIME_PARAMETER, LiveGenerativeFlowAdapter, time_parameter
from .implicit import (
    MAX_QUANTISED_DIMS,
    SEARCH_ROWS,
    ImplicitQuantizer,
    LiveImplicitCodebookAdapter,
    implicit_size,
)
from .posterior import LivePosteriorAdapter, Reading, observed_reading, observed_split
from .text import LiveTextAdapter, encode_texts, module_tokenizer

__all__ = [
    "BUILDER_ENV",
    "DEFAULT_CHUNK",
    "DEFAULT_FLOW_STEPS",
    "MAX_QUANTISED_DIMS",
    "SEARCH_ROWS",
    "TIME_PARAMETER",
    "ImplicitQuantizer",
    "LiveAdapter",
    "LiveCodebookAdapter",
    "LiveFlowAdapter",
    "LiveGenerativeFlowAdapter",
    "LiveImplicitCodebookAdapter",
    "LivePosteriorAdapter",
    "LiveTextAdapter",
    "Reading",
    "adapter_from_module",
    "as_numpy",
    "builder_adapter",
    "builder_configured",
    "builder_from_env",
    "copied",
    "encode_texts",
    "evaluating",
    "hooked",
    "implicit_size",
    "load_builder",
    "module_tokenizer",
    "nearest_codes",
    "observed_reading",
    "observed_split",
    "placement",
    "tensor_of",
    "tensors_in",
    "time_parameter",
    "token_ids",
]
