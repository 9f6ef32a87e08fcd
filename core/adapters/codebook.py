"""Adapters for vector-quantised models: the reference VQ-VAE and four codebook layouts found in the wild.

Layouts (after core.checkpoints strips wrapper prefixes; any module path may precede them):
- `vq_ema`: `_embedding.weight [K, D]` + `_ema_cluster_size [K]` + `_ema_w` or `_ema_embedding_sum [K, D]`
- `vq_transposed`: `embed [D, K]` + `cluster_size [K]` + `embed_avg [D, K]`
- `vq_multihead`: `embed [H, K, D]` + `cluster_size [H, K]` (e.g. `_codebook.embed`), or one head
  `embed [K, D]` + `cluster_size [K]`
- `vq_embedding`: a plain `nn.Embedding` codebook (`codebook.weight`, `quantizer.embedding.weight`), no EMA
- `vqvae_digits`: the reference VQ-VAE of core.models.vqvae, plain or component-dict checkpoint; it is
  rebuilt, so code indices come from data.

Weight-only usage is the EMA cluster size per code (`code_usage() -> float64 [H, K]`). Data-driven usage
needs code indices: from the rebuilt model and probe `x`, or given directly as probe `codes`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from ..errors import AdapterError, CheckpointError, ProbeError
from ..metrics.codebook import code_counts
from .base import AdapterSpec, CheckpointAdapter
from .registry import build_adapter, register

if TYPE_CHECKING:
    from ..checkpoints import LoadedCheckpoint
    from ..probe import ProbeData

Shapes = Mapping[str, tuple[int, ...]]
CODES_FIELD = "codes"


@dataclass(frozen=True)
class _Match:
    """Where one codebook sits in a state dict: its weight key, usage key (or None) and orientation."""

    weight: str
    usage: str | None
    transposed: bool = False


def _siblings(key: str, suffix: str) -> str:
    return key[: len(key) - len(suffix)]


def _find_ema(shapes: Shapes) -> list[_Match]:
    found = []
    for key, shape in shapes.items():
        if not key.endswith("_embedding.weight") or len(shape) != 2:
            continue
        prefix = _siblings(key, "_embedding.weight")
        size = shapes.get(prefix + "_ema_cluster_size")
        sums = shapes.get(prefix + "_ema_w") or shapes.get(prefix + "_ema_embedding_sum")
        if size == (shape[0],) and sums == shape:
            found.append(_Match(key, prefix + "_ema_cluster_size"))
    return found


def _find_transposed(shapes: Shapes) -> list[_Match]:
    found = []
    for key, shape in shapes.items():
        if not (key == "embed" or key.endswith(".embed")) or len(shape) != 2:
            continue
        prefix = _siblings(key, "embed")
        if shapes.get(prefix + "cluster_size") == (shape[1],) and shapes.get(prefix + "embed_avg") == shape:
            found.append(_Match(key, prefix + "cluster_size", transposed=True))
    return found


def _find_multihead(shapes: Shapes) -> list[_Match]:
    """`embed [H, K, D]` + `cluster_size [H, K]`, and the single-head `embed [K, D]` + `cluster_size [K]`
    of older releases of the same library (a square [K, K] buffer is left to the transposed layout)."""
    found = []
    for key, shape in shapes.items():
        if not (key == "embed" or key.endswith(".embed")) or len(shape) not in (2, 3):
            continue
        prefix = _siblings(key, "embed")
        if len(shape) == 2 and shape[0] == shape[1]:
            continue
        if shapes.get(prefix + "cluster_size") == shape[:-1]:
            found.append(_Match(key, prefix + "cluster_size"))
    return found


_PLAIN_CODEBOOK = re.compile(
    r"(^|\.)codebook(\.embedding)?\.weight$|(quant|vq)[^.]*\.(\w+\.)*embedding\.weight$"
)


def _find_plain(shapes: Shapes) -> list[_Match]:
    if _find_ema(shapes) or _find_transposed(shapes) or _find_multihead(shapes):
        return []
    return [
        _Match(key, None)
        for key, shape in shapes.items()
        if len(shape) == 2 and _PLAIN_CODEBOOK.search(key.lower())
    ]


def _stack(loaded: LoadedCheckpoint, matches: list[_Match]) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Codebook float32 [H, K, D], usage float64 [H, K] or None, and a note on what was read.

    Several codebooks of one shape become heads; with differing shapes the first is used (and said).
    """
    sd = loaded.state_dict
    books, usages = [], []
    for m in matches:
        w = sd[m.weight].detach().to(torch.float32)
        w = w.T if m.transposed else w
        books.append(w.reshape(-1, *w.shape[-2:]).numpy())
        if m.usage is not None:
            usages.append(sd[m.usage].detach().to(torch.float64).reshape(-1, w.shape[-2]).numpy())
    first = books[0].shape[1:]
    keep = [i for i, b in enumerate(books) if b.shape[1:] == first]
    note = ", ".join(matches[i].weight for i in keep)
    if len(keep) < len(books):
        note += f" (other codebooks of different size ignored: {len(books) - len(keep)})"
    codebook = np.concatenate([books[i] for i in keep])
    usage = np.concatenate([usages[i] for i in keep]) if usages else None
    if not np.isfinite(codebook).all():
        raise AdapterError(f"codebook {matches[0].weight} contains NaN or infinite values")
    return codebook, usage, note


class CodebookAdapter(CheckpointAdapter):
    """A codebook read from weights only: vectors [H, K, D] and, when kept, EMA usage [H, K]."""

    family: ClassVar = "codebook"
    layout: ClassVar[str]
    _finder: ClassVar

    def __init__(self, codebook: np.ndarray, usage: np.ndarray | None, note: str) -> None:
        self._codebook = codebook
        self._usage = usage
        self._note = note

    @classmethod
    def detect(cls, shapes: Shapes, config: Mapping) -> bool:
        return bool(cls._finder(shapes)) and not _is_reference(shapes)

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> CodebookAdapter:
        matches = cls._finder(loaded.shapes())
        if not matches:
            raise AdapterError(f"{loaded.path.name}: no {cls.layout} codebook found")
        return cls(*_stack(loaded, matches))

    def spec(self) -> AdapterSpec:
        h, k, d = self._codebook.shape
        usage = "EMA cluster sizes" if self._usage is not None else "no usage counts (give probe codes)"
        return AdapterSpec(
            family="codebook",
            latent_dim=d,
            codebook_size=k,
            codebook_count=h,
            supports_code_usage=self._usage is not None,
            description=f"{self.layout}: {self._note}; {usage}",
        )

    def codebook(self) -> np.ndarray:
        """Code vectors, float32 [H, K, D] (a copy)."""
        return self._codebook.copy()

    def code_usage(self) -> np.ndarray:
        if self._usage is None:
            raise self._missing("code_usage (the codebook keeps no EMA cluster sizes)")
        return self._usage.copy()


@register
class EmaCodebookAdapter(CodebookAdapter):
    name = "vq_ema"
    layout = "EMA codebook _embedding.weight [K, D]"
    _finder = staticmethod(_find_ema)


@register
class TransposedCodebookAdapter(CodebookAdapter):
    name = "vq_transposed"
    layout = "transposed EMA codebook embed [D, K]"
    _finder = staticmethod(_find_transposed)


@register
class MultiHeadCodebookAdapter(CodebookAdapter):
    name = "vq_multihead"
    layout = "codebook embed [H, K, D] (or one head [K, D])"
    _finder = staticmethod(_find_multihead)


@register
class EmbeddingCodebookAdapter(CodebookAdapter):
    name = "vq_embedding"
    layout = "plain nn.Embedding codebook [K, D]"
    _finder = staticmethod(_find_plain)


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
    """The reference VQ-VAE (core.models.vqvae), rebuilt: code indices and reconstructions from data."""

    name = "vqvae_digits"
    family: ClassVar = "codebook"

    def __init__(self, model: torch.nn.Module) -> None:
        self._model = model

    @classmethod
    def detect(cls, shapes: Shapes, config: Mapping) -> bool:
        return _is_reference(shapes)

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> ReferenceVQVAEAdapter:
        from ..models.vqvae import build_vqvae

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
    indices: int64 [N, T] when data-driven, with the probe labels [N] if any.
    """

    counts: np.ndarray
    source: str
    indices: np.ndarray | None = None
    labels: np.ndarray | None = None


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
        idx = adapter.code_indices(probe.x)
        return CodeUsage(code_counts(idx, k).astype(np.float64)[None], "data", idx, labels)
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
        return CodeUsage(adapter.code_usage(), "ema")
    return None


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
    from ..checkpoints import weight_files

    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"run folder not found: {folder}")
    files = weight_files(folder)
    if not files:
        raise CheckpointError(f"{folder.name}/ holds no checkpoint files (.pt, .pth, .ckpt, .safetensors)")
    return files


def run_usage(folder: str | Path, probe: ProbeData | None) -> RunUsage:
    """Usage per checkpoint of a run folder (each file loaded safely and its adapter detected)."""
    from ..checkpoints import load_checkpoint

    rows = []
    for i, path in enumerate(run_checkpoints(folder)):
        loaded = load_checkpoint(path)
        adapter = build_adapter(loaded)
        if adapter.family != "codebook":
            raise AdapterError(f"{path.name} is a {adapter.family} checkpoint, not a codebook model")
        usage = measure_usage(adapter, probe)
        if usage is None:
            raise ProbeError(
                f"{path.name}: no EMA usage in the weights and no probe data; give probe x or codes"
            )
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
