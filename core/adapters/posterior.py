"""VAE adapters: MLP VAEs rebuilt from shapes, and any VAE's posterior heads read from weights alone.

Heads are found by role (core.roles): `fc_mu` / `fc_var`, `z_mean` / `z_log_var`, `linear_mu` /
`linear_logvar`, `mu` / `log_std`, twin heads `fc21` / `fc22`, linear or conv, or one layer with
2 x Z outputs. When the encoder, the heads and the decoder are all Linear (or norm) layers the model is
rebuilt: layer sizes from weight shapes (encoder.* or the layers before the heads, then decoder_input /
decoder.* / final_layer or the layers after them); what shapes cannot say (activation, output
activation) from the checkpoint's config, found in the file or beside it. Anything else (convolutions,
2 x Z heads, a hierarchical VAE's several levels of heads) opens as `vae_heads`: each level's heads and the
decoder input layer that takes its z read from the weights, for a weight-only estimate; `--builder` runs
the user's own class on probe x.

Why one module: the MLP rebuild and the heads-only reading share the plan of where encoder, heads and
decoder sit (MLPPlan, mlp_plan) and the head weights they read.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from ..io.errors import AdapterError, ProbeError
from ..metrics.posterior import as_logvar, input_column_norms
from ..models.mlp import Group, chain, groups_at, is_mlp_layer, layer_groups, linears
from ..models.posterior import FeatureVAE, Step, make_activation
from ..roles.found import roles_of
from ..roles.heads import HeadsRole
from ..roles.layers import layers_of
from .base import AdapterSpec, CheckpointAdapter
from .registry import register

if TYPE_CHECKING:
    from ..io.checkpoints import LoadedCheckpoint

DECODER_PARTS = ("decoder_input", "decoder", "final_layer")
_CHUNK = 4096

ACTIVATION_KEYS = ("activation", "act", "nonlinearity", "hidden_activation", "act_fn")
OUTPUT_ACTIVATION_KEYS = ("output_activation", "out_activation", "final_activation")
LATENT_KEYS = ("latent_dim", "z_dim", "latent_size", "n_latents")
FEATURE_KEYS = ("in_features", "input_dim", "in_dim", "n_features")
FREE_BITS_KEYS = ("free_bits", "free_bits_floor", "kl_free_bits")
MEAN_KEYS = ("mean", "feature_mean")
STD_KEYS = ("std", "feature_std")
FC_MU_HEADS = ("fc_mu", ("fc_var", "fc_logvar"))


@dataclass(frozen=True)
class HeadWeights:
    """Head weights for the estimate without probe data (float32 numpy).

    mu_weight / logvar_weight [Z, H] (conv heads flattened to [Z, C * k...]), mu_bias / logvar_bias [Z].
    """

    mu_weight: np.ndarray
    mu_bias: np.ndarray
    logvar_weight: np.ndarray
    logvar_bias: np.ndarray


def config_value(config: Mapping, keys: tuple[str, ...]) -> object | None:
    """First value under any of `keys`, searching nested mappings breadth-first."""
    queue: list[Mapping] = [config]
    while queue:
        current = queue.pop(0)
        for key in keys:
            if key in current and not isinstance(current[key], Mapping):
                return current[key]
        queue.extend(v for v in current.values() if isinstance(v, Mapping))
    return None


def first_heads(shapes: Mapping[str, tuple[int, ...]]) -> HeadsRole | None:
    """The first posterior heads found by role, or None (also when the file is of another family)."""
    heads = all_heads(shapes)
    return heads[0] if heads else None


def all_heads(shapes: Mapping[str, tuple[int, ...]]) -> tuple[HeadsRole, ...]:
    """Every pair of posterior heads found by role (one per level of a hierarchical VAE), or ()."""
    roles = roles_of(shapes)
    return roles.heads if roles.family == "posterior" else ()


@dataclass(frozen=True)
class HeadLevel:
    """One pair of posterior heads read from the weights: where they are, their weights, and the norms
    of the decoder input columns that take their z (float64 [Z] and the default-init scale) if found."""

    heads: HeadsRole
    weights: HeadWeights
    decoder: tuple[np.ndarray, float] | None


@dataclass(frozen=True)
class MLPPlan:
    """Where an MLP VAE's encoder and decoder layers are: (path, {param: shape}) in forward order."""

    heads: HeadsRole
    encoder: list[Group]
    decoder: list[Group]

    @property
    def is_mlp(self) -> bool:
        """Linear layers only, widths chaining encoder -> heads -> decoder -> input width (else the heads
        alone are read: a CVAE's decoder takes [z, label], a GM-VAE's prior tables follow the heads)."""
        layers = self.encoder + self.decoder
        if not (self.encoder and self.decoder) or not all(is_mlp_layer(p) for _, p in layers):
            return False
        enc, dec = (
            [p["weight"] for _, p in part if len(p["weight"]) == 2] for part in (self.encoder, self.decoder)
        )
        if not enc or not dec:
            return True  # nothing to chain: the rebuild says what is missing
        chained = all(b[1] == a[0] for seq in (enc, dec) for a, b in itertools.pairwise(seq))
        ends = (dec[0][1], dec[-1][0], self.heads.inputs) == (self.heads.latent, enc[0][1], enc[-1][0])
        return chained and ends


def mlp_plan(shapes: Mapping[str, tuple[int, ...]], heads: HeadsRole) -> MLPPlan:
    """Encoder and decoder layers around separate heads: by prefix when named, else by state-dict order."""
    if heads.variance is None:
        return MLPPlan(heads, [], [])
    head_paths = {heads.mean, heads.variance}
    layers = [layer for layer in layers_of(shapes) if layer.path not in head_paths]
    orders = [layer.order for layer in layers_of(shapes) if layer.path in head_paths]
    if any(k.startswith("encoder.") for k in shapes):
        encoder = [g for g in layer_groups(shapes, "encoder") if g[0] not in head_paths]
    else:
        encoder = groups_at(shapes, [layer.path for layer in layers if layer.order < min(orders)])
    if any(k.startswith(p + ".") for k in shapes for p in DECODER_PARTS):
        decoder = [g for p in DECODER_PARTS for g in layer_groups(shapes, p) if g[0] not in head_paths]
    else:
        decoder = groups_at(shapes, [layer.path for layer in layers if layer.order > max(orders)])
    return MLPPlan(heads, encoder, decoder)


def _is_fc_mu(heads: HeadsRole) -> bool:
    return heads.mean == FC_MU_HEADS[0] and heads.variance in FC_MU_HEADS[1]


def rebuild_vae(
    plan: MLPPlan, shapes: Mapping[str, tuple[int, ...]], config: Mapping
) -> tuple[FeatureVAE, str]:
    """Module with the checkpoint's layer sizes and config activations, plus how the activation was chosen."""
    heads = plan.heads
    if heads.mismatch:
        raise AdapterError(heads.mismatch)
    configured = config_value(config, ACTIVATION_KEYS)
    activation = str(configured or "relu")
    output_activation = config_value(config, OUTPUT_ACTIVATION_KEYS)
    if not plan.encoder:
        raise AdapterError("no encoder Linear layers found before the heads: cannot rebuild the VAE encoder")
    if not plan.decoder:
        raise AdapterError("no decoder Linear layers found (decoder_input / decoder.* / final_layer)")
    try:
        encoder = chain(plan.encoder, activation, act_after_last=True)
        decoder = chain(plan.decoder, activation, act_after_last=False)
        if output_activation is not None:
            decoder.append(Step(None, make_activation(str(output_activation))))
    except ValueError as exc:
        raise AdapterError(f"config: {exc}") from None
    built = {}
    for name in (heads.mean, heads.variance):
        weight = shapes.get(f"{name}.weight")
        if weight is None or len(weight) != 2:
            raise AdapterError(f"VAE head {name}.weight missing or not a matrix (got {weight})")
        built[name] = nn.Linear(weight[1], weight[0], bias=f"{name}.bias" in shapes)
    mu, logvar = built[heads.mean], built[heads.variance]
    _check_sizes(encoder, decoder, heads.mean, mu, heads.variance, logvar, config)
    label = f"{activation} from config" if configured else "relu assumed: no activation in config"
    return FeatureVAE(encoder, (heads.mean, mu), (heads.variance, logvar), decoder), label


def _check_sizes(
    encoder: list[Step],
    decoder: list[Step],
    mu_name: str,
    mu: nn.Linear,
    logvar_name: str,
    logvar: nn.Linear,
    config: Mapping,
) -> None:
    enc, dec = list(linears(encoder)), list(linears(decoder))
    if not enc:
        raise AdapterError("no encoder Linear layers found: cannot rebuild the VAE encoder")
    if not dec:
        raise AdapterError("no decoder Linear layers found (decoder_input / decoder.* / final_layer)")
    for layers in (enc, dec):
        for (prev_path, prev), (path, layer) in itertools.pairwise(layers):
            if layer.in_features != prev.out_features:
                raise AdapterError(
                    f"{path} takes {layer.in_features} inputs but {prev_path} outputs {prev.out_features}"
                )
    width = enc[-1][1].out_features
    for name, head in ((mu_name, mu), (logvar_name, logvar)):
        if head.in_features != width:
            raise AdapterError(
                f"{name} takes {head.in_features} inputs but the encoder ends at width {width}"
            )
    if dec[0][1].in_features != mu.out_features:
        raise AdapterError(
            f"{mu_name} outputs {mu.out_features} latents but the decoder takes {dec[0][1].in_features}"
        )
    features = enc[0][1].in_features
    if dec[-1][1].out_features != features:
        raise AdapterError(
            f"the decoder outputs {dec[-1][1].out_features} features but the encoder takes {features}"
        )
    for keys, actual, what in (
        (LATENT_KEYS, mu.out_features, "latents"),
        (FEATURE_KEYS, features, "features"),
    ):
        declared = config_value(config, keys)
        if isinstance(declared, int) and not isinstance(declared, bool) and declared != actual:
            raise AdapterError(f"the config says {declared} {what} but the weights have {actual}")


def _feature_scale(config: Mapping, features: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) float32 [F] when the config records a channel-wise normalisation of F features."""
    values = [config_value(config, keys) for keys in (MEAN_KEYS, STD_KEYS)]
    try:
        mean, std = (np.asarray(v, dtype=np.float32) for v in values)
    except (TypeError, ValueError):
        return None
    if mean.shape != (features,) or std.shape != (features,) or not (std > 0).all():
        return None
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        return None
    return mean, std


class _VAEAdapter(CheckpointAdapter):
    """MLP VAEs rebuilt from shapes; subclasses say which head spellings they take."""

    family: ClassVar = "posterior"
    fc_mu: ClassVar[bool]

    def __init__(
        self,
        model: FeatureVAE,
        *,
        activation: str = "relu",
        free_bits: float | None = None,
        feature_scale: tuple[np.ndarray, np.ndarray] | None = None,
        heads: HeadsRole | None = None,
        parts: tuple[str, ...] = (),
    ) -> None:
        self.model = model.eval()
        self.activation = activation  # e.g. "elu from config"
        self.free_bits = free_bits
        self.feature_scale = feature_scale
        self.parameterisation = heads.parameterisation if heads is not None else "logvar"
        self._assumption = heads.assumption if heads is not None else ""
        self._parts = parts

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        found = all_heads(shapes)
        heads = found[0] if len(found) == 1 else None  # a hierarchical VAE is not one MLP
        return (
            heads is not None
            and heads.kind == "linear"
            and _is_fc_mu(heads) == cls.fc_mu
            and mlp_plan(shapes, heads).is_mlp
        )

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> CheckpointAdapter:
        shapes = loaded.shapes()
        heads = first_heads(shapes)
        if heads is None or heads.variance is None:
            raise AdapterError(
                f"adapter {cls.name!r} needs separate mean and log-variance heads; {roles_of(shapes).report()}"
            )
        model, activation = rebuild_vae(mlp_plan(shapes, heads), shapes, loaded.config)
        wanted = set(model.state_dict())
        state = {k: v.float() for k, v in loaded.state_dict.items() if k in wanted}
        missing = sorted(wanted - set(state))
        if missing:
            raise AdapterError(f"checkpoint lacks {len(missing)} VAE tensors, e.g. {', '.join(missing[:3])}")
        model.load_state_dict(state, strict=True)
        free_bits = config_value(loaded.config, FREE_BITS_KEYS)
        floor = (
            float(free_bits)
            if isinstance(free_bits, int | float) and not isinstance(free_bits, bool)
            else None
        )
        scale = _feature_scale(loaded.config, model.in_features)
        return cls(
            model,
            activation=activation,
            free_bits=floor,
            feature_scale=scale,
            heads=heads,
            parts=roles_of(shapes).parts(),
        )

    def spec(self) -> AdapterSpec:
        widths = [m.out_features for m in self.model._encoder if isinstance(m, nn.Linear)]
        return AdapterSpec(
            family="posterior",
            latent_dim=self.model.latent_dim,
            supports_posterior=True,
            supports_decode=True,
            description=(
                f"MLP VAE {self.model.in_features} -> {widths} -> {self.model.latent_dim} latents "
                f"(heads {self.model.mu_name}/{self.model.logvar_name}, {self.activation}; {self._assumption})"
            ),
            parts=self._parts,
        )

    def _rows(self, array: np.ndarray, width: int, what: str) -> np.ndarray:
        a = np.asarray(array)
        if a.ndim < 2:
            raise ProbeError(f"{what} must be [N, {width}], got shape {a.shape}")
        a = a.reshape(len(a), int(np.prod(a.shape[1:])))
        if a.shape[1] != width:
            raise ProbeError(
                f"{what} has {a.shape[1]} values per row but {self.name} expects {width} "
                f"(shape {np.asarray(array).shape})"
            )
        if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise ProbeError(f"{what} must be finite numbers")
        return a.astype(np.float32, copy=False)

    def _run(self, fn, a: np.ndarray) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
        outs: list[list[np.ndarray]] = []
        with torch.inference_mode():
            for start in range(0, len(a), _CHUNK):
                result = fn(self._tensor(a[start : start + _CHUNK]))
                result = result if isinstance(result, tuple) else (result,)
                outs.append([r.float().cpu().numpy() for r in result])
        if not outs:
            return []
        return [np.concatenate(parts) for parts in zip(*outs, strict=True)]

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, logvar) float32 [N, Z] for inputs x [N, F] (or [N, ...] with F values per row)."""
        a = self._rows(x, self.model.in_features, "x")
        if len(a) == 0:
            empty = np.zeros((0, self.model.latent_dim), np.float32)
            return empty, empty.copy()
        mu, raw = self._run(self.model.encode, a)
        return mu, as_logvar(raw, self.parameterisation).astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Reconstructions float32 [N, F] for latents z [N, Z]."""
        a = self._rows(z, self.model.latent_dim, "z")
        if len(a) == 0:
            return np.zeros((0, self.model.in_features), np.float32)
        return self._run(self.model.decode, a)[0]

    def denormalise(self, a: np.ndarray) -> np.ndarray:
        """Model-space features [N, F] back to data units with the config's per-feature mean / std.

        Unchanged (as float32) when the config records no channel-wise normalisation.
        """
        a = np.asarray(a, dtype=np.float32)
        if self.feature_scale is None:
            return a
        mean, std = self.feature_scale
        return a.reshape(len(a), -1) * std + mean

    def head_weights(self) -> HeadWeights:
        """Copies of the mu / logvar head weights and biases."""
        mu, logvar = self.model.mu_head, self.model.logvar_head

        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().float().cpu().numpy().copy()

        def bias(head: nn.Linear) -> np.ndarray:
            return np.zeros(head.out_features, np.float32) if head.bias is None else arr(head.bias)

        return HeadWeights(
            mu_weight=arr(mu.weight),
            mu_bias=bias(mu),
            logvar_weight=arr(logvar.weight),
            logvar_bias=bias(logvar),
        )


@register
class FcMuVAEAdapter(_VAEAdapter):
    """MLP VAEs with `fc_mu` / `fc_var` (or `fc_logvar`) heads, as in common PyTorch VAE collections."""

    name: ClassVar[str] = "vae_fc_mu"
    fc_mu: ClassVar[bool] = True


@register
class MuLogvarVAEAdapter(_VAEAdapter):
    """MLP VAEs with heads of any other spelling (`mu` / `logvar`, `z_mean` / `z_log_var`, `fc21` / `fc22`)."""

    name: ClassVar[str] = "vae_mu_logvar"
    fc_mu: ClassVar[bool] = False


def _rows_2d(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().reshape(t.shape[0], -1).numpy().copy()


def read_head_weights(state: Mapping[str, torch.Tensor], heads: HeadsRole) -> HeadWeights:
    """Head weights of `heads` from a state dict (a 2 x Z head split into its mean and variance halves)."""

    def bias(path: str, z: int) -> np.ndarray:
        b = state.get(f"{path}.bias")
        return np.zeros(z, np.float32) if b is None else b.detach().float().cpu().numpy().copy()

    z = heads.latent
    if heads.variance is None:
        w, b = _rows_2d(state[f"{heads.mean}.weight"]), bias(heads.mean, 2 * z)
        return HeadWeights(w[:z], b[:z], w[z:], b[z:])
    return HeadWeights(
        _rows_2d(state[f"{heads.mean}.weight"]),
        bias(heads.mean, z),
        _rows_2d(state[f"{heads.variance}.weight"]),
        bias(heads.variance, z),
    )


@register
class HeadsOnlyVAEAdapter(CheckpointAdapter):
    """Any VAE whose heads are found by role but which cannot be rebuilt from shapes (conv, 2 x Z heads,
    several levels of heads).

    Reads each level's heads and the decoder input layer that takes its z for a weight-only estimate;
    probe x needs the user's own model class (`--builder`).
    """

    name: ClassVar[str] = "vae_heads"
    family: ClassVar = "posterior"

    def __init__(self, levels: tuple[HeadLevel, ...], parts: tuple[str, ...] = ()) -> None:
        if not levels:
            raise AdapterError("no posterior heads given")
        self.levels = levels
        self.heads = levels[0].heads
        self._parts = parts

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        found = all_heads(shapes)
        return len(found) > 1 or (len(found) == 1 and not mlp_plan(shapes, found[0]).is_mlp)

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> HeadsOnlyVAEAdapter:
        shapes = loaded.shapes()
        found = all_heads(shapes)
        if not found:
            raise AdapterError(f"{loaded.path.name}: no posterior heads found; {roles_of(shapes).report()}")
        levels = []
        for heads in found:
            if heads.mismatch:
                raise AdapterError(heads.mismatch)
            weights = read_head_weights(loaded.state_dict, heads)
            for name, array in vars(weights).items():
                if not np.isfinite(array).all():
                    raise AdapterError(
                        f"{loaded.path.name}: the posterior heads {heads.mean} contain NaN or inf ({name})"
                    )
            decoder = None
            if heads.decoder_input is not None:
                w = loaded.state_dict[f"{heads.decoder_input}.weight"].detach().float().numpy()
                decoder = input_column_norms(w, heads.latent)
            levels.append(HeadLevel(heads, weights, decoder))
        return cls(tuple(levels), roles_of(shapes).parts())

    def spec(self) -> AdapterSpec:
        described = (
            self.heads.describe()
            if len(self.levels) == 1
            else f"{len(self.levels)} levels of posterior heads: "
            + "; ".join(level.heads.describe() for level in self.levels)
        )
        return AdapterSpec(
            family="posterior",
            latent_dim=self.heads.latent,
            description=(
                f"{described}; weights only: the model cannot be rebuilt from its shapes, so "
                "probe x needs your own model class (--builder module:function)"
            ),
            parts=self._parts,
        )

    def head_levels(self) -> tuple[HeadLevel, ...]:
        """Every level's heads, weights and decoder columns (copies), first level first."""
        return tuple(_copied(level) for level in self.levels)

    def head_weights(self) -> HeadWeights:
        """Copies of the first level's mean / variance head weights (rows flattened) and biases."""
        return _copied(self.levels[0]).weights

    def decoder_columns(self) -> tuple[np.ndarray, float] | None:
        """(norm per latent input of the first level's decoder input layer float64 [Z], its default-init
        scale), or None."""
        return _copied(self.levels[0]).decoder


def _copied(level: HeadLevel) -> HeadLevel:
    """`level` with copies of its arrays (adapters are shared read-only)."""
    weights = HeadWeights(**{name: a.copy() for name, a in vars(level.weights).items()})
    decoder = None if level.decoder is None else (level.decoder[0].copy(), level.decoder[1])
    return HeadLevel(level.heads, weights, decoder)
