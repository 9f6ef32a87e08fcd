"""VAE posterior heads found by role: mean / log-variance pairs (linear or conv, named, twin or unnamed), or
one layer with 2 x Z outputs, and the decoder layer that takes z.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from typing import Literal

from .layers import (
    DECODER_ROOTS,
    ENCODER_ROOTS,
    LOG_VARIANCE,
    PATTERNS,
    Layer,
    Shapes,
    layers_of,
    matches,
    under_root,
)

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
