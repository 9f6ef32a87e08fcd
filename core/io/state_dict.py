"""State-dict discovery in a loaded checkpoint mapping: which entries are model weights (DESIGN order
`state_dict` -> `model_state_dict` -> `model` -> `*_state_dict` -> any all-tensor mapping, several ->
named components), wrapper prefixes stripped (DDP, torch.compile, Lightning), tied storages and EMA
copies noticed, every tensor's size checked before use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from .configs import CONFIG_KEYS
from .errors import CheckpointError
from .limits import MAX_ELEMENTS, MAX_VIEW_SLACK_BYTES

STATE_KEYS = ("state_dict", "model_state_dict", "model")
NON_MODEL_KEYS = re.compile(r"optim|scheduler|scaler|lr_sched|callbacks|loops", re.IGNORECASE)
# An exponential-moving-average copy of the weights, saved beside them (`ema`, `model_ema`, `ema_model`,
# `ema_state_dict`) or inside the state dict under a prefix (Lightning's LitEma: `model_ema.`).
EMA_NAME = re.compile(r"(?:^|_)ema(?:_|$)", re.IGNORECASE)
ALWAYS_STRIPPED = ("module.", "_orig_mod.")


# --- state dict and config discovery ---------------------------------------------------------------


def _is_tensor_mapping(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def _find_components(obj: Mapping) -> dict[str, dict[str, torch.Tensor]]:
    """Model state dicts in a checkpoint mapping, by DESIGN order; several -> named components."""
    if _is_tensor_mapping(obj):
        return {"model": dict(obj)}
    for key in STATE_KEYS:
        if _is_tensor_mapping(obj.get(key)):
            return {"model": dict(obj[key])}
    suffixed = {
        k.removesuffix("_state_dict"): dict(v)
        for k, v in obj.items()
        if isinstance(k, str) and k.endswith("_state_dict") and not NON_MODEL_KEYS.search(k)
        if _is_tensor_mapping(v)
    }
    if suffixed:
        return suffixed
    found = {
        str(k): dict(v)
        for k, v in obj.items()
        if _is_tensor_mapping(v) and not NON_MODEL_KEYS.search(str(k)) and str(k) not in CONFIG_KEYS
    }
    return found or _nested_components(obj)


def _nested_components(obj: Mapping) -> dict[str, dict[str, torch.Tensor]]:
    """State dicts one level down (`{'model_states': {'net': {...}}}`); a single one is the model."""
    nested: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in obj.items():
        if not isinstance(value, Mapping) or NON_MODEL_KEYS.search(str(key)) or str(key) in CONFIG_KEYS:
            continue
        for name, sd in value.items():
            if _is_tensor_mapping(sd) and not NON_MODEL_KEYS.search(str(name)):
                nested[f"{key}.{name}"] = dict(sd)
    return {"model": next(iter(nested.values()))} if len(nested) == 1 else nested


def _strip_prefixes(sd: dict[str, torch.Tensor], lightning: bool) -> tuple[dict[str, torch.Tensor], set[str]]:
    stripped: set[str] = set()
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        changed = True
        while changed:
            changed = False
            for prefix in ALWAYS_STRIPPED:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
                    stripped.add(prefix)
        out[key] = value
    keys = list(out)
    heads = {k.split(".", 1)[0] for k in keys}
    if len(heads) == 1 and all("." in k for k in keys):
        head = heads.pop()
        rest = {k.split(".", 1)[1].split(".", 1)[0] for k in keys}
        # Strip `model.` always, and a Lightning wrapper attribute when what is left still has named
        # submodules (not `0.weight`, `1.weight`, which belong to an nn.Sequential named by the prefix).
        if head == "model" or (lightning and not all(r.isdigit() for r in rest)):
            out = {k.split(".", 1)[1]: v for k, v in out.items()}
            stripped.add(head + ".")
    return out, stripped


def view_problem(name: str, t: torch.Tensor) -> str | None:
    """Why reading every element of `t` would cost far more than its file holds, or None.

    A stride-0 (or overlapping) view repeats a small storage: `zeros(1).expand(10**6, 10**6)` is 4 bytes
    on disk and 4 TB to reduce. Checked on shapes and storage sizes only, nothing is materialised."""
    numel = t.numel()
    if numel > MAX_ELEMENTS:
        return f"tensor {name!r} has {numel:,} elements, over the limit of {MAX_ELEMENTS:,}"
    wanted = numel * t.element_size()
    storage = t.untyped_storage().nbytes()
    if wanted > storage + MAX_VIEW_SLACK_BYTES:
        return (
            f"tensor {name!r} {list(t.shape)} (strides {list(t.stride())}) repeats a {storage:,}-byte storage "
            f"as {wanted:,} bytes of elements"
        )
    return None


def check_tensors(tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse (CheckpointError) expanded views and more elements than MAX_ELEMENTS in all, before any
    reduction reads them; tied aliases of one storage count once."""
    total = 0
    seen: set[tuple] = set()
    for name, t in tensors.items():
        problem = view_problem(name, t)
        if problem:
            raise CheckpointError(f"{source}: {problem}: refused")
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if key not in seen:
            seen.add(key)
            total += t.numel()
    if total > MAX_ELEMENTS:
        raise CheckpointError(
            f"{source} holds {total:,} tensor elements, over the limit of {MAX_ELEMENTS:,} "
            "(raise COLLAPSE_EXPLORER_MAX_ELEMENTS to open it)"
        )


def _dedupe_tied(sd: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """alias -> first name for tensors that are views of the same storage bytes."""
    seen: dict[tuple, str] = {}
    tied: dict[str, str] = {}
    for name, t in sd.items():
        if t.numel() == 0:
            continue
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if key in seen:
            tied[name] = seen[key]
        else:
            seen[key] = name
    return tied


def _ema_copies(obj: Mapping, components: Mapping[str, Mapping], state: Mapping[str, torch.Tensor]) -> str:
    """Where the file keeps an EMA copy of its weights that is not what was read, described, or ""."""
    read = {id(t) for t in state.values()}
    found = [
        f"{key} ({len(value)} tensors)"
        for key, value in obj.items()
        if EMA_NAME.search(str(key))
        and _is_tensor_mapping(value)
        and not any(id(t) in read for t in value.values())
    ]
    prefixes: dict[str, int] = {}
    for key in state:
        head = key.split(".", 1)[0]
        if "." in key and EMA_NAME.search(head) and head not in components:
            prefixes[head] = prefixes.get(head, 0) + 1
    found += [f"{head}.* ({count} tensors)" for head, count in prefixes.items()]
    return ", ".join(found)


def _scalars(obj: Mapping) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, bool | int | float | str) and not isinstance(k, bool):
            meta[str(k)] = v
        elif (
            isinstance(v, list | tuple)
            and v
            and all(isinstance(x, int | float) for x in v)
            and len(v) <= 10_000
        ):
            meta[str(k)] = float(v[-1])
        elif isinstance(v, torch.Tensor) and v.dim() == 0:
            meta[str(k)] = v.item()
    return meta
