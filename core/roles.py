"""Detection by role: the parts of a model that collapse can be read from, found by name and shape.

Real checkpoints name the same part in many ways (`_vq_vae._embedding.weight`, `quantize_t.embed`,
`bottleneck.level_blocks.0.k`, `fc_mu` / `fc_var`, `z_mean` / `z_log_var`, one `mu_logvar_gen` layer
with 2 x Z outputs, ...). A list of exact keys always falls short, so each role is a row of
ROLE_PATTERNS: the name fragments that suggest it, the shapes it may have and what confirms it.
`find_roles` applies the table anywhere in the key tree (any prefix, any component dict) and records
how each orientation or size was decided, so a wrong guess can be seen. `Roles.report()` says which
roles were found and which are lacking; `describe_data` says when a file holds data, not a model.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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

    @property
    def adapter(self) -> str:
        """The registered weight-only adapter that reads this layout."""
        if self.layout == "hkd" or (self.layout == "kd" and self.key.rpartition(".")[2] == "embed"):
            return "vq_multihead" if self.usage else "vq_embedding"
        if self.usage is None:
            return "vq_embedding"
        return "vq_transposed" if self.layout == "dk" else "vq_ema"

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


# --- posterior heads ---------------------------------------------------------------------------------

Parameterisation = Literal["logvar", "log_std", "std"]


@dataclass(frozen=True)
class HeadsRole:
    """A VAE's posterior heads: where the mean and the variance come from, and the latent size Z.

    `variance` is None for one `moments` layer with 2 x Z outputs (`split` "chunk": first Z rows are
    the mean). `kind` is "linear" or "conv"; `parameterisation` says how the variance head's output is
    read (log-variance, log-std or std). `decoder_input` is the layer that takes z, when found.
    """

    mean: str
    variance: str | None
    kind: Literal["linear", "conv"]
    latent: int
    inputs: int
    parameterisation: Parameterisation
    assumption: str
    decoder_input: str | None = None
    split: Literal["separate", "chunk"] = "separate"
    mismatch: str | None = None
    prior: PriorRole | None = None
    other_prior: str | None = None  # a learned prior's tensors that are not mean / log-variance tables

    def describe(self) -> str:
        heads = (
            f"one {self.kind} layer {self.mean} with 2 x {self.latent} outputs (first half = mean)"
            if self.variance is None
            else f"{self.kind} heads {self.mean} / {self.variance}"
        )
        decoder = (
            f"; decoder input {self.decoder_input}" if self.decoder_input else "; no decoder input found"
        )
        prior = f"; {self.prior.describe()}" if self.prior else ""
        return f"posterior {heads}, Z = {self.latent} ({self.assumption}){decoder}{prior}"


def _parameterisation(name: str) -> tuple[Parameterisation, str]:
    lowered = name.lower()
    if re.search(r"log_?(?:std|sigma|scale|sd)|logstd|logsigma|logscale", lowered):
        return "log_std", f"{name} read as log-std"
    if re.search(r"(?:^|[_\d])(?:std|sigma|scale|sd)(?:$|[_\d])", lowered):
        return "std", f"{name} read as a standard deviation (softplus assumed where it is negative)"
    if re.search(r"log|lnvar|lv", lowered):
        return "logvar", f"{name} read as log-variance"
    return "logvar", f"{name} read as log-variance, as most VAE code does with a 'var' head"


PRIOR_TABLE = re.compile(r"lookup|prior|mixture|component|cluster")
# Learned priors kept in other forms (VampPrior pseudo-inputs, a mixture in one tensor, a prior network).
UNREAD_PRIOR = re.compile(r"(?:^|[._])(?:prior|pseudo_?inputs?|vamp|z_pre|mixture|gmm)(?:[._]|$)")


def _head_layers(layers: list[Layer]) -> list[Layer]:
    """Layers that may be posterior heads: not a learned prior's tables (`mu_lookup`, `logvar_prior`)."""
    return [
        layer
        for layer in layers
        if layer.kind in ("linear", "conv") and not PRIOR_TABLE.search(layer.name.lower())
    ]


@dataclass(frozen=True)
class PriorRole:
    """A learned mixture prior: tables of K component means and log-variances [K, Z] (nn.Embedding
    lookups such as `mu_lookup` / `logvar_lookup`), read as p(z) = 1/K sum_k N(mu_k, exp(logvar_k))."""

    mean: str
    logvar: str
    components: int
    latent: int

    def describe(self) -> str:
        return (
            f"learned mixture prior {self.mean} / {self.logvar} ({self.components} components of {self.latent} "
            "dims, equal weights assumed)"
        )


def find_prior(layers: list[Layer], latent: int) -> PriorRole | None:
    """The learned prior's mean and log-variance tables [K, Z] for a latent of size Z, or None."""
    tables = [
        layer
        for layer in layers
        if layer.kind == "linear" and PRIOR_TABLE.search(layer.name.lower()) and layer.weight[1] == latent
    ]
    means = [t for t in tables if matches("mean head", t.name) and not matches("variance head", t.name)]
    variances = [t for t in tables if matches("variance head", t.name)]
    for mean in means:
        twin = next((v for v in variances if v.weight == mean.weight), None)
        if twin is not None:
            return PriorRole(mean.path, twin.path, mean.weight[0], latent)
    return None


def _decoder_input(layers: list[Layer], z: int, exclude: set[str], after: int) -> str | None:
    candidates = [
        layer
        for layer in layers
        if layer.path not in exclude and layer.kind in ("linear", "conv") and z in layer.in_widths()
    ]
    named = [layer for layer in candidates if matches("decoder input", layer.path)]
    later = [layer for layer in (named or candidates) if layer.order > after]
    pick = later or named
    return pick[0].path if pick else None


def _stem(name: str, role: str) -> str:
    return PATTERNS[role].sub("_", name.lower())


def find_heads(shapes: Shapes, layers: list[Layer] | None = None) -> list[HeadsRole]:
    """Posterior heads anywhere in the key tree: mean / variance pairs, twin numbered heads, 2 x Z heads.

    A hierarchical VAE gives one pair per level. Pairs under the decoder (the top-down priors of a ladder
    VAE) are left out when the encoder has pairs of its own: they do not read the input.
    """
    every = layers_of(shapes) if layers is None else layers
    layers = _head_layers(every)
    pairs = _named_pairs(layers) or _twin_pairs(layers)
    if pairs:
        posterior = [p for p in pairs if not under_root(p.mean, DECODER_ROOTS)]
        found = posterior or pairs
    else:
        found = _moments_heads(layers)
    other = next((k for k in shapes if UNREAD_PRIOR.search(k.lower())), None)
    roles = []
    for h in found:
        prior = find_prior(every, h.latent)
        roles.append(dataclasses.replace(h, prior=prior, other_prior=None if prior else other))
    return roles


def _slot(layer: Layer) -> tuple[str, str]:
    """(sibling group, role name) of a layer: its parent and its name, except for a layer of a module
    list (`mu_s.0`, `log_var_s.0`), whose name is the list's and whose siblings share its index."""
    if layer.name.isdigit() and "." in layer.parent:
        grand, _, listed = layer.parent.rpartition(".")
        return f"{grand}[{layer.name}]", listed
    return layer.parent, layer.name


def _named_pairs(layers: list[Layer]) -> list[HeadsRole]:
    groups: dict[str, list[tuple[str, Layer]]] = {}
    for layer in layers:
        group, name = _slot(layer)
        groups.setdefault(group, []).append((name, layer))
    found: list[HeadsRole] = []
    for group in groups.values():
        means = [(n, m) for n, m in group if matches("mean head", n) and not matches("variance head", n)]
        variances = [(n, v) for n, v in group if matches("variance head", n) and not matches("mean head", n)]
        for mean_name, mean in means:
            same = [(n, v) for n, v in variances if v.weight == mean.weight]
            stem = [
                (n, v)
                for n, v in (same or variances)
                if _stem(n, "variance head") == _stem(mean_name, "mean head")
            ]
            pick = (stem or same or (variances if len(means) == 1 and len(variances) == 1 else []))[:1]
            if not pick:
                continue
            variances.remove(pick[0])
            found.append(_heads_role(layers, mean, pick[0][1], variance_name=pick[0][0]))
        if not means:
            found.extend(_unnamed_mean(layers, group, variances))
    return found


def _unnamed_mean(
    layers: list[Layer], group: list[tuple[str, Layer]], variances: list[tuple[str, Layer]]
) -> list[HeadsRole]:
    """A log-variance head whose mean goes by another name (`embedding` / `log_var`): the one sibling of
    its shape, when a later layer takes Z inputs. Only log-variance names count (a lone `scale` or
    `std` beside a `shift` is more often an affine layer than a VAE)."""
    if len(variances) != 1 or not LOG_VARIANCE.search(variances[0][0].lower()):
        return []
    var_name, var = variances[0]
    twins = [layer for _, layer in group if layer is not var and layer.weight == var.weight]
    if len(twins) != 1:
        return []
    mean = twins[0]
    if _decoder_input(layers, var.out_width, {mean.path, var.path}, max(mean.order, var.order)) is None:
        return []
    assumption = f"{mean.path} read as the mean: the one sibling of {var.path}'s shape"
    return [_heads_role(layers, mean, var, variance_name=var_name, note=assumption)]


def _heads_role(
    layers: list[Layer],
    mean: Layer,
    var: Layer,
    assumption: str | None = None,
    *,
    variance_name: str | None = None,
    note: str | None = None,
) -> HeadsRole:
    """Heads `mean` / `var`; `assumption` replaces the parameterisation read from the variance head's
    name (`variance_name`, default its own), `note` is said beside it."""
    param, how = _parameterisation(variance_name or var.name)
    how = f"{note}; {how}" if note else how
    z = mean.out_width
    mismatch = None
    if var.weight[0] != z:
        mismatch = f"{mean.path} outputs {z} latents but {var.path} outputs {var.weight[0]}"
    decoder = _decoder_input(layers, z, {mean.path, var.path}, max(mean.order, var.order))
    return HeadsRole(
        mean=mean.path,
        variance=var.path,
        kind="linear" if mean.kind == "linear" else "conv",
        latent=z,
        inputs=mean.weight[1],
        parameterisation="logvar" if assumption else param,
        assumption=assumption or how,
        decoder_input=decoder,
        mismatch=mismatch,
    )


_SHORT_VARIANCE = (
    "svl"  # `fcm` / `fcs`, `fcm` / `fcv`, `fcm` / `fcl`: mean and sigma, variance or log-variance
)


def _twin_pairs(layers: list[Layer]) -> list[HeadsRole]:
    """Heads named like `fc21` / `fc22` or `fcm` / `fcs`: adjacent siblings equal but for a last digit
    (or an m beside an s, v or l), of one non-square
    shape (square ones are more likely consecutive layers of one MLP), feeding a Z-input layer."""
    found: list[HeadsRole] = []
    for a, b in itertools.pairwise(layers):  # parallel heads are registered one after the other
        if a.parent != b.parent or a.weight != b.weight or a.kind != "linear" or a.weight[0] == a.weight[1]:
            continue
        if len(a.name) != len(b.name) or a.name[:-1] != b.name[:-1]:
            continue
        digits = a.name[-1].isdigit() and b.name[-1].isdigit()
        short = a.name[-1] == "m" and b.name[-1] in _SHORT_VARIANCE
        if not (digits or short):
            continue
        if _decoder_input(layers, a.out_width, {a.path, b.path}, b.order) is None:
            continue
        assumption = f"twin heads: {a.path} read as the mean and {b.path} as the log-variance"
        if short:
            assumption += (
                f" (its name's last letter {b.name[-1]!r} could also mean a std or log-std: a live model's "
                "forward shows which)"
            )
        found.append(_heads_role(layers, a, b, assumption))
    return found


def _moments_heads(layers: list[Layer]) -> list[HeadsRole]:
    """One layer with 2 x Z outputs whose first half is the mean, feeding a decoder that takes Z."""
    candidates: list[tuple[int, Layer, str]] = []
    encoder = [layer for layer in layers if under_root(layer.path, ENCODER_ROOTS)]
    for layer in layers:
        if layer.out_width % 2:
            continue
        if matches("moments head", layer.name) or (
            matches("mean head", layer.name) and matches("variance head", layer.name)
        ):
            candidates.append((0, layer, f"{layer.name} named for the posterior's moments"))
        elif encoder and layer is encoder[-1]:
            candidates.append((1, layer, "the encoder's last layer"))
    for _, layer, why in sorted(candidates, key=lambda c: (c[0], -c[1].order)):
        z = layer.out_width // 2
        exclude = {layer.path}
        decoder = _decoder_input(layers, z, exclude, layer.order)
        if decoder is None:
            continue
        return [
            HeadsRole(
                mean=layer.path,
                variance=None,
                kind="linear" if layer.kind == "linear" else "conv",
                latent=z,
                inputs=layer.weight[1],
                parameterisation="logvar",
                assumption=(
                    f"{why}; 2 x Z outputs split as mean then log-variance (torch.chunk) unless a live "
                    "model's forward returns them interleaved"
                ),
                decoder_input=decoder,
                split="chunk",
            )
        ]
    return []


# --- vector fields -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRole:
    """An MLP vector field v(z, c): `prefix` holds the chain, first Linear takes D + C, last gives D.

    C is the conditioning width next to the D-dim state (A attributes, a time input, or an attribute
    encoder's H outputs when `attributes` names that encoder).
    """

    prefix: str
    layers: tuple[str, ...]
    dim: int
    condition: int
    attributes: str | None = None

    def describe(self) -> str:
        via = f" via {self.attributes}" if self.attributes else ""
        return (
            f"vector field {self.prefix or '(top level)'}: {len(self.layers)} Linear layers, state D = {self.dim}, "
            f"{self.condition} conditioning inputs{via}"
        )


def _chains(layers: list[Layer]) -> dict[str, list[Layer]]:
    chains: dict[str, list[Layer]] = {}
    for layer in layers:
        chains.setdefault(layer.parent, []).append(layer)
    return chains


def find_fields(shapes: Shapes, layers: list[Layer] | None = None) -> list[FieldRole]:
    """MLP chains whose first Linear takes D + C and last gives D, covering every matrix in the file."""
    layers = layers_of(shapes) if layers is None else layers
    matrices = [layer for layer in layers if layer.kind != "norm"]
    if not matrices or any(layer.kind != "linear" for layer in matrices):
        return []
    found = []
    for prefix, chain in _chains(layers).items():
        linears = [layer for layer in chain if layer.kind == "linear"]
        if len(linears) < 2 or any(a.out_width not in b.in_widths() for a, b in itertools.pairwise(linears)):
            continue
        d, first_in = linears[-1].out_width, linears[0].weight[1]
        c = first_in - d
        if not 0 < c < d:
            continue
        others = [layer for layer in matrices if layer not in linears]
        attr = [layer for layer in others if layer.out_width == c]
        if len(others) > len(attr) or (others and len(attr) != len(others)):
            continue
        # Attributes or a time input are few next to the state; a truncated MLP leaves a large remainder.
        if not attr and 2 * c > d:
            continue
        found.append(
            FieldRole(prefix, tuple(layer.path for layer in linears), d, c, attr[0].parent if attr else None)
        )
    return found


# --- the whole file ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Roles:
    """Every role found in one state dict, and what each family would still need."""

    codebooks: tuple[CodebookRole, ...] = ()
    heads: tuple[HeadsRole, ...] = ()
    fields: tuple[FieldRole, ...] = ()
    text_bridge: bool = False
    semantic_heads: tuple[str, ...] = ()
    encoder: bool = False
    decoder: bool = False
    tensors: int = 0
    examples: tuple[str, ...] = field(default_factory=tuple)
    hints: tuple[str, ...] = ()

    @property
    def family(self) -> Family | None:
        """The family these roles make up (text, then flow, codebook, posterior), or None."""
        if self.text_bridge:
            return "text"
        if self.fields:
            return "flow"
        if self.codebooks:
            return "codebook"
        if self.heads:
            return "posterior"
        return None

    def parts(self) -> tuple[str, ...]:
        """Plain names of the parts present (fix texts name only these)."""
        parts: list[str] = ["encoder"] if self.encoder else []
        if self.codebooks:
            parts.append("codebook")
            if any(c.usage for c in self.codebooks):
                parts.append("ema usage")
        if self.heads:
            parts.append("posterior heads")
        if self.decoder or any(h.decoder_input for h in self.heads):
            parts.append("decoder")
        if self.fields:
            parts.append("vector field")
        if self.semantic_heads:
            parts.append("semantic heads")
        return tuple(parts)

    def found(self) -> list[str]:
        rows = [c.describe() for c in self.codebooks] + [h.describe() for h in self.heads]
        rows += [f.describe() for f in self.fields]
        if self.text_bridge:
            rows.append("text bridge (expander + t5.*)")
        if self.semantic_heads:
            rows.append(f"semantic heads {', '.join(self.semantic_heads[:4])}")
        return rows

    def lacking(self) -> list[str]:
        """What is missing: for the family found, the parts that would make more evidence possible."""
        family = self.family
        if family is None:
            return [
                "a codebook ([K, D], [D, K] or [H, K, D] named like embedding / embed / codebook / dictionary, "
                "in a quantizer-like module or beside EMA buffers; FSQ / LFQ-style quantizers keep no codebook "
                "tensor: give --builder and probe x so their code indices are read from the forward)",
                "posterior heads (sibling mean and log-variance / sigma layers, linear or conv, or one layer "
                "with 2 x Z outputs feeding a decoder that takes Z)",
                "a vector field (an MLP whose first layer takes D + A inputs and whose last gives D)",
                "a text bridge (expander + t5.*)",
            ]
        if family == "codebook" and not any(c.usage for c in self.codebooks):
            return ["usage buffers (EMA cluster sizes): usage needs probe codes or x through --builder"]
        if family == "posterior" and not any(h.decoder_input for h in self.heads):
            return ["a layer that takes z (decoder input): decoder columns cannot be checked"]
        return []

    def report(self) -> str:
        """One paragraph: what to give for a model of no weight-readable family (hints), roles found and
        roles lacking."""
        found = "; ".join(self.found()) or "nothing of a known role"
        lead = "; ".join(self.hints) + "; " if self.hints else ""
        text = f"{lead}roles found: {found}"
        missing = self.lacking()
        if missing:
            text += f"; lacking: {'; '.join(missing)}"
        if self.family is None and self.examples:
            text += f" ({self.tensors} tensors, e.g. {', '.join(self.examples)})"
        return text

    def to_json(self) -> dict:
        return {
            "family": self.family,
            "found": self.found(),
            "lacking": self.lacking(),
            "hints": list(self.hints),
        }


def _is_bridge(shapes: Shapes) -> bool:
    expander = shapes.get("expander")
    return expander is not None and len(expander) == 2 and any(k.startswith("t5.") for k in shapes)


TIME_INPUT = re.compile(r"time_?(?:emb|embed|embedding|mlp|proj)|t_?emb|temb|timestep|sinusoidal|fourier")
TEXT_HINT = (
    "it looks like a text model ({why}): give --builder module:function returning your model and probe "
    "token ids `x` [N, T] for greedy decoding and the `mode` finding"
)
FLOW_HINT = (
    "it looks like a velocity field with a time input ({why}): give --builder module:function returning "
    "your model v(x, t[, c]) and probe noise `x` (with conditions such as `c` / `y`, and real samples `x1` "
    "for spread and mode coverage) to integrate it"
)


def _hints(shapes: Shapes, layers: list[Layer]) -> tuple[str, ...]:
    """What to give for a model of no weight-readable family: a text model's token tables, a velocity
    field's time input (a time embedding, or an MLP taking a few inputs more than it gives)."""
    hints = []
    for key, shape in shapes.items():
        if len(shape) == 2 and matches("codebook", key):
            why = token_table(key, tuple(shape), shapes)
            if why is not None:
                hints.append(TEXT_HINT.format(why=f"token embedding {key}: {why}"))
                break
    if hints:  # a text model's tables and projections are no velocity field
        return tuple(hints)
    timed = next((layer.path for layer in layers if TIME_INPUT.search(layer.path.lower())), None)
    matrices = [layer for layer in layers if layer.kind != "norm"]
    if timed is None:
        for prefix, chain in _chains(layers).items():
            linears = [layer for layer in chain if layer.kind == "linear"]
            # the whole model is this one chain (an encoder beside a decoder is no velocity field)
            whole = len(linears) == len(matrices)
            chained = all(a.out_width in b.in_widths() for a, b in itertools.pairwise(linears))
            if (
                whole
                and len(linears) >= 2
                and chained
                and 0 < linears[0].weight[1] - linears[-1].out_width <= 32
            ):
                timed = (
                    f"{prefix or 'the top-level MLP'} takes {linears[0].weight[1]} inputs and gives "
                    f"{linears[-1].out_width}: the state plus time and conditions?"
                )
                break
    else:
        timed = f"time embedding {timed}"
    if timed is not None:
        hints.append(FLOW_HINT.format(why=timed))
    return tuple(hints)


def find_roles(shapes: Shapes) -> Roles:
    """All roles in a (prefix-stripped or not) state dict's key -> shape mapping."""
    shapes = {k: tuple(v) for k, v in shapes.items()}
    layers = layers_of(shapes)
    bridge = _is_bridge(shapes)
    codebooks = () if bridge else tuple(find_codebooks(shapes, layers))
    fields = () if bridge or codebooks else tuple(find_fields(shapes, layers))
    heads = () if bridge or codebooks or fields else tuple(find_heads(shapes, layers))
    semantic = tuple(
        dict.fromkeys(
            layer.path for layer in layers if matches("semantic head", layer.path) and layer.kind == "linear"
        )
    )
    return Roles(
        codebooks,
        heads,
        fields,
        bridge,
        semantic,
        encoder=any(under_root(layer.path, ENCODER_ROOTS) for layer in layers),
        decoder=any(under_root(layer.path, DECODER_ROOTS) for layer in layers),
        tensors=len(shapes),
        examples=tuple(list(shapes)[:4]),
        hints=() if bridge or codebooks or fields or heads else _hints(shapes, layers),
    )


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


@functools.lru_cache(maxsize=64)
def _roles_cached(items: tuple[tuple[str, tuple[int, ...]], ...]) -> Roles:
    return find_roles(dict(items))


def roles_of(shapes: Shapes) -> Roles:
    """`find_roles`, memoised on the key -> shape items (every adapter's detect asks the same question)."""
    return _roles_cached(tuple((k, tuple(v)) for k, v in shapes.items()))
