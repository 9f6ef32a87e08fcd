"""VAE adapters: MLP VAEs with `fc_mu` / `fc_var` or `mu` / `logvar` heads.

Layer sizes are read off weight shapes (encoder.*, heads, decoder_input, decoder.*, final_layer);
what shapes cannot say (activation, output activation) comes from the checkpoint's config, which
`load_checkpoint` finds in the file or beside it (sibling config.json, Hydra ../.hydra/config.yaml).
Plain state dicts and Lightning checkpoints (wrapper prefix already stripped by the loader) both work.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import AdapterError, ProbeError
from ..models.vae import FeatureVAE, Step, make_activation
from .base import AdapterSpec, CheckpointAdapter
from .registry import register

if TYPE_CHECKING:
    from ..checkpoints import LoadedCheckpoint

DECODER_PARTS = ("decoder_input", "decoder", "final_layer")
_CHUNK = 4096

ACTIVATION_KEYS = ("activation", "act", "nonlinearity", "hidden_activation", "act_fn")
OUTPUT_ACTIVATION_KEYS = ("output_activation", "out_activation", "final_activation")
LATENT_KEYS = ("latent_dim", "z_dim", "latent_size", "n_latents")
FEATURE_KEYS = ("in_features", "input_dim", "in_dim", "n_features")
FREE_BITS_KEYS = ("free_bits", "free_bits_floor", "kl_free_bits")
MEAN_KEYS = ("mean", "feature_mean")
STD_KEYS = ("std", "feature_std")


@dataclass(frozen=True)
class HeadWeights:
    """Head weights for the estimate without probe data (float32 numpy).

    mu_weight / logvar_weight [Z, H], mu_bias / logvar_bias [Z].
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


def _layer_groups(shapes: Mapping[str, tuple[int, ...]], prefix: str) -> list[tuple[str, dict[str, tuple]]]:
    """Layers under `prefix` in forward order: (layer path, {param name: shape}).

    nn.Sequential indices sort numerically; named submodules keep the file's order.
    """
    groups: dict[str, dict[str, tuple]] = {}
    for key, shape in shapes.items():
        if key.startswith(prefix + "."):
            path, _, param = key.rpartition(".")
            groups.setdefault(path, {})[param] = tuple(shape)
    parts = {p: p[len(prefix) + 1 :].split(".") if p != prefix else [] for p in groups}
    names = list(groups)
    if all(s.isdigit() for ps in parts.values() for s in ps):
        names.sort(key=lambda n: [int(s) for s in parts[n]])
    return [(n, groups[n]) for n in names]


def _build_layer(path: str, params: dict[str, tuple]) -> nn.Module:
    weight = params.get("weight")
    if weight is None:
        raise AdapterError(f"layer {path} has no weight ({', '.join(params)}); cannot rebuild it from shapes")
    if len(weight) == 2:
        return nn.Linear(weight[1], weight[0], bias="bias" in params)
    if len(weight) == 1 and "running_mean" in params:
        return nn.BatchNorm1d(weight[0])
    if len(weight) == 1:
        return nn.LayerNorm(weight[0], elementwise_affine=True, bias="bias" in params)
    raise AdapterError(
        f"layer {path} has a weight of shape {tuple(weight)}: only MLP (Linear) VAEs can be rebuilt from "
        "shapes; use --builder module:function for convolutional models"
    )


def _chain(
    shapes: Mapping[str, tuple[int, ...]], prefixes: tuple[str, ...], activation: str, *, act_after_last: bool
) -> list[Step]:
    """Steps for the layers under `prefixes`; activation after each Linear (and its norm) but the last."""
    layers = [
        (path, _build_layer(path, params)) for p in prefixes for path, params in _layer_groups(shapes, p)
    ]
    linear_at = [i for i, (_, m) in enumerate(layers) if isinstance(m, nn.Linear)]
    steps: list[Step] = []
    for i, (path, module) in enumerate(layers):
        steps.append(Step(path, module))
        next_is_norm = i + 1 < len(layers) and not isinstance(layers[i + 1][1], nn.Linear)
        closes_block = not next_is_norm and any(j <= i for j in linear_at)
        is_last_block = not any(j > i for j in linear_at)
        if closes_block and (act_after_last or not is_last_block):
            steps.append(Step(None, make_activation(activation)))
    return steps


def _linears(steps: list[Step]) -> Iterator[tuple[str, nn.Linear]]:
    for step in steps:
        if isinstance(step.module, nn.Linear):
            yield step.path or "?", step.module


def rebuild_vae(
    shapes: Mapping[str, tuple[int, ...]], config: Mapping, mu_name: str, logvar_name: str
) -> tuple[FeatureVAE, str]:
    """Module with the checkpoint's layer sizes and config activations, plus how the activation was chosen."""
    configured = config_value(config, ACTIVATION_KEYS)
    activation = str(configured or "relu")
    output_activation = config_value(config, OUTPUT_ACTIVATION_KEYS)
    try:
        encoder = _chain(shapes, ("encoder",), activation, act_after_last=True)
        decoder = _chain(shapes, DECODER_PARTS, activation, act_after_last=False)
        if output_activation is not None:
            decoder.append(Step(None, make_activation(str(output_activation))))
    except ValueError as exc:
        raise AdapterError(f"config: {exc}") from None
    heads = {}
    for name in (mu_name, logvar_name):
        weight = shapes.get(f"{name}.weight")
        if weight is None or len(weight) != 2:
            raise AdapterError(f"VAE head {name}.weight missing or not a matrix (got {weight})")
        heads[name] = nn.Linear(weight[1], weight[0], bias=f"{name}.bias" in shapes)
    mu, logvar = heads[mu_name], heads[logvar_name]
    _check_sizes(encoder, decoder, mu_name, mu, logvar_name, logvar, config)
    label = f"{activation} from config" if configured else "relu assumed: no activation in config"
    return FeatureVAE(encoder, (mu_name, mu), (logvar_name, logvar), decoder), label


def _check_sizes(
    encoder: list[Step],
    decoder: list[Step],
    mu_name: str,
    mu: nn.Linear,
    logvar_name: str,
    logvar: nn.Linear,
    config: Mapping,
) -> None:
    enc, dec = list(_linears(encoder)), list(_linears(decoder))
    if not enc:
        raise AdapterError("no encoder.* Linear layers found: cannot rebuild the VAE encoder")
    if not dec:
        raise AdapterError("no decoder Linear layers found (decoder_input / decoder.* / final_layer)")
    for chain in (enc, dec):
        for (prev_path, prev), (path, layer) in itertools.pairwise(chain):
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
    if logvar.out_features != mu.out_features:
        raise AdapterError(
            f"{mu_name} outputs {mu.out_features} latents but {logvar_name} outputs {logvar.out_features}"
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
    """Shared behaviour; subclasses only name their heads."""

    family: ClassVar = "posterior"
    mu_names: ClassVar[tuple[str, ...]]
    logvar_names: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        model: FeatureVAE,
        *,
        activation: str = "relu",
        free_bits: float | None = None,
        feature_scale: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.model = model.eval()
        self.activation = activation  # e.g. "elu from config"
        self.free_bits = free_bits
        self.feature_scale = feature_scale

    @classmethod
    def _heads(cls, shapes: Mapping[str, tuple[int, ...]]) -> tuple[str, str] | None:
        mu = next((n for n in cls.mu_names if len(shapes.get(f"{n}.weight", ())) == 2), None)
        logvar = next((n for n in cls.logvar_names if len(shapes.get(f"{n}.weight", ())) == 2), None)
        return (mu, logvar) if mu and logvar else None

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        has_encoder = any(k.startswith("encoder.") for k in shapes)
        has_decoder = any(k.startswith(p + ".") for k in shapes for p in DECODER_PARTS)
        return cls._heads(shapes) is not None and has_encoder and has_decoder

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> CheckpointAdapter:
        shapes = loaded.shapes()
        heads = cls._heads(shapes)
        if heads is None:
            raise AdapterError(
                f"adapter {cls.name!r} needs heads {'/'.join(cls.mu_names)} and {'/'.join(cls.logvar_names)}"
            )
        model, activation = rebuild_vae(shapes, loaded.config, *heads)
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
        return cls(model, activation=activation, free_bits=floor, feature_scale=scale)

    def spec(self) -> AdapterSpec:
        widths = [m.out_features for m in self.model._encoder if isinstance(m, nn.Linear)]
        return AdapterSpec(
            family="posterior",
            latent_dim=self.model.latent_dim,
            supports_posterior=True,
            supports_decode=True,
            description=(
                f"MLP VAE {self.model.in_features} -> {widths} -> {self.model.latent_dim} latents "
                f"(heads {self.model.mu_name}/{self.model.logvar_name}, {self.activation})"
            ),
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
        mu, logvar = self._run(self.model.encode, a)
        return mu, logvar

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
    """VAEs with `fc_mu` / `fc_var` (or `fc_logvar`) heads, as in common PyTorch VAE collections."""

    name: ClassVar[str] = "vae_fc_mu"
    mu_names: ClassVar[tuple[str, ...]] = ("fc_mu",)
    logvar_names: ClassVar[tuple[str, ...]] = ("fc_var", "fc_logvar")


@register
class MuLogvarVAEAdapter(_VAEAdapter):
    """VAEs with heads named `mu` / `logvar` (often Lightning + Hydra projects)."""

    name: ClassVar[str] = "vae_mu_logvar"
    mu_names: ClassVar[tuple[str, ...]] = ("mu",)
    logvar_names: ClassVar[tuple[str, ...]] = ("logvar", "log_var")
