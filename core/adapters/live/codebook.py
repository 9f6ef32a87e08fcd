"""The live codebook adapter: code indices from forward hooks on the quantizer found by role (nearest code
to its input vectors, or the integer indices its output carries), usage from EMA buffers when kept.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ...io.errors import AdapterError, ProbeError
from ...roles.codebook import CodebookRole
from ...roles.found import Roles
from ..base import AdapterSpec
from ..codebook import CodebookGroup, codebook_groups

if TYPE_CHECKING:
    pass
from ...roles.layers import layers_of
from .base import LiveAdapter, evaluating, hooked, tensors_in

_NEAREST_ROWS = 65_536


# --- codebooks ----------------------------------------------------------------------------------------


def _owner(key: str) -> str:
    return key.rpartition(".")[0]


def _ancestors(path: str) -> list[str]:
    """`a.b.c` -> [a.b.c, a.b, a, ""] (deepest first)."""
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _channels_last(t: torch.Tensor, dim: int) -> torch.Tensor | None:
    """Vectors [M, dim] from a float tensor whose channel axis is 1 (BCHW-style) or last; None if neither."""
    if not t.is_floating_point() or t.ndim < 2:
        return None
    if t.ndim == 2:
        return t if t.shape[1] == dim else None
    first, last = t.shape[1] == dim, t.shape[-1] == dim
    if first and (not last or t.ndim == 4):
        return t.movedim(1, -1).reshape(-1, dim)
    return t.reshape(-1, dim) if last else None


def nearest_codes(vectors: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (Euclidean) for vectors [M, D] against codebook [K, D]: int64 [M]."""
    book = codebook.to(vectors.dtype)
    parts = [torch.cdist(chunk, book).argmin(dim=1) for chunk in vectors.split(_NEAREST_ROWS)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64, device=vectors.device)


class LiveCodebookAdapter(LiveAdapter):
    """Codebooks of a live module; code indices from hooks on the quantizer during the module's forward."""

    name: ClassVar[str] = "live_codebook"
    family: ClassVar = "codebook"

    @classmethod
    def build(cls, module: nn.Module, roles: Roles, config: dict) -> LiveCodebookAdapter:
        if not roles.codebooks:
            raise AdapterError(f"{type(module).__name__} has no codebook; {roles.report()}")
        return cls(module, roles, config)

    def _tensor(self, key: str) -> torch.Tensor:
        try:
            return self._module.get_parameter(key)
        except AttributeError:
            return self._module.get_buffer(key)

    def codebook_groups(self) -> list[CodebookGroup]:
        """Every group of codebooks, read from the live tensors now (copies)."""
        return codebook_groups(self._module.state_dict(), self._roles.codebooks)

    def _primary(self) -> tuple[CodebookRole, ...]:
        first = self._roles.codebooks[0]
        return tuple(r for r in self._roles.codebooks if (r.size, r.dim) == (first.size, first.dim))

    def spec(self) -> AdapterSpec:
        primary = self._primary()
        first = primary[0]
        return AdapterSpec(
            family="codebook",
            latent_dim=first.dim,
            codebook_size=first.size,
            codebook_count=sum(r.heads for r in primary),
            supports_code_indices=True,
            supports_code_usage=all(r.usage for r in primary),
            description=f"live {type(self._module).__name__}: "
            + "; ".join(r.describe() for r in self._roles.codebooks),
            parts=self._roles.parts(),
        )

    def codebook(self) -> np.ndarray:
        """Code vectors of the first group, float32 [H, K, D]."""
        return self.codebook_groups()[0].vectors

    def code_usage(self) -> np.ndarray:
        usage = self.codebook_groups()[0].usage
        if usage is None:
            raise self._missing("code_usage (the module keeps no EMA cluster sizes)")
        return usage

    def code_indices(self, x: np.ndarray) -> np.ndarray:
        """Code per token of the first codebook: x [N, ...] -> int64 [N, T]."""
        return self.code_indices_per_head(x)[0]

    def code_indices_per_head(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """Codes per token for every head of the first group: one int64 [N, T_h] per head."""
        x = self._inputs(x)
        primary = self._primary()
        per_role: dict[str, list[list[np.ndarray]]] = {r.key: [] for r in primary}
        with evaluating(self._module):
            for role in primary:
                per_role[role.key] = self._indices(role, x)
        heads: list[np.ndarray] = []
        for role in primary:
            heads.extend(per_role[role.key])
        return tuple(heads)

    def _indices(self, role: CodebookRole, x: np.ndarray) -> list[np.ndarray]:
        """Codes [N, T] per head of one codebook, from the deepest hooked module that saw its vectors."""
        paths = self._quantizer_paths(role)
        logits = [p for p in self._logit_layers(role) if p not in paths]
        calls: dict[str, list[tuple[tuple, Any]]] = {p: [] for p in paths + logits}

        def record(path: str, args: tuple, output: Any) -> None:
            calls[path].append((args, output))

        rows: list[list[np.ndarray]] = [[] for _ in range(role.heads)]
        with hooked(self._module, paths + logits, record):
            for n, _, _ in self._forward(x):
                book = self._tensor(role.key).detach()
                book = book.T if role.layout == "dk" else book
                book = book.reshape(role.heads, role.size, role.dim)
                codes = self._from_calls(role, {p: calls[p] for p in paths}, book)
                if codes is None and role.heads == 1:
                    codes = _from_logits(role, [calls[p] for p in logits])
                if codes is None:
                    raise ProbeError(
                        f"no module around codebook {role.key} received [*, {role.dim}] vectors during the "
                        f"forward of probe x {list(x.shape)}"
                    )
                for h, idx in enumerate(codes):
                    if idx.numel() % n:
                        raise ProbeError(
                            f"codebook {role.key}: {idx.numel()} code assignments for {n} inputs is not a whole "
                            "number per input"
                        )
                    rows[h].append(idx.reshape(n, -1).cpu().numpy().astype(np.int64))
                for store in calls.values():
                    store.clear()
        return [np.concatenate(r) for r in rows]

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self._module.state_dict(keep_vars=True).items()}

    def _quantizer_paths(self, role: CodebookRole) -> list[str]:
        """The codebook's owner and its ancestors, deepest first; the root only when it is the quantizer
        (nothing but the codebook's module holds layers), since otherwise its input is the raw data."""

        owner = _owner(role.key)
        paths = _ancestors(owner)
        others = [
            layer for layer in layers_of(self._shapes()) if not (layer.path + ".").startswith(owner + ".")
        ]
        return paths[:-1] if others and owner else paths

    def _logit_layers(self, role: CodebookRole) -> list[str]:
        """Layers that score the K codes (Gumbel-softmax quantizers): out width K, named like logits or
        proj, or the encoder's last layer; their argmax is the code when no module sees D-dim vectors."""
        from ...roles.layers import ENCODER_ROOTS, layers_of, matches, under_root

        layers = [layer for layer in layers_of(self._shapes()) if layer.kind in ("linear", "conv")]
        encoder = [layer for layer in layers if under_root(layer.path, ENCODER_ROOTS)]
        return [
            layer.path
            for layer in layers
            if layer.out_width == role.size
            and (
                re.search(r"logit|proj|to_code|code_score", layer.name.lower())
                or (encoder and layer is encoder[-1])
                or matches("quantizer path", layer.parent)
            )
        ]

    @staticmethod
    def _from_calls(
        role: CodebookRole, calls: dict[str, list], book: torch.Tensor
    ) -> list[torch.Tensor] | None:
        for path in calls:  # deepest first
            vectors, outputs = [], []
            for args, output in calls[path]:
                found = _head_vectors(args, role, book) if role.heads > 1 else _flat_vectors(args, role.dim)
                if found is None:
                    continue
                vectors.append(found)
                outputs.append(output)
            if not vectors:
                continue
            if role.heads > 1:
                return [torch.cat([nearest_codes(v[h], book[h]) for v in vectors]) for h in range(role.heads)]
            codes = []
            for v, output in zip(vectors, outputs, strict=True):
                given = next(
                    (
                        t.reshape(-1)
                        for t in tensors_in(output)
                        if not t.is_floating_point()
                        and t.numel() == len(v)
                        and t.dtype != torch.bool
                        and (t.numel() == 0 or (int(t.min()) >= 0 and int(t.max()) < role.size))
                    ),
                    None,
                )
                codes.append(given.to(torch.int64) if given is not None else nearest_codes(v, book[0]))
            return [torch.cat(codes)]
        return None


def _from_logits(role: CodebookRole, calls: list[list[tuple[tuple, Any]]]) -> list[torch.Tensor] | None:
    """Codes as the argmax over K code scores [N, K, ...] or [N, ..., K] output by a logits layer."""
    for layer_calls in calls:
        picked = []
        for _args, output in layer_calls:
            t = next(tensors_in(output), None)
            if t is None or not t.is_floating_point() or t.ndim < 2:
                continue
            axis = 1 if t.shape[1] == role.size else -1 if t.shape[-1] == role.size else None
            if axis is not None:
                picked.append(t.argmax(dim=axis).reshape(-1))
        if picked:
            return [torch.cat(picked)]
    return None


def _flat_vectors(args: tuple, dim: int) -> torch.Tensor | None:
    for t in tensors_in(args):
        vectors = _channels_last(t, dim)
        if vectors is not None:
            return vectors
    return None


def _head_vectors(args: tuple, role: CodebookRole, book: torch.Tensor) -> torch.Tensor | None:
    """Per-head vectors [H, M, D] from an input with a leading head axis."""
    for t in tensors_in(args):
        if t.is_floating_point() and t.ndim >= 3 and t.shape[0] == role.heads and t.shape[-1] == role.dim:
            return t.reshape(role.heads, -1, role.dim)
    return None
