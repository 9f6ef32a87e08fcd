"""Adapters over a live `nn.Module`: `adapter_from_module` finds the module's parts by role and picks the
live adapter of their family (the family registry's `live` entry); `--builder module:function` (and the
app's `COLLAPSE_EXPLORER_BUILDER`) imports the user's own builder, opt-in only.

Config keys (all optional): `forward` (name of the method to call with x, default the module itself),
`chunk` (rows per forward, default 256), `attribute_names`, `steps`, `alpha`, `free_bits`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from ...config import ENV_PREFIX, env_text
from ...io.errors import AdapterError, CollapseExplorerError, ProbeError
from ...roles.found import Roles, roles_of
from ...roles.layers import matches
from ..base import CheckpointAdapter
from ..registry import family_part
from .base import token_ids
from .implicit import LiveImplicitCodebookAdapter

if TYPE_CHECKING:
    from ...io.checkpoints import LoadedCheckpoint


def adapter_from_module(
    module: nn.Module,
    *,
    family: str | None = None,
    config: Mapping | None = None,
    probe_x: np.ndarray | None = None,
) -> CheckpointAdapter:
    """A read-only adapter over `module` (weights loaded), its parts found by role in its state dict.

    `family` ("codebook", "posterior", "flow" or "text") overrides the family the roles suggest; `config` holds
    optional settings (see the module docstring). When the state dict holds no codebook and a codebook
    (or any part) is wanted, `probe_x` [N, ...] is run through the forward once to find a quantizer that
    keeps no codebook tensor (FSQ, LFQ: core.adapters.live.implicit). Raises AdapterError naming the roles
    found and lacking when the module has no part of the family. A forward with a time parameter makes a
    generative flow (core.adapters.live.generative) whatever its layers. Probe x of token ids [N, T] with
    no other part found makes a text model (core.adapters.live.text) when the forward scores a vocabulary.
    """
    if not isinstance(module, nn.Module):
        raise AdapterError(f"expected an nn.Module, got {type(module).__name__}")
    config = dict(config or {})
    shapes = {k: tuple(v.shape) for k, v in module.state_dict(keep_vars=True).items()}
    roles = _live_roles(module, roles_of(shapes), probe_x)
    chosen = family or roles.family
    note = ""
    if family in (None, "flow"):
        from .generative import LiveGenerativeFlowAdapter

        generative = LiveGenerativeFlowAdapter.build(module, roles, config)
        if generative is not None:
            return generative
    if chosen in (None, "text") and token_ids(probe_x):
        from .text import LiveTextAdapter

        text = LiveTextAdapter.build(module, roles, config, probe_x)
        if text is not None:
            return text
        note = "; probe x holds token ids but the forward gave no scores over a vocabulary for them"
    if chosen is None or (chosen == "codebook" and not roles.codebooks):
        try:
            implicit = LiveImplicitCodebookAdapter.build(module, roles, config, probe_x)
        except ProbeError as exc:
            note = f"; looking for a quantizer without a codebook tensor: {exc}"
        else:
            if implicit is not None:
                return implicit
    live = family_part(chosen, "live") if chosen else None
    if live is None:
        what = f"family {chosen!r} is not supported for live modules" if chosen else "no known part"
        raise AdapterError(f"{type(module).__name__}: {what}; {roles.report()}{note}")
    try:
        return live.build(module, roles, config)
    except AdapterError as exc:
        raise AdapterError(f"{exc}{note}") from None


def _live_roles(module: nn.Module, roles: Roles, probe_x: np.ndarray | None) -> Roles:
    """Roles as the live module shows them: an nn.Embedding fed the probe's integer ids is a token table,
    not a codebook (unless a quantizer's name, usage or EMA buffers place it), and an nn.Embedding is
    never a posterior head (a learned prior's lookup tables are)."""

    def embedding(key: str) -> bool:
        owner = key.rpartition(".")[0] if key.endswith(".weight") else key
        try:
            return isinstance(module.get_submodule(owner), nn.Embedding)
        except AttributeError:
            return False

    codebooks = tuple(
        role
        for role in roles.codebooks
        if not (
            token_ids(probe_x)
            and embedding(role.key)
            and not (matches("quantizer path", role.module) or role.usage or role.ema)
        )
    )
    heads = tuple(h for h in roles.heads if not embedding(f"{h.mean}.weight"))
    if codebooks == roles.codebooks and heads == roles.heads:
        return roles
    return dataclasses.replace(roles, codebooks=codebooks, heads=heads)


def builder_adapter(func: Callable[[LoadedCheckpoint], Any], spec: str = "builder") -> Callable:
    """Wrap a user builder: its result may be a CheckpointAdapter or an nn.Module (adapted by role; the
    wrapper's `probe_x` lets a quantizer without a codebook tensor be found by its forward, and probe texts
    stand for x through the module's own tokenizer)."""

    def build(
        loaded: LoadedCheckpoint, probe_x: np.ndarray | None = None, probe_texts: tuple[str, ...] = ()
    ) -> CheckpointAdapter:
        try:
            result = func(loaded)
        except CollapseExplorerError:
            raise
        except Exception as exc:  # the user's own code: any failure becomes one clear line
            raise AdapterError(f"{spec} failed: {type(exc).__name__}: {exc}") from None
        if isinstance(result, CheckpointAdapter):
            return result
        if isinstance(result, nn.Module):
            if probe_x is None and probe_texts:
                from .text import encode_texts, module_tokenizer

                tokenizer = module_tokenizer(result)
                probe_x = encode_texts(tokenizer, probe_texts) if tokenizer is not None else None
            return adapter_from_module(result, config=loaded.config, probe_x=probe_x)
        raise AdapterError(
            f"{spec} returned a {type(result).__name__}; it must return an nn.Module with the weights "
            "loaded (or a CheckpointAdapter)"
        )

    return build


BUILDER_ENV = ENV_PREFIX + "BUILDER"


def load_builder(spec: str) -> Callable[[LoadedCheckpoint], CheckpointAdapter]:
    """`module:function` -> a builder: the function takes a LoadedCheckpoint and returns an nn.Module with
    the weights loaded (its parts found by role) or a CheckpointAdapter. Imports user code: opt-in only."""
    import importlib
    import sys
    from pathlib import Path

    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise AdapterError(f"--builder wants module:function, got {spec!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterError(f"cannot import builder module {module_name!r}: {exc}") from None
    except Exception as exc:  # the user's module failing at import is their code's error, one line
        raise AdapterError(
            f"builder module {module_name!r} failed to import: {type(exc).__name__}: {exc}"
        ) from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise AdapterError(f"builder module {module_name!r} has no function {func_name!r}")
    return builder_adapter(func, f"builder {spec}")


def builder_configured() -> bool:
    """Whether the app is given a builder (`COLLAPSE_EXPLORER_BUILDER`), without importing it."""
    return bool(env_text("BUILDER"))


def builder_from_env(trust: bool) -> Callable[[LoadedCheckpoint], CheckpointAdapter] | None:
    """The app's `--builder`: `COLLAPSE_EXPLORER_BUILDER=module:function`, honoured only when trusted."""
    return load_builder(env_text("BUILDER")) if trust and builder_configured() else None
