"""A live generative flow: the user's velocity field v(x, t[, c]) integrated from probe noise.

Flow matching, rectified flows and continuous normalising flows collapse too: every noise sample ends on
one of a few points. A module whose forward takes a time parameter (`t`, `time`, `timestep(s)`, `tau`)
beside the state is such a field, whatever its layers (an MLP on `cat(t, one_hot(c), x)` in any order,
a conv U-Net with time and label embeddings): it is called with its own signature, the state first, the
time by name, and every other parameter named like a probe field (`c`, `y`, `labels`, ...) from the
probe, row for row. Euler steps integrate probe `x` (noise) from t0 to t1.

Config keys (all optional): `steps` (Euler steps, default 50, at most MAX_STEPS), `t0` / `t1` (default
0 -> 1, noise at t = 0 as flow matching writes it; give t0 = 1, t1 = 0 for the other convention),
`chunk` (rows per call).
"""

from __future__ import annotations

import inspect
import re
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ...io.errors import AdapterError, CollapseExplorerError, ProbeError
from ...roles.found import Roles
from ..base import AdapterSpec
from .base import LiveAdapter, evaluating, placement, tensor_of, tensors_in

TIME_PARAMETER = re.compile(r"^(?:t|time|times|timestep|timesteps|tau|t_emb_in)$")
DEFAULT_FLOW_STEPS = 50
MAX_STEPS = 1000


def time_parameter(module: nn.Module, method: str | None = None) -> str | None:
    """The forward's time parameter name when it takes one after the state, else None."""
    call = getattr(module, method) if method else module.forward
    try:
        params = list(inspect.signature(call).parameters)
    except (TypeError, ValueError):
        return None
    return next((p for p in params[1:] if TIME_PARAMETER.match(p.lower())), None)


def _number(config: dict, key: str, default: float) -> float:
    value = config.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    return float(value) if ok else default


class LiveGenerativeFlowAdapter(LiveAdapter):
    """Endpoints of probe noise integrated through a live velocity field v(x, t[, c])."""

    name: ClassVar[str] = "live_generative_flow"
    family: ClassVar = "flow"

    @classmethod
    def build(cls, module: nn.Module, roles: Roles, config: dict) -> LiveGenerativeFlowAdapter | None:
        method = config.get("forward") if isinstance(config.get("forward"), str) else None
        time = time_parameter(module, method)
        return None if time is None else cls(module, roles, config, time)

    def __init__(self, module: nn.Module, roles: Roles, config: dict, time: str) -> None:
        super().__init__(module, roles, config)
        self.time = time
        steps = config.get("steps", DEFAULT_FLOW_STEPS)
        ok = isinstance(steps, int) and not isinstance(steps, bool) and 0 < steps <= MAX_STEPS
        self.steps = int(steps) if ok else DEFAULT_FLOW_STEPS
        self.t0, self.t1 = _number(config, "t0", 0.0), _number(config, "t1", 1.0)
        self._time_shape: str | None = None  # "[N]" or "[N, 1]", as the first call accepted

    def spec(self) -> AdapterSpec:
        return AdapterSpec(
            family="flow",
            supports_flow=True,
            description=(
                f"live {type(self._module).__name__}: velocity field forward(x, {self.time}=...), Euler "
                f"{self.steps} steps from t = {self.t0:g} to {self.t1:g}"
            ),
            parts=("vector field",),
        )

    def conditions(self) -> dict[str, np.ndarray]:
        """The probe fields the forward takes besides x and the time (by parameter name)."""
        return {k: v for k, v in self._fields.items() if k != self.time}

    def _velocity(self, x: torch.Tensor, t: float, kwargs: dict[str, torch.Tensor]) -> torch.Tensor:
        shapes = [self._time_shape] if self._time_shape else ["[N]", "[N, 1]"]
        error: Exception | None = None
        for shape in shapes:
            time = torch.full((len(x),) if shape == "[N]" else (len(x), 1), t, dtype=x.dtype, device=x.device)
            try:
                output = self._call()(x, **{self.time: time}, **kwargs)
            except CollapseExplorerError:
                raise
            except Exception as exc:  # the user's field refusing this time shape: try the other
                error = exc
                continue
            velocity = next((v for v in tensors_in(output) if v.shape == x.shape), None)
            if velocity is None:
                raise ProbeError(
                    f"{type(self._module).__name__}'s forward gave no velocity shaped like x {list(x.shape)}"
                )
            self._time_shape = shape
            return velocity
        raise ProbeError(
            f"{type(self._module).__name__} cannot run v(x, {self.time}) on probe x {list(x.shape)}: "
            f"{type(error).__name__}: {error}"
        )

    def endpoints(self, x: np.ndarray) -> np.ndarray:
        """Probe noise x [N, ...] integrated in Euler steps through the field: float32 [N, F] (flattened)."""
        x = self._inputs(x)
        device, dtype = placement(self._module)
        call = self._call()
        extra = self._extra_inputs(call, len(x), skip=frozenset({self.time}))
        dt = (self.t1 - self.t0) / self.steps
        ends = []
        with evaluating(self._module):
            for start in range(0, len(x), self._chunk):
                state = tensor_of(x[start : start + self._chunk].astype(np.float32), device, dtype)
                kwargs = {
                    k: tensor_of(v[start : start + self._chunk], device, dtype) for k, v in extra.items()
                }
                for k in range(self.steps):
                    state = state + dt * self._velocity(state, self.t0 + k * dt, kwargs)
                ends.append(state.to("cpu", torch.float32).numpy().reshape(len(state), -1))
        if not ends:
            raise AdapterError("no probe rows to integrate")
        return np.concatenate(ends)
