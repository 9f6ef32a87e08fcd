"""Parts of a model found by role (shape, siblings, name fragments), one module per role: layers (the
role table and the layers every role is found among), codebook, heads, field, data; `found` gathers them.
This file only re-exports.
"""

from __future__ import annotations

from .codebook import CodebookRole, Orientation, find_codebooks
from .data import (
    COUNT_NAMES,
    DATA_NAMES,
    NORM_NAMES,
    DataTensor,
    data_message,
    describe_data,
    is_data,
    looks_like,
)
from .field import FieldRole, find_fields
from .found import Roles, find_roles, roles_of
from .heads import HeadsRole, Parameterisation, find_heads
from .layers import (
    DECODER_ROOTS,
    ENCODER_ROOTS,
    LOG_VARIANCE,
    PATTERNS,
    ROLE_PATTERNS,
    Family,
    Layer,
    RolePattern,
    Shapes,
    layers_of,
    matches,
    under_root,
)

__all__ = [
    "COUNT_NAMES",
    "DATA_NAMES",
    "DECODER_ROOTS",
    "ENCODER_ROOTS",
    "LOG_VARIANCE",
    "NORM_NAMES",
    "PATTERNS",
    "ROLE_PATTERNS",
    "CodebookRole",
    "DataTensor",
    "Family",
    "FieldRole",
    "HeadsRole",
    "Layer",
    "Orientation",
    "Parameterisation",
    "RolePattern",
    "Roles",
    "Shapes",
    "data_message",
    "describe_data",
    "find_codebooks",
    "find_fields",
    "find_heads",
    "find_roles",
    "is_data",
    "layers_of",
    "looks_like",
    "matches",
    "roles_of",
    "under_root",
]
