"""Parts of a model found by role (shape, siblings, name fragments), one module per role: layers (the
role table and the layers every role is found among), codebook, heads, field, data; `found` gathers them.
This file only re-exports.
"""

from __future__ import annotations

from .codebook import (
    POSITIONAL,
    SEQUENCE_LAYER,
    TOKEN_NAME,
    CodebookRole,
    Orientation,
    find_codebooks,
    token_table,
)
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
from .found import FLOW_HINT, TEXT_HINT, TIME_INPUT, Roles, find_roles, roles_of
from .heads import PRIOR_TABLE, UNREAD_PRIOR, HeadsRole, Parameterisation, PriorRole, find_heads, find_prior
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
    "FLOW_HINT",
    "LOG_VARIANCE",
    "NORM_NAMES",
    "PATTERNS",
    "POSITIONAL",
    "PRIOR_TABLE",
    "ROLE_PATTERNS",
    "SEQUENCE_LAYER",
    "TEXT_HINT",
    "TIME_INPUT",
    "TOKEN_NAME",
    "UNREAD_PRIOR",
    "CodebookRole",
    "DataTensor",
    "Family",
    "FieldRole",
    "HeadsRole",
    "Layer",
    "Orientation",
    "Parameterisation",
    "PriorRole",
    "RolePattern",
    "Roles",
    "Shapes",
    "data_message",
    "describe_data",
    "find_codebooks",
    "find_fields",
    "find_heads",
    "find_prior",
    "find_roles",
    "is_data",
    "layers_of",
    "looks_like",
    "matches",
    "roles_of",
    "token_table",
    "under_root",
]
