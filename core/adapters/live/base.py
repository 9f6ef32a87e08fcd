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
                record(path, args, output)

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
        method = self._config.get("forward")
        call = getattr(self._module, method) if isinstance(method, str) else self._module
        for start in range(0, len(x), self._chunk):
            part = np.ascontiguousarray(x[start : start + self._chunk])
            tensor = torch.from_numpy(part).to(device=device, dtype=dtype if part.dtype.kind == "f" else None)
            try:
                output = call(tensor)
            except CollapseExplorerError:
                raise
            except Exception as exc:  # the user's model rejecting the probe is bad input, not a crash
                raise ProbeError(
                    f"{type(self._module).__name__} cannot run probe x of shape {list(x.shape)}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            yield len(part), tensor, output


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
