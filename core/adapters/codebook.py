"""Adapters for vector-quantised models: the reference VQ-VAE and codebooks found by role in any layout.

Codebooks are found by core.roles (any prefix, any component dict, several per file); each adapter
below reads one family of layouts, told apart by the first codebook's role:
- `vq_ema`: a [K, D] codebook with an EMA cluster-size buffer (`_embedding.weight` + `_ema_cluster_size`, ...)
- `vq_transposed`: a [D, K] codebook with a usage buffer (`embed [D, K]` + `cluster_size [K]`, ...)
- `vq_multihead`: `embed [H, K, D]` + `cluster_size [H, K]` (e.g. `_codebook.embed`), or one head
  `embed [K, D]` + `cluster_size [K]`
- `vq_embedding`: a codebook without usage buffers (`quantize.embedding.weight`, `codebook.weight`, `k`, ...)
- `vqvae_digits`: the reference VQ-VAE of core.models.codebook, plain or component-dict checkpoint; it is
  rebuilt, so code indices come from data.

Weight-only usage is the EMA cluster size per code (`code_usage() -> float64 [H, K]`). Data-driven usage
needs code indices: from the rebuilt model and probe `x`, or given directly as probe `codes`.
Codebooks of one shape are stacked as heads; codebooks of other shapes form further groups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from ..io.checkpoints import load_checkpoint
from ..io.errors import AdapterError, CheckpointError, ProbeError
from ..io.paths import checkpoint_files
from ..metrics.codebook import code_counts
from ..models.codebook import build_vqvae
from ..roles.codebook import CodebookRole
from ..roles.found import roles_of
from .base import AdapterSpec, CheckpointAdapter
from .registry import build_adapter, register

if TYPE_CHECKING:
    from ..io.checkpoints import LoadedCheckpoint
    from ..io.probe import ProbeData

Shapes = Mapping[str, tuple[int, ...]]
CODES_FIELD = "codes"


@dataclass(frozen=True)
class CodebookGroup:
    """Codebooks of one shape stacked as heads: vectors float32 [H, K, D], usage float64 [H, K] or None.

    `names` has one entry per head; `ema` says whether the codebooks are EMA-updated (every code moves).
    """

    names: tuple[str, ...]
    vectors: np.ndarray
    usage: np.ndarray | None
    ema: bool
    roles: tuple[CodebookRole, ...]


def _as_heads(tensor: torch.Tensor, role: CodebookRole) -> np.ndarray:
    w = tensor.detach().to("cpu", torch.float32)
    if role.layout == "dk":
        w = w.T
    return w.reshape(role.heads, role.size, role.dim).numpy().copy()


def _usage(tensor: torch.Tensor, role: CodebookRole) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).reshape(role.heads, role.size).numpy().copy()


def codebook_groups(
    state: Mapping[str, torch.Tensor], roles: tuple[CodebookRole, ...]
) -> list[CodebookGroup]:
    """The codebooks of `roles` read from `state`, grouped by (K, D) in order of first appearance."""
    grouped: dict[tuple[int, int], list[CodebookRole]] = {}
    for role in roles:
        grouped.setdefault((role.size, role.dim), []).append(role)
    groups = []
    for members in grouped.values():
        books = [_as_heads(state[r.key], r) for r in members]
        names = tuple(
            r.name if r.heads == 1 else f"{r.name} head {h}" for r in members for h in range(r.heads)
        )
        usage = (
            np.concatenate([_usage(state[r.usage], r) for r in members])
            if all(r.usage for r in members)
            else None
        )
        vectors = np.concatenate(books)
        if not np.isfinite(vectors).all():
            raise AdapterError(f"codebook {members[0].key} contains NaN or infinite values")
        groups.append(CodebookGroup(names, vectors, usage, all(r.ema for r in members), tuple(members)))
    return groups


def _codebook_roles(shapes: Shapes) -> tuple[CodebookRole, ...]:
    return () if _is_reference(shapes) else roles_of(shapes).codebooks


def layout_adapter(role: CodebookRole) -> str:
    """The name of the weight-only adapter that reads a codebook role's layout."""
    if role.layout == "hkd" or (role.layout == "kd" and role.key.rpartition(".")[2] == "embed"):
        return "vq_multihead" if role.usage else "vq_embedding"
    if role.usage is None:
        return "vq_embedding"
    return "vq_transposed" if role.layout == "dk" else "vq_ema"


class CodebookAdapter(CheckpointAdapter):
    """Codebooks read from weights only: groups of vectors [H, K, D] and, when kept, EMA usage [H, K]."""

    family: ClassVar = "codebook"
    layout: ClassVar[str]

    def __init__(self, groups: list[CodebookGroup], parts: tuple[str, ...] = ()) -> None:
        self._groups = groups
        self._parts = parts

    @classmethod
    def detect(cls, shapes: Shapes, config: Mapping) -> bool:
        roles = _codebook_roles(shapes)
        return bool(roles) and layout_adapter(roles[0]) == cls.name

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> CodebookAdapter:
        shapes = loaded.shapes()
        roles = _codebook_roles(shapes)
        if not roles:
            raise AdapterError(f"{loaded.path.name}: no codebook found; {roles_of(shapes).report()}")
        return cls(codebook_groups(loaded.state_dict, roles), roles_of(shapes).parts())

    def spec(self) -> AdapterSpec:
        first = self._groups[0]
        h, k, d = first.vectors.shape
        usage = "EMA cluster sizes" if first.usage is not None else "no usage counts (give probe codes)"
        rows = "; ".join(r.describe() for g in self._groups for r in g.roles)
        return AdapterSpec(
            family="codebook",
            latent_dim=d,
            codebook_size=k,
            codebook_count=h,
            supports_code_usage=first.usage is not None,
            description=f"{self.layout}: {rows}; {usage}",
            parts=self._parts,
        )

    def codebook(self) -> np.ndarray:
        """Code vectors of the first group, float32 [H, K, D] (a copy)."""
        return self._groups[0].vectors.copy()

    def codebook_groups(self) -> list[CodebookGroup]:
        """Every group of codebooks (the first is what codebook() and code_usage() read)."""
        return list(self._groups)

    def code_usage(self) -> np.ndarray:
        usage = self._groups[0].usage
        if usage is None:
            raise self._missing("code_usage (the codebook keeps no EMA cluster sizes)")
        return usage.copy()


@register
class EmaCodebookAdapter(CodebookAdapter):
    name = "vq_ema"
    layout = "EMA codebook [K, D]"


@register
class TransposedCodebookAdapter(CodebookAdapter):
    name = "vq_transposed"
    layout = "transposed EMA codebook [D, K]"


@register
class MultiHeadCodebookAdapter(CodebookAdapter):
    name = "vq_multihead"
    layout = "codebook embed [H, K, D] (or one head [K, D])"


@register
class EmbeddingCodebookAdapter(CodebookAdapter):
    name = "vq_embedding"
    layout = "codebook without usage buffers [K, D]"


_REFERENCE_KEYS = (
    "encoder.net.0.weight",
    "encoder.net.2.weight",
    "quantizer._embedding.weight",
    "quantizer._ema_cluster_size",
    "decoder.net.0.weight",
    "decoder.net.2.weight",
)


def _is_reference(shapes: Shapes) -> bool:
    return all(k in shapes for k in _REFERENCE_KEYS)


@register
class ReferenceVQVAEAdapter(CheckpointAdapter):
    """The reference VQ-VAE (core.models.codebook), rebuilt: code indices and reconstructions from data."""

    name = "vqvae_digits"
    family: ClassVar = "codebook"

    def __init__(self, model: torch.nn.Module) -> None:
        self._model = model

    @classmethod
    def detect(cls, shapes: Shapes, config: Mapping) -> bool:
        return _is_reference(shapes)

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> ReferenceVQVAEAdapter:

        return cls(build_vqvae(loaded.state_dict, loaded.config))

    def spec(self) -> AdapterSpec:
        c = self._model.config
        return AdapterSpec(
            family="codebook",
            latent_dim=c.embedding_dim,
            codebook_size=c.num_embeddings,
            codebook_count=1,
            supports_code_indices=True,
            supports_code_usage=True,
            supports_decode=True,
            parts=("encoder", "codebook", "ema usage", "decoder")
            + (("semantic heads",) if c.num_classes else ()),
            description=(
                f"reference VQ-VAE: {c.num_tokens} tokens x {c.embedding_dim} dims per input, "
                f"K = {c.num_embeddings} EMA codes, inputs [N, {c.input_dim}]"
            ),
        )

    @property
    def num_tokens(self) -> int:
        return self._model.config.num_tokens

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        arr = np.asarray(x)
        want = self._model.config.input_dim
        if arr.ndim < 2 or int(np.prod(arr.shape[1:])) != want:
            raise ProbeError(
                f"probe x must be [N, {want}] (or [N, ...] with {want} values per row), got {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.number):
            raise ProbeError(f"probe x must be numeric, got dtype {arr.dtype}")
        return self._tensor(np.asarray(arr, dtype=np.float32).reshape(len(arr), want))

    def code_indices(self, x: np.ndarray) -> np.ndarray:
        """Code per token: x [N, input_dim] -> int64 [N, T]."""
        with torch.inference_mode():
            return self._model.code_indices(self._inputs(x)).cpu().numpy().astype(np.int64)

    def code_usage(self) -> np.ndarray:
        return (
            self._model.quantizer._ema_cluster_size.detach().to("cpu", torch.float64).numpy()[None, :].copy()
        )

    def codebook(self) -> np.ndarray:
        """Code vectors, float32 [1, K, D]."""
        return self._model.quantizer._embedding.weight.detach().cpu().numpy()[None].copy()

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Quantized latents z [N, T*D] -> reconstructions float32 [N, input_dim]."""
        c = self._model.config
        arr = np.asarray(z, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != c.num_tokens * c.embedding_dim:
            raise ProbeError(f"latents must be [N, {c.num_tokens * c.embedding_dim}], got {arr.shape}")
        with torch.inference_mode():
            return self._model.decoder(self._tensor(arr)).cpu().numpy()

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Encode, quantize and decode: x [N, input_dim] -> float32 [N, input_dim]."""
        with torch.inference_mode():
            return self._model.reconstruct(self._inputs(x)).cpu().numpy()


# --- usage from an adapter plus probe data --------------------------------------------------------------


@dataclass(frozen=True)
class CodeUsage:
    """Usage counts of one checkpoint and where they came from.

    counts: float64 [H, K]; source: "data" (model run on probe x), "probe codes" or "ema" (weights only);
    indices: int64 [N, T] when data-driven, with the probe labels [N] if any. `unknown_size` says why K is
    unknown (a quantizer without a codebook tensor that does not state it); counts then run to the
    highest code seen, so used codes and perplexity hold but nothing relative to K does.
    """

    counts: np.ndarray
    source: str
    indices: np.ndarray | None = None
    labels: np.ndarray | None = None
    unknown_size: str | None = None


def probe_codes(probe: ProbeData | None) -> np.ndarray | None:
    """Code indices given as probe data (`codes [N, ...]` int64), or None (row counts are checked by ProbeData)."""
    codes = None if probe is None else probe.codes
    if codes is None:
        return None
    codes = np.asarray(codes)
    if codes.ndim == 0 or not np.issubdtype(codes.dtype, np.integer):
        raise ProbeError(
            f"probe '{CODES_FIELD}' must hold integer code indices [N, ...], got {codes.dtype} {codes.shape}"
        )
    return codes.astype(np.int64, copy=False)


def measure_usage(adapter: CheckpointAdapter, probe: ProbeData | None) -> CodeUsage | None:
    """Best available usage: data-driven (probe x through the model, or probe codes), else EMA, else None."""
    spec = adapter.spec()
    k, h = spec.codebook_size or 0, max(spec.codebook_count, 1)
    labels = probe.labels if probe is not None else None
    if spec.supports_code_indices and probe is not None and probe.x is not None:
        per_head = getattr(adapter, "code_indices_per_head", None)
        heads = per_head(probe.x) if per_head is not None else (adapter.code_indices(probe.x),)
        unknown = None
        if not k:
            unknown = getattr(adapter, "unknown_size_reason", None) or "the codebook size K is unknown"
            k = max((int(idx.max()) + 1 for idx in heads if idx.size), default=1)
        counts = np.stack([code_counts(idx, k) for idx in heads]).astype(np.float64)
        return CodeUsage(counts, "data", heads[0] if len(heads) == 1 else None, labels, unknown)
    codes = probe_codes(probe)
    if codes is not None:
        if h > 1:
            if codes.ndim < 2 or codes.shape[-1] != h:
                raise ProbeError(
                    f"probe codes for {h} codebook heads must be [N, ..., {h}], got {codes.shape}"
                )
            counts = np.stack([code_counts(codes[..., i], k) for i in range(h)]).astype(np.float64)
        else:
            counts = code_counts(codes, k).astype(np.float64)[None]
        return CodeUsage(counts, "probe codes", codes.reshape(len(codes), -1) if h == 1 else None, labels)
    if spec.supports_code_usage:
        counts = adapter.code_usage()
        if silent_usage(counts):
            return None  # a buffer the code never updates: the weights are read instead
        return CodeUsage(counts, "ema")
    return None


def no_usage(name: str) -> ProbeError:
    """The error of a checkpoint `name` whose usage cannot be measured (see `measure_usage`)."""
    return ProbeError(f"{name}: no EMA usage in the weights and no probe data; give probe x or codes")


def silent_usage(counts: np.ndarray) -> bool:
    """An EMA usage buffer that is all zeros: nothing was ever counted in it (the training code does not
    update it), so it is no usage signal."""
    c = np.asarray(counts)
    return c.size > 0 and not np.any(c)


# --- a whole run folder ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunUsage:
    """Usage of every checkpoint in a run folder, ordered by epoch.

    counts: float64 [C, H, K] for C checkpoints; epochs: epoch per checkpoint (file order if unknown).
    """

    names: tuple[str, ...]
    epochs: tuple[int, ...]
    counts: np.ndarray
    sources: tuple[str, ...]


def run_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint files directly in a run folder; CheckpointError when there are none."""

    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"run folder not found: {folder}")
    files = checkpoint_files(folder)
    if not files:
        raise CheckpointError(f"{folder.name}/ holds no checkpoint files (.pt, .pth, .ckpt, .safetensors)")
    return files


def run_usage(
    folder: str | Path,
    probe: ProbeData | None,
    builder: Callable[..., CheckpointAdapter] | None = None,
) -> RunUsage:
    """Usage per checkpoint of a run folder (each file loaded safely and its adapter detected, or made by
    `builder(loaded, probe_x=...)`, a user builder from core.adapters.live, which sees the probe's x)."""

    rows = []
    x = None if probe is None else probe.x
    for i, path in enumerate(run_checkpoints(folder)):
        loaded = load_checkpoint(path)
        adapter = build_adapter(loaded) if builder is None else builder(loaded, probe_x=x)
        if adapter.family != "codebook":
            raise AdapterError(f"{path.name} is a {adapter.family} checkpoint, not a codebook model")
        usage = measure_usage(adapter, probe)
        if usage is None:
            raise no_usage(path.name)
        epoch = loaded.epoch
        rows.append((epoch if epoch is not None else i, path.name, usage))
    rows.sort(key=lambda r: r[0])
    shapes = {r[2].counts.shape for r in rows}
    if len(shapes) > 1:
        raise AdapterError(f"checkpoints in one run must share the codebook shape; found {sorted(shapes)}")
    return RunUsage(
        names=tuple(r[1] for r in rows),
        epochs=tuple(r[0] for r in rows),
        counts=np.stack([r[2].counts for r in rows]),
        sources=tuple(r[2].source for r in rows),
    )
