"""The live flow adapter: the field itself, called as `module(z, y)` when its forward takes two inputs, else
the field MLP on `[z, y]`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from ...io.errors import AdapterError, ProbeError
from ...models.flow import flow as euler_flow
from ...roles.field import FieldRole
from ...roles.found import Roles
from ..base import AdapterSpec
from ..flow import DEFAULT_ALPHA, DEFAULT_STEPS, MAX_STEPS, attribute_names, check_flow_inputs

if TYPE_CHECKING:
    pass
from .base import LiveAdapter, evaluating, placement

# --- vector fields ------------------------------------------------------------------------------------


def _positional_inputs(fn: Callable) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in kinds for p in params)


class LiveFlowAdapter(LiveAdapter):
    """A live vector field: flows by calling the module (or its field MLP) in Euler steps."""

    name: ClassVar[str] = "live_flow"
    family: ClassVar = "flow"

    @classmethod
    def build(cls, module: nn.Module, roles: Roles, config: dict) -> LiveFlowAdapter:
        if not roles.fields:
            raise AdapterError(f"{type(module).__name__} has no vector field; {roles.report()}")
        return cls(module, roles, config)

    def __init__(self, module: nn.Module, roles: Roles, config: dict) -> None:
        super().__init__(module, roles, config)
        self.field: FieldRole = roles.fields[0]
        self._names = attribute_names(config, self._attributes)
        steps, alpha = config.get("steps", DEFAULT_STEPS), config.get("alpha", DEFAULT_ALPHA)
        ok = isinstance(steps, int) and 0 < steps <= MAX_STEPS and isinstance(alpha, int | float)
        self._defaults = (int(steps), float(alpha)) if ok else (DEFAULT_STEPS, DEFAULT_ALPHA)

    @property
    def _attributes(self) -> int:
        if self.field.attributes is None:
            return self.field.condition
        first = self._module.state_dict()[f"{self.field.attributes}.weight"]
        return int(first.shape[1])

    def field_fn(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """v(z [N, D], y [N, A]) -> [N, D]: the module itself when its forward takes (z, y), else the field MLP
        on [z, y]. Not wrapped in no_grad or eval mode, so torch.func can differentiate it; do not train it."""
        if _positional_inputs(self._module.forward) >= 2:
            return self._module
        mlp = self._module.get_submodule(self.field.prefix) if self.field.prefix else self._module
        return lambda z, y: mlp(torch.cat([z, y.to(z.dtype)], dim=-1))

    def spec(self) -> AdapterSpec:
        return AdapterSpec(
            family="flow",
            latent_dim=self.field.dim,
            attribute_names=self._names,
            supports_flow=True,
            description=f"live {type(self._module).__name__}: {self.field.describe()}",
            parts=self._roles.parts(),
        )

    def flow_defaults(self) -> tuple[int, float]:
        """(steps, alpha) from the config, else (10, 0.1)."""
        return self._defaults

    def flow(self, z: np.ndarray, y_target: np.ndarray, steps: int, alpha: float) -> np.ndarray:
        """Euler flow of z [N, D] toward y_target [N, A] through the live field: float32 [T+1, N, D]."""
        if not 0 <= int(steps) <= MAX_STEPS or int(steps) != steps:
            raise ProbeError(f"steps must be an integer in 0..{MAX_STEPS}, got {steps}")
        if not np.isfinite(alpha):
            raise ProbeError(f"alpha must be finite, got {alpha}")
        zt, yt = check_flow_inputs(z, y_target, self.field.dim, self._names)
        device, dtype = placement(self._module)
        field = self.field_fn()
        with evaluating(self._module):
            path = euler_flow(field, zt.to(device, dtype), yt.to(device, dtype), int(steps), float(alpha))
        return path.to("cpu", torch.float32).numpy()
