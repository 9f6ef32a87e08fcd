"""Restricted unpickling: `torch.load(weights_only=True)` with a small allow-list of harmless globals, and
a listing unpickler that resolves no global and calls nothing (the tensor names, shapes and dtypes of a
file that is not trusted).
"""

from __future__ import annotations

import collections
import functools
import io
import pathlib
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, NeedsTrustError
from .limits import MAX_DEPTH, MAX_NODES, MAX_PICKLE_BYTES, open_regular


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


_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}  # names protocol-2 pickles use


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
