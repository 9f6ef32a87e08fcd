"""Registry of adapters: a plain dict name -> class, plus detection from key names and shapes."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import AdapterError

if TYPE_CHECKING:
    from ..checkpoints import LoadedCheckpoint
    from .base import CheckpointAdapter

REGISTRY: dict[str, type[CheckpointAdapter]] = {}

# Family modules register their adapters on import; listed here so detection sees them all. Language
# models come first: a config naming a transformers model_type says what the file is, where role patterns
# could mistake a T5's relative-attention bias for a codebook.
ADAPTER_MODULES: tuple[str, ...] = (
    ".language",
    ".vectorfield",
    ".codebook",
    ".posterior",
    ".textbridge",
)


def register(cls: type[CheckpointAdapter]) -> type[CheckpointAdapter]:
    """Class decorator: add an adapter under its `name`."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"adapter name {cls.name!r} is already registered")
    REGISTRY[cls.name] = cls
    return cls


def load_all() -> dict[str, type[CheckpointAdapter]]:
    """Import every family module so its adapters are registered."""
    for module in ADAPTER_MODULES:
        importlib.import_module(module, __package__)
    return REGISTRY


def detect(shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> str | None:
    """Name of the first adapter whose layout matches, or None."""
    for name, cls in load_all().items():
        if cls.detect(shapes, config):
            return name
    return None


def build_adapter(
    loaded: LoadedCheckpoint, name: str | None = None, *, device: str = "cpu"
) -> CheckpointAdapter:
    """Adapter `name` (or the detected one) rebuilt from `loaded` on `device`; AdapterError says why not."""
    from ..device import resolve_device

    device = resolve_device(device)
    load_all()
    if not loaded.state_dict and loaded.data_tensors:
        raise AdapterError(data_message(loaded))
    if name is None:
        name = detect(loaded.shapes(), loaded.config)
        if name is None:
            raise AdapterError(unrecognised_message(loaded))
    if name not in REGISTRY:
        raise AdapterError(f"unknown adapter {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name].from_loaded(loaded).to_device(device)


def unrecognised_message(loaded: LoadedCheckpoint) -> str:
    """Why no adapter fits: the roles found and lacking, and what the user can do."""
    from ..roles import roles_of

    return (
        f"no adapter recognises this checkpoint's layout: {roles_of(loaded.shapes()).report()}; "
        f"known adapters: {', '.join(sorted(REGISTRY))}; pass --adapter NAME, or --builder module:function "
        "returning your own nn.Module with the weights loaded"
    )


def data_message(loaded: LoadedCheckpoint) -> str:
    """The plain sentence for a file that holds data: shapes, what they look like, how to use them."""
    from ..roles import data_message as describe

    tensors = {
        k: (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for k, t in loaded.data_tensors.items()
    }
    return describe(loaded.path.name, tensors)


def open_adapter(
    path: str, name: str | None = None, *, trust: bool = False, device: str = "cpu"
) -> CheckpointAdapter:
    """Load the checkpoint at `path` safely and build its adapter on `device`."""
    from ..checkpoints import load_checkpoint

    return build_adapter(load_checkpoint(path, trust=trust), name, device=device)
