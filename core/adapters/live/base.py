"""The public base of adapters over a live `nn.Module` (`LiveAdapter`), and running the module safely.

`adapter_from_module(module)` (builder.py) reads the module's state-dict shapes with core.roles
(codebooks, posterior heads, vector fields, wherever they sit), and each family's live adapter answers
the family methods by running probe `x` through the module's own forward with forward hooks on the parts
found (codebook.py, implicit.py, posterior.py, flow.py).

Every call is read-only and cheap: eval mode and `torch.no_grad` for the call, then each submodule's
training flag, each parameter's `requires_grad` and the torch, numpy and Python RNG states put back
(`evaluating`, which the training guard uses too: a sampling forward does not shift a training run's
random stream), hooks removed. Weights stay where they are (device, dtype); outputs are numpy on the CPU.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import itertools
import random
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ...io.errors import AdapterError, CollapseExplorerError, ProbeError
from ...roles.found import Roles
from ..base import CheckpointAdapter

if TYPE_CHECKING:
    from ...io.checkpoints import LoadedCheckpoint
    from ...io.probe import ProbeData

DEFAULT_CHUNK = 256


# --- running the module ------------------------------------------------------------------------------


def placement(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad for the block, which leaves training untouched: afterwards every submodule's
    `training` flag, every parameter's `requires_grad` and the torch (CPU and the module's CUDA devices),
    numpy and Python RNG states are as they were, whatever the block changed or raised."""
    flags = [(m, m.training) for m in module.modules()]
    grads = [(p, p.requires_grad) for p in module.parameters()]
    tensors = itertools.chain(module.parameters(), module.buffers())
    devices = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            module.eval()
            yield
    finally:
        for m, training in flags:
            m.training = training
        for param, flag in grads:
            param.requires_grad_(flag)
        np.random.set_state(np_state)
        random.setstate(py_state)


@contextlib.contextmanager
def hooked(module: nn.Module, paths: list[str], record: Callable[[str, tuple, Any], None]) -> Iterator[None]:
    """Forward hooks on the submodules at `paths` calling record(path, inputs, output); removed after."""
    handles = []
    try:
        for path in paths:
            sub = module.get_submodule(path) if path else module

            def hook(_m: nn.Module, args: tuple, output: Any, path: str = path) -> None:
                # Copies: the forward may change an output in place afterwards (`self.var(h).exp_()`).
                record(path, copied(args), copied(output))

            handles.append(sub.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


class LiveAdapter(CheckpointAdapter):
    """Shared running of probe inputs through the live module, chunk by chunk."""

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        return False  # a file never selects a live adapter: it needs the module

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> CheckpointAdapter:
        raise AdapterError("live adapters are built from an nn.Module (adapter_from_module), not from a file")

    def __init__(self, module: nn.Module, roles: Roles, config: dict) -> None:
        self._module = module
        self._roles = roles
        self._config = config
        self._chunk = int(config.get("chunk", DEFAULT_CHUNK))
        self._fields: dict[str, np.ndarray] = {}

    def with_probe(self, probe: ProbeData | None) -> LiveAdapter:
        """A copy that passes the probe's other named fields (`y`, `c`, `labels`, `t`, ...) to the
        forward by parameter name, row for row with x."""
        fields = probe.fields() if probe is not None else {}
        if not fields:
            return self
        bound = copy.copy(self)
        bound._fields = fields
        return bound

    def _call(self) -> Callable:
        method = self._config.get("forward")
        return getattr(self._module, method) if isinstance(method, str) else self._module

    def _extra_inputs(
        self, call: Callable, n: int, skip: frozenset[str] = frozenset()
    ) -> dict[str, np.ndarray]:
        """Probe fields named like the forward's parameters after the first (which takes x) and those in
        `skip` (given by the caller), [n, ...] each; ProbeError naming a required parameter the probe
        does not hold."""
        target = call.forward if isinstance(call, nn.Module) else call
        try:
            params = list(inspect.signature(target).parameters.values())[1:]
        except (TypeError, ValueError):
            return {}
        extra: dict[str, np.ndarray] = {}
        for param in params:
            if param.name in skip or param.kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                continue
            value = self._fields.get(param.name)
            if value is not None and len(value) == n:
                extra[param.name] = value
            elif param.default is inspect.Parameter.empty and param.kind != inspect.Parameter.POSITIONAL_ONLY:
                raise ProbeError(
                    f"{type(self._module).__name__}.forward also takes {param.name!r}: add an array named "
                    f"{param.name!r} with one row per probe x row to the probe (fields reach the forward by "
                    "parameter name)"
                )
        return extra

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x)
        if a.ndim < 1 or len(a) == 0:
            raise ProbeError(f"probe x must be [N, ...] with N >= 1, got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise ProbeError("probe x must be finite numbers")
        return a

    def _forward(self, x: np.ndarray) -> Iterator[tuple[int, torch.Tensor, Any]]:
        """(rows, input tensor, output) per chunk of x through the module's forward (inside evaluating)."""
        device, dtype = placement(self._module)
        call = self._call()
        extra = self._extra_inputs(call, len(x))
        for start in range(0, len(x), self._chunk):
            part = np.ascontiguousarray(x[start : start + self._chunk])
            tensor = tensor_of(part, device, dtype)
            kwargs = {k: tensor_of(v[start : start + self._chunk], device, dtype) for k, v in extra.items()}
            try:
                output = call(tensor, **kwargs)
            except CollapseExplorerError:
                raise
            except Exception as exc:  # the user's model rejecting the probe is bad input, not a crash
                raise ProbeError(
                    f"{type(self._module).__name__} cannot run probe x of shape {list(x.shape)}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            yield len(part), tensor, output


def copied(value: Any, depth: int = 0) -> Any:
    """Tensors in `value` (nested tuples, lists, dicts up to depth 3) detached and cloned."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if depth < 3 and isinstance(value, list | tuple):
        items = [copied(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if depth < 3 and isinstance(value, Mapping):
        return {k: copied(v, depth + 1) for k, v in value.items()}
    return value


def tensor_of(a: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A probe array on the module's device; floats in the module's dtype, integers as they are."""
    part = np.ascontiguousarray(a)
    return torch.from_numpy(part).to(device=device, dtype=dtype if part.dtype.kind == "f" else None)


def tensors_in(value: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif depth < 3 and isinstance(value, list | tuple):
        for v in value:
            yield from tensors_in(v, depth + 1)
    elif depth < 3 and isinstance(value, Mapping):
        for v in value.values():
            yield from tensors_in(v, depth + 1)


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy()


def token_ids(x: np.ndarray | None) -> bool:
    """Probe x that is a batch of token id sequences: integers [N, T]."""
    return x is not None and np.asarray(x).ndim == 2 and np.asarray(x).dtype.kind in "iu"
