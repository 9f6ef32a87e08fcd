"""Codebooks found by role: `[K, D]`, `[D, K]` or `[H, K, D]` tensors in a quantizer-like module or beside
EMA buffers, their orientation (and how it was decided) and their usage buffers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .layers import DECODER_ROOTS, ENCODER_ROOTS, Layer, Shapes, layers_of, matches, under_root

# --- codebooks --------------------------------------------------------------------------------------

Orientation = Literal["kd", "dk", "hkd"]


@dataclass(frozen=True)
class CodebookRole:
    """A codebook found by role: where it is, its size, orientation and usage buffers.

    layout "kd": [K, D]; "dk": [D, K] (transposed); "hkd": [H, K, D] (H heads). `usage` is an EMA
    cluster-size buffer read as counts; `counters` are K-sized buffers whose meaning cannot be known,
    listed but never read; `ema` names the EMA running sums when the codebook is updated by EMA.
    """

    key: str
    module: str
    layout: Orientation
    heads: int
    size: int
    dim: int
    usage: str | None
    orientation: str
    ema: str | None = None
    counters: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Short name for summaries: the quantizer module path (or the key for a top-level tensor)."""
        return self.module or self.key

    def describe(self) -> str:
        shape = (
            f"[{self.heads}, {self.size}, {self.dim}]"
            if self.layout == "hkd"
            else (f"[{self.dim}, {self.size}]" if self.layout == "dk" else f"[{self.size}, {self.dim}]")
        )
        read = {"kd": "K x D", "dk": "D x K", "hkd": "H x K x D"}[self.layout]
        usage = f"usage {self.usage} (EMA cluster sizes)" if self.usage else "no usage buffer"
        text = f"codebook {self.key} {shape} read as {read} ({self.orientation}); K = {self.size}, D = {self.dim}; {usage}"
        if self.counters:
            text += f"; counters shown but not read as usage: {', '.join(self.counters)}"
        return text


_NN_EMBEDDING_LEAVES = (
    "embedding",
    "embeddings",
    "_embedding",
    "embed",
    "codebook",
    "codebooks",
    "dictionary",
)
_STRONG_CODEBOOK = re.compile(r"(?:^|\.)_?(?:codebooks?|code_book|dictionary)(?:\.weight)?$")
# Layers only a sequence model has: attention projections and recurrent cells.
SEQUENCE_LAYER = re.compile(
    r"(?:^|\.)(?:self_attn|attn|attention|multihead_attn|cross_attn|encoder_attn|enc_dec_attn)(?:\.|_|$)"
    r"|in_proj_weight$|(?:^|\.)(?:q_proj|k_proj|v_proj|w_q|w_k|w_v)\.weight$|weight_[ih]h_l\d"
)
POSITIONAL = re.compile(r"pos(?:ition(?:al)?)?_?(?:emb|enc|embedding|encoding)|wpe|position_embeddings")
TOKEN_NAME = re.compile(r"tok|word|vocab|src_emb|tgt_emb|trg_emb|wte|lm_head")


def token_table(key: str, shape: tuple[int, ...], shapes: Shapes) -> str | None:
    """Why a [V, d] table is a token embedding indexed by input ids rather than a codebook, or None.

    By role: a layer elsewhere with the table's very shape (an output projection / lm_head tied to it),
    attention or recurrent layers in the model (a sequence model's input table), positional embeddings
    beside it, or a token-like name.
    """
    if len(shape) != 2:
        return None
    if TOKEN_NAME.search(key.lower()):
        return f"{key} is named like a token embedding"
    owner = key.rpartition(".")[0]
    for other, other_shape in shapes.items():
        if (
            other != key
            and other.endswith("weight")
            and tuple(other_shape) == shape
            and other.rpartition(".")[0] != owner
        ):
            return f"{other} has its very shape {list(shape)} (an output projection or another table over the same vocabulary)"
    sequence = next((k for k in shapes if SEQUENCE_LAYER.search(k.lower())), None)
    if sequence is not None:
        return f"the model has attention or recurrent layers ({sequence}): a sequence model's input table"
    positional = next((k for k in shapes if POSITIONAL.search(k.lower())), None)
    if positional is not None:
        return f"positional embeddings sit beside it ({positional})"
    return None


def _quantizer_module(key: str) -> tuple[str, str]:
    """(module owning the tensor, quantizer module whose buffers sit beside it)."""
    module, _, leaf = key.rpartition(".")
    if leaf == "weight":
        return module, module.rpartition(".")[0]
    return module, module


def _siblings(shapes: Shapes, modules: Iterable[str]) -> dict[str, tuple[int, ...]]:
    wanted = {m for m in modules}
    found: dict[str, tuple[int, ...]] = {}
    for key, shape in shapes.items():
        if key.rpartition(".")[0] in wanted:
            found[key] = tuple(shape)
    return found


def _width_hints(layers: list[Layer]) -> set[int]:
    """Code widths D implied by projections into or out of the codes."""
    hints: set[int] = set()
    for layer in layers:
        if layer.kind not in ("linear", "conv"):
            continue
        if matches("projection to codes", layer.name):
            hints.add(layer.out_width)
        elif matches("projection from codes", layer.name):
            hints.add(layer.weight[1])
    return hints


def _autoencoder_width(layers: list[Layer]) -> set[int]:
    """D when the encoder's last layer outputs it and the decoder's first layer takes it, else empty."""
    enc = [
        layer
        for layer in layers
        if under_root(layer.path, ENCODER_ROOTS) and layer.kind in ("linear", "conv")
    ]
    dec = [
        layer
        for layer in layers
        if under_root(layer.path, DECODER_ROOTS) and layer.kind in ("linear", "conv")
    ]
    if not enc or not dec:
        return set()
    return {enc[-1].out_width} & dec[0].in_widths()


def _usage_for(
    sibs: Mapping[str, tuple[int, ...]], sizes: set[int], heads: int
) -> tuple[str | None, int | None]:
    for key, shape in sibs.items():
        if not matches("usage", key.rpartition(".")[2]):
            continue
        n = _k_of(shape, heads)
        if n is not None and n in sizes:
            return key, n
    return None, None


def _k_of(shape: tuple[int, ...], heads: int) -> int | None:
    """K from a usage-like buffer shape [K], [K, 1], [1, K] or [H, K]."""
    if len(shape) == 1:
        return shape[0]
    if len(shape) == 2 and heads > 1 and shape[0] == heads:
        return shape[1]
    if len(shape) == 2 and 1 in shape:
        return shape[0] if shape[1] == 1 else shape[1]
    return None


def _orient(
    key: str, shape: tuple[int, ...], usage_k: int | None, hints: set[int]
) -> tuple[Orientation, str]:
    a, b = shape
    module, _, leaf = key.rpartition(".")
    owner = module.rpartition(".")[2].lower()
    if usage_k is not None and a != b:
        return ("kd" if usage_k == a else "dk"), f"K from the usage buffer of size {usage_k}"
    if leaf == "weight" and owner in _NN_EMBEDDING_LEAVES:
        return "kd", "nn.Embedding stores [num_embeddings, dim]"
    if a != b and (a in hints) != (b in hints):
        return ("dk" if a in hints else "kd"), "D from the width of the layers around the codes"
    if leaf.lstrip("_") in ("embed", "embeddings"):
        return "dk", "a bare `embed` buffer is [dim, n_embed] in the Sonnet-style quantizers"
    if a == b:
        return "kd", "square: [K, D] assumed"
    return ("kd" if a > b else "dk"), "assumed: more codes than dimensions"


def find_codebooks(shapes: Shapes, layers: list[Layer] | None = None) -> list[CodebookRole]:
    """Codebooks anywhere in the key tree (see the `codebook` row of ROLE_PATTERNS)."""
    layers = layers_of(shapes) if layers is None else layers
    hints = _width_hints(layers)
    ae_width = _autoencoder_width(layers)
    found: list[CodebookRole] = []
    taken: set[str] = set()
    for key, shape in shapes.items():
        shape = tuple(shape)
        if len(shape) not in (2, 3) or not matches("codebook", key) or key in taken:
            continue
        module, quantizer = _quantizer_module(key)
        sibs = {k: s for k, s in _siblings(shapes, (module, quantizer)).items() if k != key}
        heads = shape[0] if len(shape) == 3 else 1
        sizes = {shape[1]} if len(shape) == 3 else set(shape)
        usage, usage_k = _usage_for(sibs, sizes, heads)
        ema = next(
            (
                k
                for k, s in sibs.items()
                if matches("ema sums", k.rpartition(".")[2]) and set(s) == set(shape)
            ),
            None,
        )
        quantizer_like = matches("quantizer path", module)
        strong = _STRONG_CODEBOOK.search(key.lower()) is not None
        leaf = key.rpartition(".")[2]
        if leaf == "k" and not quantizer_like:
            continue
        if len(shape) == 3:
            if not (usage or quantizer_like) or leaf.lstrip("_") not in ("embed", "codebooks", "codebook"):
                continue
            layout: Orientation = "hkd"
            how = "[heads, K, D]"
            k, d = shape[1], shape[2]
        else:
            # A codebook by name or place, or else only an embedding whose width D is the encoder's
            # output and the decoder's input (a codebook between them, as in a bare VQ-VAE).
            placed = strong or quantizer_like or usage is not None or ema is not None
            if not placed and not ae_width & set(shape):
                continue
            if not placed and token_table(key, shape, shapes) is not None:
                continue
            layout, how = _orient(key, shape, usage_k, hints | ae_width)
            k, d = (shape[0], shape[1]) if layout == "kd" else (shape[1], shape[0])
            if not placed and d not in ae_width:
                continue
        counters = tuple(
            f"{s_key} {list(s)}"
            for s_key, s in sibs.items()
            if s_key not in (usage, ema)
            and _k_of(s, heads) == k
            and not matches("ema sums", s_key.rpartition(".")[2])
        )
        taken.update(filter(None, (usage, ema)))
        found.append(CodebookRole(key, quantizer, layout, heads, k, d, usage, how, ema, counters))
    return found
