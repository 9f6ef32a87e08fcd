"""Files that hold data, not a model: tensors named or shaped like embeddings, labels, codes or counts, and
the plain sentence that says what they are and how to use them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# --- data files ---------------------------------------------------------------------------------------

DATA_NAMES = re.compile(
    r"^(?:embeddings?|emb|features?|feats|latents?|z|x|codes|code_indices|indices|ids|tokens|labels|targets|y"
    r"|attributes|attrs|mean|std|var|scale|min|max|counts|count|hist|histogram|usage|freq|frequencies|data"
    r"|inputs|outputs|samples|mu|logvar)$"
)
NORM_NAMES = re.compile(r"^(?:mean|std|var|scale|min|max|mu|sigma)$")
COUNT_NAMES = re.compile(r"^(?:counts?|hist|histogram|usage|freq|frequencies)$")


@dataclass(frozen=True)
class DataTensor:
    """One tensor of a data file and what it looks like."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    looks_like: str
    probe_field: str | None


def looks_like(name: str, shape: tuple[int, ...], dtype: str) -> tuple[str, str | None]:
    """(what a data tensor looks like, the probe field it could fill or None)."""
    leaf = name.rpartition(".")[2].lower()
    integer = dtype.startswith(("int", "uint", "long")) or dtype == "bool"
    if COUNT_NAMES.match(leaf) and len(shape) == 1:
        return f"a code histogram over {shape[0]} codes", None
    if NORM_NAMES.match(leaf) and len(shape) <= 1:
        return "normalisation statistics", None
    if integer and len(shape) >= 1:
        return "code indices", "codes"
    if len(shape) == 2:
        return f"embeddings [N = {shape[0]}, D = {shape[1]}]", "embeddings"
    if len(shape) >= 3:
        return f"model inputs [N = {shape[0]}, ...]", "x"
    return "a vector", None


def is_data(tensors: Mapping[str, tuple[tuple[int, ...], str]]) -> bool:
    """True when a top-level mapping of tensors (name -> (shape, dtype)) is data, not model weights.

    Data: every tensor is integer (indices, counts), or every name is a flat data name (embeddings,
    codes, mean, std, counts, ...) with no dotted module path.
    """
    if not tensors:
        return False
    if all(dtype.startswith(("int", "uint", "bool")) for _, dtype in tensors.values()):
        return True
    return all("." not in name and DATA_NAMES.match(name.lower()) for name in tensors)


def describe_data(tensors: Mapping[str, tuple[tuple[int, ...], str]]) -> list[DataTensor]:
    """Each data tensor with what it looks like and the probe field it fits."""
    return [
        DataTensor(name, tuple(shape), dtype, *looks_like(name, tuple(shape), dtype))
        for name, (shape, dtype) in tensors.items()
    ]


def data_message(filename: str, tensors: Mapping[str, tuple[tuple[int, ...], str]]) -> str:
    """The plain sentence shown for a data file: what it holds and how to use it as probe data."""
    rows = describe_data(tensors)
    shown = "; ".join(
        f"{'tensor' if r.name in ('tensor', '') else r.name} {list(r.shape)} {r.dtype} (looks like {r.looks_like})"
        for r in rows[:6]
    )
    more = f" and {len(rows) - 6} more" if len(rows) > 6 else ""
    fits = sorted({r.probe_field for r in rows if r.probe_field})
    offer = (
        f"; use it as probe data ({', '.join(fits)}): pass it with --data, or save it in probe.npz as "
        + ", ".join(f"'{f}'" for f in fits)
        if fits
        else "; it cannot be diagnosed on its own"
    )
    return f"{filename} is data, not a model: {shown}{more}{offer}"
