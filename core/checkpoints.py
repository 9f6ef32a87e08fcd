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

import collections
import functools
import io
import json
import math
import pathlib
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, NeedsTrustError
from .limits import (
    ARCHIVE_ERRORS,
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_INFLATED_BYTES,
    MAX_NODES,
    MAX_PICKLE_BYTES,
    MAX_TEXT_BYTES,
    MAX_VIEW_SLACK_BYTES,
    open_regular,
    plain_tree,
    read_text_limited,
    regular_file,
)
from .paths import WEIGHT_SUFFIXES, found_file

CONFIG_KEYS = ("config", "args", "hyper_parameters", "hparams")
STATE_KEYS = ("state_dict", "model_state_dict", "model")
NON_MODEL_KEYS = re.compile(r"optim|scheduler|scaler|lr_sched|callbacks|loops", re.IGNORECASE)
# An exponential-moving-average copy of the weights, saved beside them (`ema`, `model_ema`, `ema_model`,
# `ema_state_dict`) or inside the state dict under a prefix (Lightning's LitEma: `model_ema.`).
EMA_NAME = re.compile(r"(?:^|_)ema(?:_|$)", re.IGNORECASE)
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
        raise CheckpointError(f"no such file or folder: {path.name}")
    from .language_io import adapter_folder_of

    path = adapter_folder_of(path)  # an adapter's weights file opens as its folder, with its config
    try:
        loaded = (
            _load_directory(path, trust)
            if path.is_dir()
            else _load_file(regular_file(path, CheckpointError), trust)
        )
        found, source = _discover_config(path, config_path)
    except MemoryError:
        raise CheckpointError(f"{path.name} needs more memory than this machine allows to read") from None
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


def sniff(path: Path) -> str:
    """'torch-zip', 'torch-legacy' or 'safetensors' from the first bytes; CheckpointError otherwise.

    A torch zip is also checked against the limits before anything reads it: declared sizes of the
    pickle and of compressed members (torch itself never compresses), so a zip bomb is refused unread."""
    with open_regular(path, CheckpointError) as fh:
        size = Path(path).stat().st_size
        head = fh.read(16)
    if size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes): not a checkpoint")
    for magic, what in _FOREIGN_MAGIC:
        if head.startswith(magic):
            raise CheckpointError(
                f"{path.name} is {what}, not a checkpoint (it only has a checkpoint's name)"
            )
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
        except ARCHIVE_ERRORS:
            raise CheckpointError(
                f"{path.name} is a truncated or corrupt zip archive (its central directory is missing); "
                "the save was probably interrupted: re-save or copy the file again"
            ) from None
        if not any(i.filename.endswith("data.pkl") for i in infos):
            raise CheckpointError(f"{path.name} is a zip archive but not a torch checkpoint (no data.pkl)")
        _check_zip(path, infos, size)
        return "torch-zip"
    if len(head) >= 9 and head[8:9] == b"{":
        header_len = int.from_bytes(head[:8], "little")
        if 0 < header_len < size:
            return "safetensors"
    if head[:1] == b"\x80":
        if size > MAX_INFLATED_BYTES:
            raise CheckpointError(
                f"{path.name} is a legacy (non-zip) torch file of {size:,} bytes, which torch reads whole; "
                f"the limit is {MAX_INFLATED_BYTES:,} bytes: re-save it with a recent torch.save"
            )
        return "torch-legacy"
    raise CheckpointError(
        f"{path.name} is not a recognised checkpoint format (torch zip, safetensors or legacy pickle); "
        f"it starts with bytes {head[:8]!r}"
    )


def _check_zip(path: Path, infos: list[zipfile.ZipInfo], size: int) -> None:
    inflated = 0
    for info in infos:
        if info.filename.endswith("data.pkl") and info.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(
                f"{path.name} declares a {info.file_size:,}-byte pickle ({info.filename}); real ones are "
                f"far smaller and the limit is {MAX_PICKLE_BYTES:,} bytes: refused"
            )
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size > size:
                raise CheckpointError(
                    f"{path.name} is a corrupt zip archive: {info.filename} claims {info.file_size:,} bytes "
                    f"in a {size:,}-byte file"
                )
            continue
        if "/data/" in info.filename:
            raise CheckpointError(
                f"{path.name} holds compressed tensor data ({info.filename}), which torch.save never writes "
                "(the archive was re-zipped): re-save it with torch.save"
            )
        inflated += info.file_size
    if inflated > MAX_INFLATED_BYTES:
        raise CheckpointError(
            f"{path.name} would inflate to {inflated:,} bytes, over the {MAX_INFLATED_BYTES:,}-byte limit "
            "(a zip bomb or a re-zipped checkpoint): refused"
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


class _Refused(Exception):
    """torch's restricted unpickler stopped: a global it does not allow, or a malformed pickle."""


def _torch_load(path: Path, trust: bool, *, mmap: bool) -> tuple[Any, tuple[str, ...]]:
    if trust:
        return _guarded_load(path, mmap=mmap, weights_only=False), ()
    try:
        return _guarded_load(path, mmap=mmap), ()
    except _Refused:
        pass
    allowed = _allow_list()
    try:
        with torch.serialization.safe_globals(allowed):
            obj = _guarded_load(path, mmap=mmap)
    except _Refused as refusal:
        # torch words its refusals differently by module ("Unsupported global", "module posix is
        # blocked", ...), so the file itself says whether code was asked for: a listing that parses
        # the whole pickle and meets globals outside the safe set.
        listing, refused = list_tensors_safely(path)
        if not refused:
            raise CheckpointError(f"cannot read {path.name}: {refusal}") from None
        raise NeedsTrustError(
            f"{path.name} needs full unpickling, which could run code it contains "
            f"(it references {', '.join(refused[:5])}). Only the {len(listing)} tensor names and shapes "
            "were read. If you made this file, tick 'I trust these files' (CLI: --trust).",
            listing,
        ) from None
    used = sorted({_global_name(g) for g in allowed} & set(_globals_in(path)))
    return obj, tuple(used)


def _guarded_load(path: Path, *, mmap: bool, weights_only: bool = True) -> Any:
    """torch.load, where every failure is a bad file: it parses untrusted bytes (and, trusted, runs
    their code), so no exception it raises can be a bug of ours."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about odd protocols on stderr: one line only
            return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=mmap)
    except pickle.UnpicklingError as exc:
        if weights_only:
            raise _Refused(_torch_reason(exc)) from None
        raise CheckpointError(f"cannot read {path.name}: {_first_line(exc)}") from None
    except MemoryError:
        raise CheckpointError(f"{path.name} needs more memory than this machine allows to read") from None
    except (Exception, SystemExit) as exc:
        raise CheckpointError(f"cannot read {path.name}: {_first_line(exc)}") from None


_TORCH_BOILERPLATE = (
    "Weights only load failed",
    "Please file an issue",
    "Check the documentation",
    "In PyTorch",
)


def _torch_reason(exc: BaseException) -> str:
    """The line of a weights-only refusal that says what was refused (torch wraps it in advice to
    pass weights_only=False, which is exactly what must not be done with a stranger's file)."""
    text = str(exc).split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(_TORCH_BOILERPLATE)]
    return (useful or lines or [type(exc).__name__])[0][:300]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


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
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}  # names protocol-2 pickles use


@functools.cache
def _harmless_globals() -> frozenset[str]:
    """Globals a file may name without asking for code: torch's weights-only set plus our allow-list."""
    from torch._weights_only_unpickler import _get_allowed_globals

    return frozenset(_get_allowed_globals()) | {_global_name(g) for g in _allow_list()}


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
        qualname = f"{_PY2_MODULES.get(module, module)}.{name}"
        if qualname not in _harmless_globals():
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


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _listing_pickle(path: Path) -> tuple[Any, list[str]]:
    """The main pickle of a torch file parsed by the listing unpickler: (object, refused globals)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            info = next(i for i in zf.infolist() if i.filename.endswith("data.pkl"))
            if info.file_size > MAX_PICKLE_BYTES:
                raise CheckpointError("pickle over the size limit")
            with zf.open(info) as fh:
                data = fh.read(MAX_PICKLE_BYTES + 1)  # the bytes really inflated, not the declared size
        if len(data) > MAX_PICKLE_BYTES:
            raise CheckpointError("pickle over the size limit")
        unpickler = _ListingUnpickler(io.BytesIO(data))
        return unpickler.load(), unpickler.refused
    with open_regular(path, CheckpointError) as fh:  # legacy: magic, protocol, sys info, then the object
        unpickler = _ListingUnpickler(fh)
        if unpickler.load() != _LEGACY_MAGIC:
            raise CheckpointError("not a legacy torch file")
        unpickler.load()
        unpickler.load()
        return unpickler.load(), unpickler.refused


def list_tensors_safely(path: str | Path) -> tuple[list[TensorInfo], list[str]]:
    """Tensor names/shapes/dtypes from a torch file (zip or legacy) without resolving any global or
    calling anything. Returns (tensors, refused globals); both are empty when the pickle cannot be
    parsed at all (a malformed file, not one that asks for code)."""
    path = Path(path)
    try:
        obj, refused = _listing_pickle(path)
    except Exception:  # a listing is best effort; nothing in the file was executed either way
        return [], []
    rows: list[TensorInfo] = []
    on_path: set[int] = set()
    budget = [0]

    def walk(node: Any, prefix: str, depth: int) -> None:
        budget[0] += 1
        if budget[0] > MAX_NODES or depth > MAX_DEPTH or id(node) in on_path:
            return  # a listing shows what it can; cycles and bombs simply end it
        if isinstance(node, _TensorStub):
            rows.append(TensorInfo(prefix or "tensor", node.shape, node.dtype))
            return
        if isinstance(node, dict):
            children = [(str(k), v) for k, v in node.items()]
        elif isinstance(node, list | tuple):
            children = [(str(i), v) for i, v in enumerate(node)]
        elif isinstance(node, _Opaque):
            children = [("", node.state)] + [(str(i), v) for i, v in enumerate(node.args)]
        else:
            return
        on_path.add(id(node))
        for key, child in children:
            walk(child, f"{prefix}.{key}" if prefix and key else (key or prefix), depth + 1)
        on_path.discard(id(node))

    walk(obj, "", 0)
    return rows, list(dict.fromkeys(refused))


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
    check_tensors(data, path.name)
    return LoadedCheckpoint(path, "tensor-data", {}, data_tensors=data)


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
    )


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


# --- safetensors and directories -------------------------------------------------------------------


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors of a safetensors file, memory-mapped (`safe_open` reads nothing until used), after the
    header's shapes were checked against the element limit."""
    from safetensors import SafetensorError, safe_open

    regular_file(path, CheckpointError)
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            keys = list(fh.keys())
            total = sum(math.prod(fh.get_slice(k).get_shape()) for k in keys)
            if total > MAX_ELEMENTS:
                raise CheckpointError(
                    f"{path.name} declares {total:,} tensor elements, over the limit of {MAX_ELEMENTS:,}"
                )
            tensors = {k: fh.get_tensor(k) for k in keys}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"cannot read {path.name} as safetensors: {_first_line(exc)}") from None
    if not tensors:
        raise CheckpointError(f"{path.name} holds no tensors")
    return tensors, meta


def weight_files(folder: Path) -> list[Path]:
    """Checkpoint-like regular files directly inside `folder` (symlinks leading out skipped), by name."""
    return sorted(
        p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and found_file(p, folder) is not None
    )


def _load_directory(folder: Path, trust: bool) -> LoadedCheckpoint:
    from .language_io import ADAPTER_CONFIG, load_adapter_folder

    if found_file(folder / ADAPTER_CONFIG, folder) is not None:
        return load_adapter_folder(folder, trust)
    present = [name for name in HF_WEIGHT_FILES if found_file(folder / name, folder) is not None]
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
        weight_map = read_config_file(folder / name).get("weight_map", {})
        if not isinstance(weight_map, Mapping):
            raise CheckpointError(f"{name} has no weight_map mapping tensor names to shard files")
        shards = [folder / str(s) for s in sorted({str(v) for v in weight_map.values()})]
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
