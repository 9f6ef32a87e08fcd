"""Quantizers that keep no codebook tensor (FSQ, LFQ), found by what their forward returns.

Finite Scalar Quantization rounds each of d dimensions to one of `levels[i]` values, so its codebook is
the grid of K = prod(levels) level vectors; Lookup-Free Quantization takes the sign of each of b
dimensions, K = 2**b. Neither holds a [K, D] parameter, so the state-dict roles (core.roles) find
nothing; but both return the code index of every token beside the quantised vectors (vector-quantize-
pytorch's FSQ returns `(codes, indices)`, LFQ `(quantized, indices, aux_loss)`). So the search runs
the module's forward once on probe rows with hooks on every submodule and takes the deepest ones whose
output holds an integer tensor with the batch first beside a float tensor. K comes from the module:
an int `codebook_size` attribute, else the product of integer `levels` / `_levels`, else a bit-mask
buffer of the powers of two (older LFQ) giving 2**bits; when none is there, K is unknown and the
metrics that need it say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ...io.errors import ProbeError
from ...roles.found import Roles
from ..base import AdapterSpec
from .base import LiveAdapter, evaluating, hooked, tensors_in

SEARCH_ROWS = 8  # rows of probe x for the one search forward: enough to see the outputs' layout
# Longest levels list or sign mask read for K: 64 dimensions already give K beyond any real codebook, and a
# larger integer buffer is something else (read only after this length check).
MAX_QUANTISED_DIMS = 64


@dataclass(frozen=True)
class ImplicitQuantizer:
    """A submodule whose forward returns code indices: its path, K (None when unknown) and where K came
    from, or why it is unknown."""

    path: str
    size: int | None
    size_source: str

    def describe(self) -> str:
        k = f"K = {self.size:,} from {self.size_source}" if self.size else f"K unknown ({self.size_source})"
        return (
            f"implicit codebook (no codebook tensor) of the quantizer {self.path or '(the model itself)'}, "
            f"found by its forward returning integer code indices [N, ...] beside float outputs; {k}"
        )


def _int_tensor(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        return int(value)
    return None


def _levels(value: Any) -> list[int] | None:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.dtype == torch.bool or value.ndim != 1:
            return None
        if len(value) > MAX_QUANTISED_DIMS:  # checked before tolist() copies it
            return None
        value = value.tolist()
    fits = isinstance(value, list | tuple) and 0 < len(value) <= MAX_QUANTISED_DIMS
    if fits and all(_int_tensor(v) is not None for v in value):
        return [int(v) for v in value]
    return None


def _bit_mask(module: nn.Module) -> int | None:
    """Bits of an LFQ-style mask buffer: a 1-D integer buffer holding exactly 2**0 .. 2**(b-1)."""
    for buffer in module.buffers(recurse=False):
        if buffer.ndim != 1 or buffer.is_floating_point() or buffer.dtype == torch.bool:
            continue
        if not 0 < len(buffer) <= MAX_QUANTISED_DIMS:
            continue
        values = sorted(int(v) for v in buffer.tolist())
        if values == [2**i for i in range(len(values))]:
            return len(values)
    return None


def implicit_size(module: nn.Module) -> tuple[int | None, str]:
    """(K, where it came from) for a quantizer module, or (None, why K is unknown)."""
    size = _int_tensor(getattr(module, "codebook_size", None))
    if size is not None and size >= 1:
        return size, "its codebook_size attribute"
    for name in ("levels", "_levels"):
        levels = _levels(getattr(module, name, None))
        if levels is not None and all(v >= 1 for v in levels):
            return math.prod(levels), f"the product of its {name} {levels}"
    bits = _bit_mask(module)
    if bits is not None:
        return 2**bits, f"its {bits}-bit sign mask (2**{bits})"
    return None, (
        f"{type(module).__name__} has no int codebook_size attribute, no integer levels and no bit mask, "
        "so the number of implicit codes K is unknown"
    )


def _index_tensor(output: Any, rows: int, given: torch.Tensor) -> torch.Tensor | None:
    """The integer index tensor [rows, ...] of an output that also holds a float tensor, or None."""
    tensors = list(tensors_in(output))
    if not any(t.is_floating_point() for t in tensors):
        return None
    for t in tensors:
        integer = not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool
        batch_first = t.ndim >= 1 and t.shape[0] == rows and t.numel() > 0
        if integer and t is not given and batch_first and int(t.min()) >= 0:
            return t
    return None


def _below(inner: str, outer: str) -> bool:
    """True when module path `inner` lies inside `outer` ("" is the root)."""
    return inner != outer and (not outer or inner.startswith(f"{outer}."))


class LiveImplicitCodebookAdapter(LiveAdapter):
    """A live model whose quantizer keeps no codebook (FSQ, LFQ): code indices read from its outputs."""

    name: ClassVar[str] = "live_implicit_codebook"
    family: ClassVar = "codebook"

    @classmethod
    def build(
        cls, module: nn.Module, roles: Roles, config: dict, x: np.ndarray | None
    ) -> LiveImplicitCodebookAdapter | None:
        """The adapter when the forward of probe x shows quantizers returning indices, else None."""
        if x is None:
            return None
        adapter = cls(module, roles, config)
        found = adapter._search(x)
        if not found:
            return None
        adapter.quantizers = tuple(q for q in found if q.size == found[0].size)
        adapter.others = tuple(q for q in found if q.size != found[0].size)
        return adapter

    def __init__(self, module: nn.Module, roles: Roles, config: dict) -> None:
        super().__init__(module, roles, config)
        # Quantizers of the first one's K are read as heads; others (another K) are named, not measured.
        self.quantizers: tuple[ImplicitQuantizer, ...] = ()
        self.others: tuple[ImplicitQuantizer, ...] = ()

    def _search(self, x: np.ndarray) -> list[ImplicitQuantizer]:
        """The deepest submodules (the model itself included: a bare FSQ / LFQ) whose forward, run once on
        the first rows of probe x, returns integer code indices beside floats."""
        rows = self._inputs(x)[:SEARCH_ROWS]
        outputs: dict[str, list[Any]] = {}

        def record(path: str, _args: tuple, output: Any) -> None:
            outputs.setdefault(path, []).append(output)

        paths = [name for name, _ in self._module.named_modules()]
        with evaluating(self._module), hooked(self._module, paths, record):
            n, given, _ = next(self._forward(rows))
        hits = [p for p, outs in outputs.items() if any(_index_tensor(o, n, given) is not None for o in outs)]
        deepest = [p for p in hits if not any(_below(q, p) for q in hits)]
        return [ImplicitQuantizer(p, *implicit_size(self._module.get_submodule(p))) for p in deepest]

    @property
    def unknown_size_reason(self) -> str | None:
        """Why K is unknown, or None when the module gives it."""
        first = self.quantizers[0]
        return None if first.size else first.size_source

    def spec(self) -> AdapterSpec:
        parts = [p for p in self._roles.parts() if p not in ("codebook", "ema usage")]
        return AdapterSpec(
            family="codebook",
            codebook_size=self.quantizers[0].size,
            codebook_count=len(self.quantizers),
            supports_code_indices=True,
            description=f"live {type(self._module).__name__}: "
            + "; ".join(q.describe() for q in self.quantizers)
            + "".join(f"; not measured (another K): {q.describe()}" for q in self.others),
            parts=(*parts, "implicit codebook"),
        )

    def codebook(self) -> np.ndarray:
        raise self._missing(
            "codebook vectors: the quantizer keeps no codebook tensor (its codebook is implicit, "
            "levels or sign bits); code usage comes from its indices on probe x"
        )

    def code_indices(self, x: np.ndarray) -> np.ndarray:
        """Code per token of the first quantizer: x [N, ...] -> int64 [N, T]."""
        return self.code_indices_per_head(x)[0]

    def code_indices_per_head(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """Codes per token for every quantizer found (one head each): int64 [N, T] per head."""
        x = self._inputs(x)
        paths = [q.path for q in self.quantizers]
        seen: dict[str, list[Any]] = {p: [] for p in paths}

        def record(path: str, _args: tuple, output: Any) -> None:
            seen[path].append(output)

        rows: dict[str, list[np.ndarray]] = {p: [] for p in paths}
        with evaluating(self._module), hooked(self._module, paths, record):
            for n, tensor, _ in self._forward(x):
                for q in self.quantizers:
                    rows[q.path].append(self._chunk_codes(q, seen[q.path], n, tensor))
                for store in seen.values():
                    store.clear()
        return tuple(np.concatenate(rows[p]) for p in paths)

    def _chunk_codes(
        self, q: ImplicitQuantizer, outputs: list[Any], n: int, given: torch.Tensor
    ) -> np.ndarray:
        where = q.path or type(self._module).__name__
        found = [t for t in (_index_tensor(o, n, given) for o in outputs) if t is not None]
        if not found:
            raise ProbeError(f"the forward of probe x returned no code indices from the quantizer {where}")
        codes = torch.cat([t.reshape(n, -1) for t in found], dim=1).to("cpu", torch.int64).numpy()
        if q.size and codes.size and int(codes.max()) >= q.size:
            raise ProbeError(
                f"the quantizer {where} returned code {int(codes.max())}, beyond the K = {q.size:,} of "
                f"{q.size_source}"
            )
        return codes
