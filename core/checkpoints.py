"""Safe checkpoint loading, state-dict and config discovery.

Checkpoints are untrusted. Files are read with `torch.load(weights_only=True, mmap=True)`; on an
"Unsupported global" the load is retried once with a small allow-list of harmless types (partial,
OmegaConf containers, paths, numpy scalars and dtypes). Anything else is never unpickled unless the
caller passes `trust=True`: instead `NeedsTrustError` carries the tensor names, shapes and dtypes read
from the archive by an unpickler that resolves no global and calls nothing.

Formats: torch zip (`.pt`, `.pth`, `.bin`, any inner root folder), Lightning `.ckpt`, `.safetensors`,
Hugging Face directories, and bare tensors (data, not models).
"""

from __future__ import annotations

import collections
import functools
import json
import pathlib
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, NeedsTrustError

WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")
CONFIG_KEYS = ("config", "args", "hyper_parameters", "hparams")
STATE_KEYS = ("state_dict", "model_state_dict", "model")
NON_MODEL_KEYS = re.compile(r"optim|scheduler|scaler|lr_sched|callbacks|loops", re.IGNORECASE)
ALWAYS_STRIPPED = ("module.", "_orig_mod.")
HF_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_EPOCH_IN_NAME = re.compile(r"(?:epoch|ep)[_=\-]?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as listed: name, shape, dtype and, for tied weights, the name it shares storage with."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    tied_to: str | None = None

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


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
        }


def epoch_from_name(name: str) -> int | None:
    """Epoch written in a file name (`fclf_epoch_010.pt` -> 10), or None."""
    match = _EPOCH_IN_NAME.search(name)
    return int(match.group(1)) if match else None


def load_checkpoint(
    path: str | Path, *, trust: bool = False, config_path: str | Path | None = None
) -> LoadedCheckpoint:
    """Read a checkpoint file or Hugging Face directory without executing code in it.

    `trust=True` allows full unpickling (may run code: only for files the user made).
    `config_path` is a user-given config (JSON or YAML) used when the file carries none.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no such file or folder: {path}")
    loaded = _load_directory(path, trust) if path.is_dir() else _load_file(path, trust)
    found, source = _discover_config(path, config_path)
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
            return LoadedCheckpoint(path, "tensor-data", {}, data_tensors=data)
        loaded = _from_state(path, "safetensors", {"model": tensors}, {})
        config = _json_or_none(meta.get("config")) if meta else None
        if isinstance(config, dict):
            loaded.config, loaded.config_source = config, "safetensors metadata"
        return loaded
    obj, allow_listed = _torch_load(path, trust, mmap=kind == "torch-zip")
    loaded = _from_object(path, obj)
    loaded.allow_listed = allow_listed
    loaded.trusted = trust
    return loaded


def sniff(path: Path) -> str:
    """'torch-zip', 'torch-legacy' or 'safetensors' from the first bytes; CheckpointError otherwise."""
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes): not a checkpoint")
    with path.open("rb") as fh:
        head = fh.read(16)
    for magic, what in _FOREIGN_MAGIC:
        if head.startswith(magic):
            raise CheckpointError(
                f"{path.name} is {what}, not a checkpoint (it only has a checkpoint's name)"
            )
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            raise CheckpointError(
                f"{path.name} is a truncated or corrupt zip archive (its central directory is missing); "
                "the save was probably interrupted: re-save or copy the file again"
            ) from None
        if not any(n.endswith("data.pkl") for n in names):
            raise CheckpointError(f"{path.name} is a zip archive but not a torch checkpoint (no data.pkl)")
        return "torch-zip"
    if len(head) >= 9 and head[8:9] == b"{":
        header_len = int.from_bytes(head[:8], "little")
        if 0 < header_len < size:
            return "safetensors"
    if head[:1] == b"\x80":
        return "torch-legacy"
    raise CheckpointError(
        f"{path.name} is not a recognised checkpoint format (torch zip, safetensors or legacy pickle); "
        f"it starts with bytes {head[:8]!r}"
    )


_FOREIGN_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x93NUMPY", "a NumPy .npy array (load it as probe data instead)"),
)


def _allow_list() -> list:
    """Harmless globals real checkpoints reference (Lightning hparams, paths, numpy scalars)."""
    import numpy as np

    allowed: list = [functools.partial, pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath]
    allowed += [pathlib.PureWindowsPath, np.dtype, np._core.multiarray.scalar]
    allowed += [type(np.dtype(t)) for t in ("float16", "float32", "float64", "int32", "int64", "bool")]
    try:
        from omegaconf import DictConfig, ListConfig, base, nodes

        allowed += [DictConfig, ListConfig, base.ContainerMetadata, base.Metadata, nodes.AnyNode]
        allowed += [Any, dict, list, int, collections.defaultdict]
    except ImportError:
        pass
    return allowed


def _torch_load(path: Path, trust: bool, *, mmap: bool) -> tuple[Any, tuple[str, ...]]:
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False, mmap=mmap), ()
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap), ()
        except pickle.UnpicklingError as exc:
            if "Unsupported global" not in str(exc) and "Unsupported operand" not in str(exc):
                raise
            allowed = _allow_list()
            try:
                with torch.serialization.safe_globals(allowed):
                    obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
            except pickle.UnpicklingError as exc2:
                listing, refused = list_tensors_safely(path)
                what = ", ".join(refused[:5]) or _refused_global(str(exc2))
                raise NeedsTrustError(
                    f"{path.name} needs full unpickling, which could run code it contains "
                    f"(it references {what}). Only the {len(listing)} tensor names and shapes were read. "
                    "If you made this file, tick 'I trust these files' (CLI: --trust).",
                    listing,
                ) from None
            used = sorted({_global_name(g) for g in allowed} & set(_globals_in(path)))
            return obj, tuple(used)
    except CheckpointError:
        raise
    except (
        RuntimeError,
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        OSError,
        AttributeError,
        ImportError,
        TypeError,
    ) as exc:
        raise CheckpointError(f"cannot read {path.name}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _refused_global(message: str) -> str:
    match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message)
    return match.group(1) if match else "code outside the safe allow-list"


def _global_name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', ''))}"


def _globals_in(path: Path) -> list[str]:
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # only a hint for the summary; the load itself already succeeded
        return []


# --- listing without executing anything ------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}
_TENSOR_REBUILDERS = {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3"}


class _Opaque:
    """Stand-in for any global the pickle names: records arguments, runs nothing."""

    qualname = "?"
    # Class-level defaults: NEWOBJ builds instances with __new__ alone, skipping __init__.
    args: tuple = ()
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.args += (item,)

    def extend(self, items: Any) -> None:
        self.args += tuple(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.args += (value,)


@dataclass
class _TensorStub:
    shape: tuple[int, ...]
    dtype: str


class _ListingUnpickler(pickle.Unpickler):
    def __init__(self, fh: Any) -> None:
        super().__init__(fh)
        self.refused: list[str] = []

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("torch") and name in _TENSOR_REBUILDERS:
            return _rebuild_stub
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *_: data
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "torch" and name in ("float32", "float16", "bfloat16", "float64", "int64", "int32"):
            return name
        qualname = f"{module}.{name}"
        if not module.startswith(("torch", "numpy", "omegaconf", "pathlib", "functools")):
            self.refused.append(qualname)
        return type(name, (_Opaque,), {"qualname": qualname})

    def persistent_load(self, pid: Any) -> Any:
        storage_type = pid[1] if isinstance(pid, tuple) and len(pid) > 1 else "?"
        dtype = storage_type if isinstance(storage_type, str) else "?"
        if len(pid) > 5 and isinstance(pid[5], str):  # newer layout names the dtype last
            dtype = pid[5]
        return dtype


def _rebuild_stub(storage: Any, offset: Any, size: Any, *rest: Any) -> _TensorStub:
    return _TensorStub(tuple(int(s) for s in size), storage if isinstance(storage, str) else "?")


def list_tensors_safely(path: str | Path) -> tuple[list[TensorInfo], list[str]]:
    """Tensor names/shapes/dtypes from a torch zip without resolving any global or calling anything.

    Returns (tensors, refused globals). Legacy (non-zip) files cannot be listed this way.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            pkl = next(n for n in zf.namelist() if n.endswith("data.pkl"))
            with zf.open(pkl) as fh:
                unpickler = _ListingUnpickler(fh)
                obj = unpickler.load()
    except Exception:  # a listing is best effort; nothing in the file was executed either way
        return [], []
    rows: list[TensorInfo] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, _TensorStub):
            rows.append(TensorInfo(prefix or "tensor", node.shape, node.dtype))
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(node, list | tuple):
            for i, v in enumerate(node):
                walk(v, f"{prefix}.{i}" if prefix else str(i))
        elif isinstance(node, _Opaque):
            walk(node.state, prefix)
            for i, v in enumerate(node.args):
                walk(v, f"{prefix}.{i}" if prefix else str(i))

    walk(obj, "")
    return rows, list(dict.fromkeys(unpickler.refused))


# --- state dict and config discovery ---------------------------------------------------------------


def _is_tensor_mapping(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def _from_object(path: Path, obj: Any) -> LoadedCheckpoint:
    if isinstance(obj, torch.nn.Module):
        obj = {"model": obj}
    if isinstance(obj, torch.Tensor):
        if obj.dim() == 0:
            raise CheckpointError(f"{path.name} holds a single 0-d tensor: no weights and no data to inspect")
        return LoadedCheckpoint(path, "tensor-data", {}, data_tensors={"tensor": obj})
    data = _data_tensors(obj)
    if data is not None:
        return LoadedCheckpoint(path, "tensor-data", {}, data_tensors=data)
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


def _data_tensors(obj: Any) -> dict[str, torch.Tensor] | None:
    """A list of tensors, or a top-level mapping that holds data (see core.roles.is_data), else None."""
    from .roles import is_data

    if isinstance(obj, list | tuple) and obj and all(isinstance(t, torch.Tensor) for t in obj):
        return {str(i): t for i, t in enumerate(obj)}
    if not _is_tensor_mapping(obj) or any(t.dim() == 0 for t in obj.values()):
        return None
    described = {str(k): (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for k, t in obj.items()}
    return {str(k): t for k, t in obj.items()} if is_data(described) else None


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
    for name, sd in components.items():
        sd = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
        cleaned[name], s = _strip_prefixes(sd, lightning)
        stripped |= s
    if (
        len(cleaned) == 1
    ):  # one state dict, whatever its key ('model', 'weights', 'vae_state_dict'): the model
        state = next(iter(cleaned.values()))
    else:
        state = {f"{c}.{k}": v for c, sd in cleaned.items() for k, v in sd.items()}
    if state and all(v.dim() == 0 for v in state.values()):
        raise CheckpointError(
            f"{path.name} holds only {len(state)} 0-d (scalar) tensors ({', '.join(list(state)[:4])}): "
            "no weights to inspect; it looks like saved metrics, not a model"
        )
    config, source = _config_in(obj)
    return LoadedCheckpoint(
        path=path,
        format=fmt,
        state_dict=state,
        components=cleaned,
        config=config,
        config_source=source,
        metadata=_scalars(obj),
        tied=_dedupe_tied(state),
        has_optimizer=any(
            NON_MODEL_KEYS.search(str(k)) and "optim" in str(k).lower() and bool(v) for k, v in obj.items()
        ),
        stripped_prefixes=tuple(sorted(stripped)),
    )


def _to_plain(value: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, DictConfig | ListConfig):
            return OmegaConf.to_container(value, resolve=False)
    except ImportError:
        pass
    if hasattr(value, "__dict__") and not isinstance(value, Mapping | type):
        return dict(vars(value))  # argparse.Namespace in trusted loads
    return value


def _config_in(obj: Mapping) -> tuple[dict, str | None]:
    for key in CONFIG_KEYS:
        value = _to_plain(obj.get(key))
        if isinstance(value, Mapping) and value:
            return dict(value), f"in-file '{key}'"
    return {}, None


def _json_or_none(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def read_config_file(path: Path) -> dict:
    """A JSON or YAML config as a plain dict (YAML through `yaml.safe_load`: no object tags)."""
    try:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            value = yaml.safe_load(text)
        else:
            value = json.loads(text)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read config {path.name}: {_first_line(exc)}") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"config {path.name} is not a mapping")
    return value


def _discover_config(path: Path, given: str | Path | None) -> tuple[dict, str | None]:
    if given is not None:  # a file the user named beats anything found by looking around
        return read_config_file(Path(given)), str(given)
    folder = path if path.is_dir() else path.parent
    candidates = [folder / "config.json"]
    if path.is_file():
        candidates.append(folder / f"{path.stem}.json")
    candidates += [folder / ".hydra" / "config.yaml", folder.parent / ".hydra" / "config.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            try:
                return read_config_file(candidate), str(candidate)
            except CheckpointError:
                continue
    return {}, None


# --- safetensors and directories -------------------------------------------------------------------


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path.name} as safetensors: {_first_line(exc)}") from None
    if not tensors:
        raise CheckpointError(f"{path.name} holds no tensors")
    return tensors, meta


def weight_files(folder: Path) -> list[Path]:
    """Checkpoint-like files directly inside `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def _load_directory(folder: Path, trust: bool) -> LoadedCheckpoint:
    present = [name for name in HF_WEIGHT_FILES if (folder / name).is_file()]
    if not present:
        others = weight_files(folder)
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
        index = read_config_file(folder / name)
        shards = [folder / s for s in sorted(set(index.get("weight_map", {}).values()))]
    else:
        shards = [folder / name]
    tensors: dict[str, torch.Tensor] = {}
    for shard in shards:
        if not shard.is_file():
            raise CheckpointError(f"{folder.name}/ is missing the shard {shard.name} named by its index")
        if shard.suffix == ".safetensors":
            tensors.update(_read_safetensors(shard)[0])
        else:
            obj, _ = _torch_load(shard, trust, mmap=sniff(shard) == "torch-zip")
            if not _is_tensor_mapping(obj):
                raise CheckpointError(f"{shard.name} is not a mapping of tensors")
            tensors.update(obj)
    loaded = _from_state(folder, "hf-dir", {"model": tensors}, {})
    if (folder / "config.json").is_file():
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
