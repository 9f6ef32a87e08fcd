"""Vector-field adapters: attribute-conditioned flows of unit embeddings (family "flow").

Two layouts told apart by key names, and any other MLP field found by role (core.roles: first Linear
takes D + A inputs, last gives D); D (embedding dim), A (attributes) and H (hidden) come from shapes:
- `fclf_network`: learning-to-flow `VectorFieldNetwork` (`network.0` ... `network.8`).
- `fclf_attr_mlp`: the sibling layout (`attr_mlp.0`, `mlp.0/2/4`, scalar `scale`).
- `fclf_mlp`: any other MLP v([z, y]) (e.g. `net.0` ... `net.6` with SELU), its activation from the config
  (`activation`, ...) or ReLU assumed, which the description says.

Attribute names come from the checkpoint config (`attribute_names` / `attributes` / `attr_names`,
searched in nested sections too) when it lists A strings, else `attr_0` ... `attr_{A-1}`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from ..io.errors import AdapterError, ProbeError
from ..models.flow import AttributeMLPField, ChainField, VectorFieldNetwork, flow
from ..models.mlp import chain, groups_at
from ..roles.field import FieldRole
from ..roles.found import roles_of
from .base import AdapterSpec, CheckpointAdapter
from .posterior import ACTIVATION_KEYS, config_value
from .registry import register

if TYPE_CHECKING:
    from ..io.checkpoints import LoadedCheckpoint

NAME_KEYS = ("attribute_names", "attributes", "attr_names")
NETWORK_LAYERS = (0, 1, 3, 4, 6, 8)
ATTR_MLP_KEYS = frozenset(
    [f"{p}.{s}" for p in ("attr_mlp.0", "mlp.0", "mlp.2", "mlp.4") for s in ("weight", "bias")] + ["scale"]
)
NETWORK_KEYS = frozenset(f"network.{i}.{s}" for i in NETWORK_LAYERS for s in ("weight", "bias"))
MAX_STEPS = 10_000
# Rows per flowed chunk are chosen so one chunk's path [T+1, rows, D] holds about this many floats (64 MB).
FLOW_CHUNK_ELEMENTS = 16 * 1024 * 1024
DEFAULT_STEPS = 10
DEFAULT_ALPHA = 0.1


def _dims_network(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int, int] | None:
    """(D, A, H) if the shapes form a learning-to-flow VectorFieldNetwork, else None."""
    if set(shapes) != NETWORK_KEYS:
        return None
    h, d_plus_a = (shapes["network.0.weight"] + (0, 0))[:2]
    d = shapes["network.8.weight"][0] if len(shapes["network.8.weight"]) == 2 else 0
    expected = {
        "network.0.weight": (h, d_plus_a),
        "network.0.bias": (h,),
        "network.1.weight": (h,),
        "network.1.bias": (h,),
        "network.3.weight": (h, h),
        "network.3.bias": (h,),
        "network.4.weight": (h,),
        "network.4.bias": (h,),
        "network.6.weight": (h, h),
        "network.6.bias": (h,),
        "network.8.weight": (d, h),
        "network.8.bias": (d,),
    }
    if any(tuple(shapes[k]) != v for k, v in expected.items()) or not (h > 0 and d > 0 and d_plus_a > d):
        return None
    return d, d_plus_a - d, h


def _dims_attr_mlp(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int, int] | None:
    """(D, A, H) if the shapes form the sibling attr_mlp / mlp layout, else None."""
    if set(shapes) != ATTR_MLP_KEYS:
        return None
    h, a = (shapes["attr_mlp.0.weight"] + (0, 0))[:2]
    d = shapes["mlp.4.weight"][0] if len(shapes["mlp.4.weight"]) == 2 else 0
    expected = {
        "attr_mlp.0.weight": (h, a),
        "attr_mlp.0.bias": (h,),
        "mlp.0.weight": (h, d + h),
        "mlp.0.bias": (h,),
        "mlp.2.weight": (h, h),
        "mlp.2.bias": (h,),
        "mlp.4.weight": (d, h),
        "mlp.4.bias": (d,),
    }
    if any(tuple(shapes[k]) != v for k, v in expected.items()) or tuple(shapes["scale"]) not in ((), (1,)):
        return None
    return (d, a, h) if min(d, a, h) > 0 else None


def attribute_names(config: Mapping, count: int) -> tuple[str, ...]:
    """Names of the `count` attributes from the config, else attr_0 ... attr_{count-1}."""
    queue: list[Mapping] = [config]
    while queue:
        current = queue.pop(0)
        for key in NAME_KEYS:
            value = current.get(key)
            if (
                isinstance(value, list | tuple)
                and len(value) == count
                and all(isinstance(s, str) for s in value)
            ):
                return tuple(value)
        queue.extend(v for v in current.values() if isinstance(v, Mapping))
    return tuple(f"attr_{i}" for i in range(count))


def flow_settings(config: Mapping) -> tuple[int, float]:
    """(steps, alpha) the model was trained with, from config keys `steps` / `alpha`, else (10, 0.1)."""
    steps, alpha = config.get("steps", DEFAULT_STEPS), config.get("alpha", DEFAULT_ALPHA)
    try:
        steps, alpha = int(steps), float(alpha)
    except (TypeError, ValueError):
        return DEFAULT_STEPS, DEFAULT_ALPHA
    if not (0 < steps <= MAX_STEPS and np.isfinite(alpha)):
        return DEFAULT_STEPS, DEFAULT_ALPHA
    return steps, alpha


def check_flow_inputs(
    z: np.ndarray, y_target: np.ndarray, dim: int, names: tuple[str, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated float32 tensors (z [N, D], y [N, A]) for a field of state size `dim` and attributes `names`."""
    z = np.asarray(z)
    y = np.asarray(y_target)
    if z.ndim != 2:
        raise ProbeError(f"embeddings must be [N, D], got shape {z.shape}")
    if z.shape[1] != dim:
        raise ProbeError(f"embedding dim {z.shape[1]} does not match the model's {dim}")
    a = len(names)
    if y.ndim != 2 or y.shape[1] != a:
        raise ProbeError(f"target attributes must be [N, {a}] ({', '.join(names)}), got shape {y.shape}")
    if len(y) != len(z):
        raise ProbeError(f"{len(z)} embeddings but {len(y)} target attribute rows")
    z = z.astype(np.float32)
    if not np.isfinite(z).all():
        bad = int((~np.isfinite(z)).any(axis=1).sum())
        raise ProbeError(f"{bad} of {len(z)} embeddings contain NaN or inf; drop or fix those rows")
    if not np.isfinite(y.astype(np.float32)).all():
        raise ProbeError("target attributes contain NaN or inf")
    norms = np.linalg.norm(z, axis=1)
    if (norms == 0).any():
        raise ProbeError(f"{int((norms == 0).sum())} embeddings are all zeros (no direction to flow)")
    return torch.from_numpy(z), torch.from_numpy(y.astype(np.float32))


class _FlowAdapter(CheckpointAdapter):
    """Shared flow, validation and spec for both layouts; subclasses say how to read the weights."""

    family: ClassVar = "flow"
    description: ClassVar[str]
    # Set by each layout: shapes -> (D, A, H) or None, and (D, A, H) -> an untrained module.
    _dims: ClassVar[Callable[[Mapping[str, tuple[int, ...]]], tuple[int, int, int] | None]]
    _build: ClassVar[Callable[[int, int, int], nn.Module]]

    def __init__(
        self,
        module: nn.Module,
        names: tuple[str, ...],
        steps: int = DEFAULT_STEPS,
        alpha: float = DEFAULT_ALPHA,
    ) -> None:
        self._module = module.eval().float()
        for p in self._module.parameters():
            p.requires_grad_(False)
        self._dim = int(module.embedding_dim)
        self._names = names
        self._steps, self._alpha = steps, alpha

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        return cls._dims(shapes) is not None

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> CheckpointAdapter:
        state = {k: v.detach().to("cpu", torch.float32) for k, v in loaded.state_dict.items()}
        dims = cls._dims({k: tuple(v.shape) for k, v in state.items()})
        if dims is None:
            raise AdapterError(
                f"{loaded.path.name} is not a {cls.name} checkpoint "
                f"(keys: {', '.join(sorted(loaded.state_dict)[:6])} ...)"
            )
        module = cls._build(*dims)
        if "scale" in state:
            state["scale"] = state["scale"].reshape(())
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise AdapterError(f"cannot load {loaded.path.name} into {cls.name}: {exc}") from None
        if not all(torch.isfinite(p).all() for p in module.parameters()):
            raise AdapterError(f"{loaded.path.name}: the weights contain NaN or inf")
        return cls(module, attribute_names(loaded.config, dims[1]), *flow_settings(loaded.config))

    def spec(self) -> AdapterSpec:
        return AdapterSpec(
            family="flow",
            latent_dim=self._dim,
            attribute_names=self._names,
            supports_flow=True,
            description=self.description,
        )

    def flow(self, z: np.ndarray, y_target: np.ndarray, steps: int, alpha: float) -> np.ndarray:
        """Euler flow of z [N, D] (re-normalised) toward y_target [N, A]: float32 [T+1, N, D].

        Rows are flowed in chunks on the adapter's device and each step is written into the one output
        array as it is made, so memory is the output plus one chunk's step.
        """
        if not 0 <= int(steps) <= MAX_STEPS or int(steps) != steps:
            raise ProbeError(f"steps must be an integer in 0..{MAX_STEPS}, got {steps}")
        if not np.isfinite(alpha):
            raise ProbeError(f"alpha must be finite, got {alpha}")
        zt, yt = check_flow_inputs(z, y_target, self._dim, self._names)
        out = np.empty((int(steps) + 1, *zt.shape), dtype=np.float32)
        rows = max(1, FLOW_CHUNK_ELEMENTS // ((int(steps) + 1) * self._dim))
        with torch.inference_mode():
            for start in range(0, len(zt), rows):
                part = slice(start, start + rows)
                into = torch.from_numpy(out[:, part])
                flow(
                    self._module, zt[part].to(self.device), yt[part].to(self.device), int(steps), alpha, into
                )
        return out

    def flow_defaults(self) -> tuple[int, float]:
        """(steps, alpha) recorded in the checkpoint config, else (10, 0.1)."""
        return self._steps, self._alpha

    def field_fn(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The raw field v(z [N, D], y [N, A]) -> [N, D] as a torch function (weights frozen).

        For divergence / curl with torch.func: fix y and pass `lambda z: field(z, y)`. It is not
        wrapped in no_grad so jvp / vjp can differentiate through z; callers must not train it. On a GPU
        the function takes and returns CPU tensors (the moves are differentiable too).
        """
        if self.device == "cpu":
            return self._module
        module, device = self._module, self.device
        return lambda z, y: module(z.to(device), y.to(device)).to(z.device)


@register
class FlowNetworkAdapter(_FlowAdapter):
    """Learning-to-flow `VectorFieldNetwork`: keys network.0/1/3/4/6/8."""

    name = "fclf_network"
    description = "Vector field v(z, y) = MLP([z, y]) (learning-to-flow VectorFieldNetwork layout)"
    _dims = staticmethod(_dims_network)
    _build = staticmethod(VectorFieldNetwork)


@register
class FlowAttrMLPAdapter(_FlowAdapter):
    """Sibling layout: attr_mlp.0, mlp.0/2/4 and a scalar scale."""

    name = "fclf_attr_mlp"
    description = "Vector field v(z, y) = scale * MLP([z, attr_mlp(y)]) (attr_mlp / mlp layout, SiLU assumed)"
    _dims = staticmethod(_dims_attr_mlp)
    _build = staticmethod(AttributeMLPField)


def generic_field(shapes: Mapping[str, tuple[int, ...]]) -> FieldRole | None:
    """An MLP field found by role that is neither of the two named layouts, or None."""
    if _dims_network(shapes) is not None or _dims_attr_mlp(shapes) is not None:
        return None
    roles = roles_of(shapes)
    fields = [f for f in roles.fields if f.attributes is None]
    return fields[0] if roles.family == "flow" and fields else None


@register
class FlowMLPAdapter(_FlowAdapter):
    """Any MLP field v(z, y) = MLP([z, y]) found by role, rebuilt from shapes."""

    name = "fclf_mlp"
    description = "Vector field v(z, y) = MLP([z, y]) rebuilt from shapes"

    def __init__(
        self, module: nn.Module, names: tuple[str, ...], steps: int, alpha: float, note: str
    ) -> None:
        super().__init__(module, names, steps, alpha)
        self._note = note

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        return generic_field(shapes) is not None

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> CheckpointAdapter:

        shapes = loaded.shapes()
        role = generic_field(shapes)
        if role is None:
            raise AdapterError(f"{loaded.path.name}: no MLP vector field found; {roles_of(shapes).report()}")
        configured = config_value(loaded.config, ACTIVATION_KEYS)
        activation = str(configured or "relu")
        params = [k for k in shapes if k.startswith(f"{role.prefix}.")] if role.prefix else list(shapes)
        paths = list(dict.fromkeys(k.rpartition(".")[0] for k in params))
        try:
            steps = chain(groups_at(shapes, paths), activation, act_after_last=False)
        except ValueError as exc:
            raise AdapterError(f"config: {exc}") from None
        module = ChainField(steps, role.dim, role.condition)
        state = {k: v.detach().to("cpu", torch.float32) for k, v in loaded.state_dict.items()}
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise AdapterError(f"cannot load {loaded.path.name} into an MLP field: {exc}") from None
        if not all(torch.isfinite(p).all() for p in module.parameters()):
            raise AdapterError(f"{loaded.path.name}: the weights contain NaN or inf")
        how = f"{activation} from config" if configured else "ReLU assumed: no activation in the config"
        note = f"{role.describe()}; {how}"
        return cls(
            module, attribute_names(loaded.config, role.condition), *flow_settings(loaded.config), note
        )

    def spec(self) -> AdapterSpec:
        return dataclasses.replace(super().spec(), description=f"{self.description} ({self._note})")
