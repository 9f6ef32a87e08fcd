"""Detection by role: the parts of a model that collapse can be read from, found by name and shape.

Real checkpoints name the same part in many ways (`_vq_vae._embedding.weight`, `quantize_t.embed`,
`bottleneck.level_blocks.0.k`, `fc_mu` / `fc_var`, `z_mean` / `z_log_var`, one `mu_logvar_gen` layer
with 2 x Z outputs, ...). A list of exact keys always falls short, so each role is a row of
ROLE_PATTERNS: the name fragments that suggest it, the shapes it may have and what confirms it. This
module holds the table and the layers (weight + bias groups) every role is found among; one module per
role beside it (codebook, heads, field, data) and `found.find_roles` applies them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Shapes = Mapping[str, tuple[int, ...]]
Family = Literal["flow", "text", "codebook", "posterior"]


@dataclass(frozen=True)
class RolePattern:
    """One row of the role table: what a part is called, what shape it has, what confirms it."""

    role: str
    names: str
    shapes: str
    confirmed_by: str


ROLE_PATTERNS: tuple[RolePattern, ...] = (
    RolePattern(
        "codebook",
        r"(?:^|\.)_?(?:codebooks?|code_book|dictionary)(?:\.weight)?$"
        r"|(?:^|\.)_?(?:embeddings?|embed|emb|centroids|k)(?:\.weight)?$",
        "[K, D], [D, K] or [H, K, D]",
        "a quantizer-like module path, usage or EMA buffers beside it, or D equal to the encoder's output "
        "width and the decoder's input width",
    ),
    RolePattern(
        "quantizer path",
        r"quant|vq|codebook|code_book|bottleneck|dictionary|level_block|rvq|discret",
        "any module path",
        "-",
    ),
    RolePattern(
        "usage",
        r"^_?(?:ema_)?cluster_sizes?(?:_ema)?$|^_?ema_counts?$|^k_elem$",
        "[K], [K, 1], [1, K] or [H, K] beside a codebook",
        "its size equals K (it then decides the codebook's orientation)",
    ),
    RolePattern(
        "ema sums",
        r"^_?(?:ema_w|ema_dw|embed_avg|embed_sum|k_sum|ema_embedding_sum|ema_embed|ema_weight|embedding_avg)$",
        "the codebook's shape",
        "it sits beside the codebook",
    ),
    RolePattern(
        "projection to codes",
        r"pre_?v?q|quant_conv|quantize_conv|quantization_conv|project_in|to_codebook|prequant",
        "Linear [D, C] or Conv [D, C, ...]",
        "its output width is the code dimension D",
    ),
    RolePattern(
        "projection from codes",
        r"post_?quant|post_?v?q|project_out|from_codebook",
        "Linear [C, D] or Conv [C, D, ...]",
        "its input width is the code dimension D",
    ),
    RolePattern(
        "mean head",
        r"(?:^|[_\d])(?:mu|mean|means|loc)(?:$|[_\d])",
        "Linear [Z, H] or Conv [Z, C, ...]",
        "a variance head of the same shape beside it",
    ),
    RolePattern(
        "variance head",
        r"(?:^|[_\d])(?:log_?)?(?:var|variance|sigma|std|sd|scale)(?:$|[_\d])"
        r"|(?:^|[_\d])(?:logvar|logv|lnvar|lv|logsigma|logstd|logscale)(?:$|[_\d])",
        "Linear [Z, H] or Conv [Z, C, ...]",
        "a mean head of the same shape beside it",
    ),
    RolePattern(
        "moments head",
        r"moments|mu_?log_?var|mean_?log_?var|mu_?sigma|mu_?std|latent_params|z_params|dist_params"
        r"|quant_conv|to_latent",
        "Linear [2Z, H] or Conv [2Z, C, ...]; or the encoder's last layer",
        "a decoder-side layer that takes Z inputs",
    ),
    RolePattern(
        "decoder input",
        r"decoder_input|post_?quant|fc_dec|dec_in|from_latent|latent_to|z_to|decoder",
        "Linear [H, Z] or Conv [C, Z, ...]",
        "its input width equals the latent size Z",
    ),
    RolePattern(
        "semantic head",
        r"(?:^|\.|_)(?:semantic|classifier|cls|class_head|aux_head|probe_head)",
        "any",
        "it sits outside the encoder, quantizer and decoder",
    ),
    RolePattern(
        "vector field",
        r".*",
        "an MLP whose first Linear takes D + C inputs and whose last gives D outputs (C <= D / 2)",
        "C conditioning inputs (attributes, time) beside the D-dim state",
    ),
    RolePattern("text bridge", r"^expander$", "[Q, E] plus t5.* weights", "a whole T5 under t5.*"),
)
PATTERNS: dict[str, re.Pattern[str]] = {p.role: re.compile(p.names) for p in ROLE_PATTERNS}
# Variance-head names that only a posterior uses (a bare `scale` or `std` may belong to an affine layer).
LOG_VARIANCE = re.compile(r"log_?(?:var|variance|sigma|std)|lnvar")


def matches(role: str, name: str) -> bool:
    """True when `name` (lower-cased) carries the name fragment of `role` in ROLE_PATTERNS."""
    return PATTERNS[role].search(name.lower()) is not None


# --- layers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """A module path with a `weight` and its parameter shapes, in state-dict order.

    Linear weights are [out, in]; convolution weights [out, in, ...] (transposed convs [in, out, ...]).
    """

    path: str
    params: dict[str, tuple[int, ...]]
    order: int

    @property
    def weight(self) -> tuple[int, ...]:
        return self.params["weight"]

    @property
    def kind(self) -> Literal["linear", "conv", "norm", "other"]:
        rank = len(self.weight)
        if rank == 2:
            return "linear"
        if rank in (3, 4, 5):
            return "conv"
        return "norm" if rank == 1 else "other"

    @property
    def out_width(self) -> int:
        return self.weight[0]

    def in_widths(self) -> set[int]:
        """Possible input widths: [1] for Linear / Conv, also [0] for a convolution that may be transposed."""
        if self.kind == "linear":
            return {self.weight[1]}
        if self.kind == "conv":
            return {self.weight[1], self.weight[0]}
        return set()

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]

    @property
    def parent(self) -> str:
        return self.path.rpartition(".")[0]


def layers_of(shapes: Shapes) -> list[Layer]:
    """Every module path holding a `weight`, in the order its first key appears."""
    groups: dict[str, dict[str, tuple[int, ...]]] = {}
    order: dict[str, int] = {}
    for i, (key, shape) in enumerate(shapes.items()):
        path, _, leaf = key.rpartition(".")
        groups.setdefault(path, {})[leaf] = tuple(shape)
        order.setdefault(path, i)
    return [Layer(p, g, order[p]) for p, g in groups.items() if "weight" in g]


def under_root(path: str, roots: tuple[str, ...]) -> bool:
    """True when a segment of `path` is one of `roots` (leading underscores and `_suffixes` allowed), so
    `encoder.0`, `_encoder._conv_1` and `net.encoder.0` all sit under the encoder."""
    for segment in path.lower().split("."):
        segment = segment.lstrip("_")
        if any(segment == r or segment.startswith(r + "_") for r in roots):
            return True
    return False


ENCODER_ROOTS = ("encoder", "enc", "enc_b", "enc_t", "encoders")
DECODER_ROOTS = ("decoder", "dec", "dec_t", "dec_b", "decoders")
