"""Safe checkpoint loading, state-dict and config discovery.

Checkpoints are untrusted. Files are read with `torch.load(weights_only=True, mmap=True)`; on an
"Unsupported global" the load is retried once with a small allow-list of harmless types (partial,
OmegaConf containers, paths, numpy scalars and dtypes). Anything else is never unpickled unless the
caller passes `trust=True`: instead `NeedsTrustError` carries the tensor names, shapes and dtypes read
from the archive by an unpickler that resolves no global and calls nothing.

Formats: torch zip (`.pt`, `.pth`, `.bin`, any inner root folder), Lightning `.ckpt`, `.safetensors`,
Hugging Face directories, and bare tensors (data, not models).

Bounded (figures in `limits.py`): only regular files are read; a zip's declared sizes are checked
before torch reads it (zip bombs, compressed tensor records); the loaded structure is copied once into
plain containers with depth, node count and cycles bounded and OmegaConf interpolations kept as text;
every tensor's element count and storage size are checked before anything reduces it (stride-0 views).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..roles.data import is_data
from .configs import _config_in, _discover_config, _json_or_none, read_config_file
from .errors import CheckpointError
from .hf import HF_WEIGHT_FILES, _read_safetensors
from .limits import plain_tree, regular_file
from .paths import WEIGHT_SUFFIXES, checkpoint_files, epoch_from_name, found_file
from .peft import ADAPTER_CONFIG, adapter_folder_of, read_adapter_folder
from .sniff import sniff
from .state_dict import (
    NON_MODEL_KEYS,
    _dedupe_tied,
    _ema_copies,
    _find_components,
    _is_tensor_mapping,
    _scalars,
    _strip_prefixes,
    check_tensors,
    plain_tensors,
)
from .unpickle import TensorInfo, _torch_load


@dataclass
class LoadedCheckpoint:
    """What a checkpoint holds once safely loaded. Tensors are CPU and may be memory-mapped."""

    path: Path
    format: str
    state_dict: dict[str, torch.Tensor]
    components: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    config_source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tied: dict[str, str] = field(default_factory=dict)
    data_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    has_optimizer: bool = False
    stripped_prefixes: tuple[str, ...] = ()
    allow_listed: tuple[str, ...] = ()
    trusted: bool = False
    notes: tuple[
        str, ...
    ] = ()  # what was skipped or converted while reading (a sibling JSON, a sparse tensor)
    # A base model folder the user named for a fine-tune adapter (CLI --base); None: the adapter's own.
    base: Path | None = None

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Key -> shape of every state-dict tensor (what adapters detect layouts from)."""
        return {k: tuple(v.shape) for k, v in self.state_dict.items()}

    def tensors(self) -> list[TensorInfo]:
        """Every tensor, model weights first, then data tensors."""
        rows = [
            TensorInfo(k, tuple(v.shape), str(v.dtype).removeprefix("torch."), self.tied.get(k))
            for k, v in self.state_dict.items()
        ]
        rows += [
            TensorInfo(k, tuple(v.shape), str(v.dtype).removeprefix("torch."))
            for k, v in self.data_tensors.items()
        ]
        return rows

    @property
    def parameter_count(self) -> int:
        """Elements over unique storages (tied weights counted once)."""
        return sum(v.numel() for k, v in self.state_dict.items() if k not in self.tied)

    @property
    def epoch(self) -> int | None:
        """Epoch from the file's own keys, else from its name (`fclf_epoch_010.pt` -> 10)."""
        value = self.metadata.get("epoch")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return epoch_from_name(self.path.name)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no tensor values)."""
        return {
            "path": str(self.path),
            "format": self.format,
            "components": {name: len(sd) for name, sd in self.components.items()},
            "parameters": self.parameter_count,
            "tensors": [
                {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "tied_to": t.tied_to}
                for t in self.tensors()
            ],
            "config": _jsonable(self.config),
            "config_source": self.config_source,
            "metadata": _jsonable(self.metadata),
            "optimizer_state": self.has_optimizer,
            "stripped_prefixes": list(self.stripped_prefixes),
            "allow_listed": list(self.allow_listed),
            "trusted_load": self.trusted,
            "notes": list(self.notes),
        }


def load_checkpoint(
    path: str | Path, *, trust: bool = False, config_path: str | Path | None = None
) -> LoadedCheckpoint:
    """Read a checkpoint file or Hugging Face directory without executing code in it.

    `trust=True` allows full unpickling (may run code: only for files the user made).
    `config_path` is a user-given config (JSON or YAML) used when the file carries none.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no such file or folder: {path.name}")
    path = adapter_folder_of(path)  # an adapter's weights file opens as its folder, with its config
    try:
        loaded = (
            _load_directory(path, trust)
            if path.is_dir()
            else _load_file(regular_file(path, CheckpointError), trust)
        )
        found, source, notes = _discover_config(path, config_path)
    except MemoryError:
        raise CheckpointError(f"{path.name} needs more memory than this machine allows to read") from None
    loaded.notes += notes
    if found:
        # In-file values win; a sibling or Hydra config fills what the file left out (Lightning
        # checkpoints often keep the architecture only in .hydra/config.yaml).
        loaded.config = {**found, **loaded.config}
        loaded.config_source = f"{loaded.config_source} + {source}" if loaded.config_source else source
    return loaded


def _load_file(path: Path, trust: bool) -> LoadedCheckpoint:
    kind = sniff(path)
    if kind == "safetensors":
        tensors, meta = _read_safetensors(path)
        data = _data_tensors(tensors)
        if data is not None:
            return _data_checkpoint(path, data)
        loaded = _from_state(path, "safetensors", {"model": tensors}, {})
        config = _json_or_none(meta.get("config"), f"{path.name} metadata") if meta else None
        if isinstance(config, dict):
            loaded.config, loaded.config_source = config, "safetensors metadata"
        return loaded
    obj, allow_listed = _torch_load(path, trust, mmap=kind == "torch-zip")
    loaded = _from_object(path, obj)
    loaded.allow_listed = allow_listed
    loaded.trusted = trust
    return loaded


def _from_object(path: Path, obj: Any) -> LoadedCheckpoint:
    if isinstance(obj, torch.nn.Module):
        obj = {"model": obj}
    if isinstance(obj, torch.Tensor):
        if obj.dim() == 0:
            raise CheckpointError(f"{path.name} holds a single 0-d tensor: no weights and no data to inspect")
        return _data_checkpoint(path, {"tensor": obj})
    # Everything below reads plain containers only: OmegaConf nodes become their literal text (never
    # resolved), and cycles, depth and size are bounded once, here.
    obj = plain_tree(obj, path.name, CheckpointError)
    data = _data_tensors(obj)
    if data is not None:
        return _data_checkpoint(path, data)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path.name} holds a {type(obj).__name__}, not a state dict or a mapping")
    obj = {
        k: (v.state_dict() if isinstance(v, torch.nn.Module) else v) for k, v in obj.items()
    }  # trusted full pickles
    lightning = "pytorch-lightning_version" in obj or ("state_dict" in obj and "global_step" in obj)
    fmt = "lightning" if lightning else "torch"
    components = _find_components(obj)
    if not components:
        raise CheckpointError(
            f"{path.name} has no weights: no state_dict / model_state_dict / model entry and no mapping of "
            f"tensors (top-level keys: {', '.join(map(str, list(obj)[:12]))})"
        )
    loaded = _from_state(path, fmt, components, obj, lightning=lightning)
    return loaded


def _data_checkpoint(path: Path, data: dict[str, torch.Tensor]) -> LoadedCheckpoint:
    """A file that holds data, not a model; its tensors bounded like weights."""
    data = plain_tensors(data, path.name)
    check_tensors(data, path.name)
    return LoadedCheckpoint(path, "tensor-data", {}, data_tensors=data)


def _data_tensors(obj: Any) -> dict[str, torch.Tensor] | None:
    """A list of tensors, or a top-level mapping that holds data (see core.roles.is_data), else None."""

    if isinstance(obj, list | tuple) and obj and all(isinstance(t, torch.Tensor) for t in obj):
        return {str(i): t for i, t in enumerate(obj)}
    if not _is_tensor_mapping(obj) or any(t.dim() == 0 for t in obj.values()):
        return None
    described = {str(k): (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for k, t in obj.items()}
    return {str(k): t for k, t in obj.items()} if is_data(described) else None


def _from_state(
    path: Path,
    fmt: str,
    components: dict[str, dict[str, torch.Tensor]],
    obj: Mapping,
    *,
    lightning: bool = False,
) -> LoadedCheckpoint:
    cleaned: dict[str, dict[str, torch.Tensor]] = {}
    stripped: set[str] = set()
    converted: list[str] = []
    for name, sd in components.items():
        cleaned[name], s = _strip_prefixes(plain_tensors(sd, path.name, converted), lightning)
        stripped |= s
    if (
        len(cleaned) == 1
    ):  # one state dict, whatever its key ('model', 'weights', 'vae_state_dict'): the model
        state = next(iter(cleaned.values()))
    else:
        state = {f"{c}.{k}": v for c, sd in cleaned.items() for k, v in sd.items()}
    check_tensors(state, path.name)
    if state and all(v.dim() == 0 for v in state.values()):
        raise CheckpointError(
            f"{path.name} holds only {len(state)} 0-d (scalar) tensors ({', '.join(list(state)[:4])}): "
            "no weights to inspect; it looks like saved metrics, not a model"
        )
    config, source = _config_in(obj)
    metadata = _scalars(obj)
    ema = _ema_copies(obj, components, state)
    if ema:
        metadata["ema_copy"] = (
            f"{ema}: an EMA copy of the weights, not read (the weights read are the trained ones)"
        )
    return LoadedCheckpoint(
        path=path,
        format=fmt,
        state_dict=state,
        components=cleaned,
        config=config,
        config_source=source,
        metadata=metadata,
        tied=_dedupe_tied(state),
        has_optimizer=any(
            NON_MODEL_KEYS.search(str(k)) and "optim" in str(k).lower() and bool(v) for k, v in obj.items()
        ),
        stripped_prefixes=tuple(sorted(stripped)),
        notes=tuple(converted[:3])
        + ((f"and {len(converted) - 3:,} more converted",) if len(converted) > 3 else ()),
    )


def _load_directory(folder: Path, trust: bool) -> LoadedCheckpoint:
    if found_file(folder / ADAPTER_CONFIG, folder) is not None:  # a PEFT adapter: its own tensors and config
        tensors, config = read_adapter_folder(folder, trust)
        adapter = _from_state(folder, "peft-adapter", {"model": tensors}, {})
        adapter.config, adapter.config_source = config, ADAPTER_CONFIG
        return adapter
    present = [name for name in HF_WEIGHT_FILES if found_file(folder / name, folder) is not None]
    if not present:
        others = checkpoint_files(folder)
        if others:
            raise CheckpointError(
                f"{folder.name}/ holds {len(others)} checkpoint files ({', '.join(p.name for p in others[:3])}"
                f"{'...' if len(others) > 3 else ''}); open one of them, or the folder as a run timeline"
            )
        raise CheckpointError(
            f"{folder.name}/ has no weights: looked for {', '.join(HF_WEIGHT_FILES)} "
            f"and for {', '.join('*' + s for s in WEIGHT_SUFFIXES)} files"
        )
    name = present[0]
    shards: list[Path]
    if name.endswith(".index.json"):
        weight_map = read_config_file(folder / name).get("weight_map", {})
        if not isinstance(weight_map, Mapping):
            raise CheckpointError(f"{name} has no weight_map mapping tensor names to shard files")
        names = sorted({str(v) for v in weight_map.values()})
        if any("\0" in n for n in names):
            raise CheckpointError(
                f"{name} names a shard file with a NUL byte in it: not a file name, refused"
            )
        shards = [folder / n for n in names]
    else:
        shards = [folder / name]
    tensors: dict[str, torch.Tensor] = {}
    for shard in shards:
        if "\0" in shard.name or shard.parent.resolve() != folder.resolve():
            raise CheckpointError(
                f"{name} names a shard outside {folder.name}/ ({shard.name[:80]!r}): only files inside the "
                "folder are read"
            )
        if found_file(shard, folder) is None:  # also refuses symlinks leading out
            raise CheckpointError(f"{folder.name}/ is missing the shard {shard.name} named by its index")
        if shard.suffix == ".safetensors":
            tensors.update(_read_safetensors(shard)[0])
        else:
            obj, _ = _torch_load(shard, trust, mmap=sniff(shard) == "torch-zip")
            if not _is_tensor_mapping(obj):
                raise CheckpointError(f"{shard.name} is not a mapping of tensors")
            tensors.update(obj)
    loaded = _from_state(folder, "hf-dir", {"model": tensors}, {})
    if found_file(folder / "config.json", folder) is not None:
        loaded.config, loaded.config_source = read_config_file(folder / "config.json"), "config.json"
    return loaded


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)
