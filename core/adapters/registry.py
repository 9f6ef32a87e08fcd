"""The one registry of model families, and the registry of adapters (a plain dict name -> class) with
detection from key names and shapes.

A family has the same name at every layer (`adapters/<family>.py`, `metrics/<family>`,
`diagnosis/<family>.py`, `plots/<family>`, `adapters/live/<family>.py`); FAMILIES says which layers
hold a part of it, as "module" or "module:attribute" relative to the core package, imported when
first asked for (`family_part`), so this module imports nothing above core.io.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..io.checkpoints import load_checkpoint
from ..io.errors import AdapterError
from ..models.device import resolve_device
from ..roles.data import data_message as describe
from ..roles.found import roles_of

if TYPE_CHECKING:
    from ..io.checkpoints import LoadedCheckpoint
    from .base import CheckpointAdapter

REGISTRY: dict[str, type[CheckpointAdapter]] = {}


@dataclass(frozen=True)
class Family:
    """Where each layer keeps a family's part (None: the family has none at that layer).

    adapters: the module whose import registers its checkpoint adapters; rules: `findings(adapter,
    probe) -> list[Finding]`; live: the live adapter class whose `build(module, roles, config)` adapts
    an nn.Module; measure / draw: the report's pictures, `measure(adapter, probe)` -> values or None
    and `draw({label: values})` -> a figure or a list of figures and tables.
    """

    name: str
    adapters: str | None = None
    rules: str | None = None
    live: str | None = None
    measure: str | None = None
    draw: str | None = None


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        # First: a config naming a transformers model_type says what the file is, where role patterns
        # could mistake a T5's relative-attention bias for a codebook.
        Family(
            "language",
            adapters="adapters.language",
            rules="diagnosis.language:findings",
            measure="report.figures:language_outputs",
            draw="report.figures:language_pictures",
        ),
        Family(
            "flow",
            adapters="adapters.flow",
            rules="diagnosis.flow:findings",
            live="adapters.live.flow:LiveFlowAdapter",
            measure="report.figures:flow_steps",
            draw="report.figures:steps_figure",
        ),
        Family(
            "codebook",
            adapters="adapters.codebook",
            rules="diagnosis.codebook:findings",
            live="adapters.live.codebook:LiveCodebookAdapter",
            measure="report.figures:codebook_usage",
            draw="report.figures:usage_figures",
        ),
        Family(
            "posterior",
            adapters="adapters.posterior",
            rules="diagnosis.posterior:findings",
            live="adapters.live.posterior:LivePosteriorAdapter",
            measure="report.figures:posterior_kl",
            draw="report.figures:kl_figure",
        ),
        Family(
            "text",
            adapters="adapters.text",
            rules="diagnosis.text:findings",
            measure="report.figures:text_outputs",
            draw="report.figures:text_pictures",
        ),
        # Training is no model family of its own: every checkpoint gets its findings (diagnosis.training).
        Family("training"),
    )
}
_CORE = __package__.rpartition(".")[0]  # "core", or "collapse_explorer" when installed


def family_part(family: str, part: str) -> Any:
    """The object (or module) a family keeps at `part` ("adapters", "rules", "live", "measure", "draw"),
    imported now; None when the family is unknown or has none there."""
    known = FAMILIES.get(family)
    where = getattr(known, part) if known is not None else None
    if where is None:
        return None
    module, _, attribute = where.partition(":")
    loaded = importlib.import_module(f"{_CORE}.{module}")
    return getattr(loaded, attribute) if attribute else loaded


def register(cls: type[CheckpointAdapter]) -> type[CheckpointAdapter]:
    """Class decorator: add an adapter under its `name`."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"adapter name {cls.name!r} is already registered")
    REGISTRY[cls.name] = cls
    return cls


def load_all() -> dict[str, type[CheckpointAdapter]]:
    """Import every family module so its adapters are registered."""
    for family in FAMILIES:
        family_part(family, "adapters")
    return REGISTRY


def detect(shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> str | None:
    """Name of the first adapter whose layout matches (families in FAMILIES order), or None."""
    order = list(FAMILIES)
    adapters = sorted(load_all().items(), key=lambda item: order.index(item[1].family))
    for name, cls in adapters:
        if cls.detect(shapes, config):
            return name
    return None


def build_adapter(
    loaded: LoadedCheckpoint, name: str | None = None, *, device: str = "cpu"
) -> CheckpointAdapter:
    """Adapter `name` (or the detected one) rebuilt from `loaded` on `device`; AdapterError says why not."""

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

    return (
        f"no adapter recognises this checkpoint's layout: {roles_of(loaded.shapes()).report()}; "
        f"known adapters: {', '.join(sorted(REGISTRY))}; pass --adapter NAME, or --builder module:function "
        "returning your own nn.Module with the weights loaded"
    )


def data_message(loaded: LoadedCheckpoint) -> str:
    """The plain sentence for a file that holds data: shapes, what they look like, how to use them."""

    tensors = {
        k: (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for k, t in loaded.data_tensors.items()
    }
    return describe(loaded.path.name, tensors)


def open_adapter(
    path: str, name: str | None = None, *, trust: bool = False, device: str = "cpu"
) -> CheckpointAdapter:
    """Load the checkpoint at `path` safely and build its adapter on `device`."""

    return build_adapter(load_checkpoint(path, trust=trust), name, device=device)
