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

# Family modules register their adapters on import; listed here so detection sees them all.
ADAPTER_MODULES: tuple[str, ...] = (
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
    if name is None:
        name = detect(loaded.shapes(), loaded.config)
        if name is None:
            raise AdapterError(
                "no adapter recognises this checkpoint's layout "
                f"({len(loaded.state_dict)} tensors, e.g. {', '.join(list(loaded.state_dict)[:4])}); "
                f"known adapters: {', '.join(sorted(REGISTRY))}; pass --adapter NAME or "
                "--builder module:function"
            )
    if name not in REGISTRY:
        raise AdapterError(f"unknown adapter {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name].from_loaded(loaded).to_device(device)


def open_adapter(
    path: str, name: str | None = None, *, trust: bool = False, device: str = "cpu"
) -> CheckpointAdapter:
    """Load the checkpoint at `path` safely and build its adapter on `device`."""
    from ..checkpoints import load_checkpoint

    return build_adapter(load_checkpoint(path, trust=trust), name, device=device)
