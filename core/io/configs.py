"""Config discovery: in-file `config` / `args` / `hyper_parameters` / `hparams`, then a sibling
`config.json` or `{stem}.json`, then `../.hydra/config.yaml`, or a file the user names. JSON and YAML
(safe loader) read with size, depth and node count bounded; interpolations are never resolved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import CheckpointError
from .limits import MAX_DEPTH, MAX_TEXT_BYTES, plain_tree, read_text_limited, regular_file
from .paths import found_file
from .unpickle import _first_line

CONFIG_KEYS = ("config", "args", "hyper_parameters", "hparams")


def _to_plain(value: Any) -> Any:
    """A config value as a mapping where it is an object with attributes (argparse.Namespace)."""
    if hasattr(value, "__dict__") and not isinstance(value, Mapping | type):
        return plain_tree(dict(vars(value)), "config", CheckpointError)  # argparse.Namespace, trusted loads
    return value


def _config_in(obj: Mapping) -> tuple[dict, str | None]:
    for key in CONFIG_KEYS:
        value = _to_plain(obj.get(key))
        if isinstance(value, Mapping) and value:
            return dict(value), f"in-file '{key}'"
    return {}, None


def _json_or_none(text: str | None, what: str) -> Any:
    """A JSON text (metadata, a config) as plain values, or None when it is not JSON; too deep or too
    big is CheckpointError."""
    if not text or not isinstance(text, str):
        return None
    if len(text) > MAX_TEXT_BYTES:
        raise CheckpointError(f"{what} is over the {MAX_TEXT_BYTES:,}-byte limit for configs")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    except RecursionError:
        raise CheckpointError(f"{what} nests deeper than {MAX_DEPTH} levels: refused") from None
    return plain_tree(value, what, CheckpointError)


def _parse_config(path: Path) -> Any:
    import yaml

    text = read_text_limited(path, MAX_TEXT_BYTES, CheckpointError)
    try:
        value = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CheckpointError(f"cannot read config {path.name}: {_first_line(exc)}") from None
    except RecursionError:
        raise CheckpointError(f"config {path.name} nests deeper than {MAX_DEPTH} levels: refused") from None
    return plain_tree(value, f"config {path.name}", CheckpointError)


def read_config_file(path: Path) -> dict:
    """A JSON or YAML config as a plain dict (YAML through `yaml.safe_load`: no object tags); size,
    depth and node count bounded, so YAML alias bombs and deep nesting are refused."""
    value = _parse_config(path)
    if not isinstance(value, dict):
        raise CheckpointError(f"config {path.name} is not a mapping")
    return value


def _discover_config(path: Path, given: str | Path | None) -> tuple[dict, str | None]:
    if given is not None:  # a file the user named beats anything found by looking around
        return read_config_file(regular_file(given, CheckpointError)), str(given)
    folder = path if path.is_dir() else path.parent
    # Each candidate must stay inside the folder it is looked for in: a symlinked config.json leading
    # to a file elsewhere (or to a FIFO) is no candidate.
    candidates = [(folder / "config.json", folder)]
    if path.is_file():
        candidates.append((folder / f"{path.stem}.json", folder))
    candidates += [
        (folder / ".hydra" / "config.yaml", folder),
        (folder.parent / ".hydra" / "config.yaml", folder.parent),
    ]
    for candidate, root in candidates:
        if found_file(candidate, root) is None:
            continue
        # A JSON list or a YAML scalar is some other file, not a config; one that cannot be parsed
        # (a Python tag, nesting thousands deep, an alias bomb) is hostile and stops the load.
        value = _parse_config(candidate)
        if isinstance(value, dict):
            return value, str(candidate)
    return {}, None
