"""Safetensors files and Hugging Face folders (`model.safetensors`, `pytorch_model.bin`, sharded with an
index), whose files are found with core.io.paths.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .errors import CheckpointError
from .limits import MAX_ELEMENTS, regular_file
from .unpickle import _first_line

HF_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


# --- safetensors and directories -------------------------------------------------------------------


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors of a safetensors file, memory-mapped (`safe_open` reads nothing until used), after the
    header's shapes were checked against the element limit."""
    from safetensors import SafetensorError, safe_open

    regular_file(path, CheckpointError)
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            keys = list(fh.keys())
            total = sum(math.prod(fh.get_slice(k).get_shape()) for k in keys)
            if total > MAX_ELEMENTS:
                raise CheckpointError(
                    f"{path.name} declares {total:,} tensor elements, over the limit of {MAX_ELEMENTS:,}"
                )
            tensors = {k: fh.get_tensor(k) for k in keys}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"cannot read {path.name} as safetensors: {_first_line(exc)}") from None
    if not tensors:
        raise CheckpointError(f"{path.name} holds no tensors")
    return tensors, meta
