"""Bounds on what one untrusted file may cost: bytes read, elements materialised, nodes walked.

Checkpoints, probes, configs and logs come from strangers, so every reader checks declared sizes
against these figures *before* it allocates, and every walk over a nested structure is bounded in
depth and node count and refuses cycles. Each figure can be raised for a deployment that opens
bigger files, through `COLLAPSE_EXPLORER_<NAME>` (e.g. `COLLAPSE_EXPLORER_MAX_ELEMENTS=4294967296`).

Files are read only when they are regular files (FIFOs, devices and sockets are refused without
opening them in blocking mode), and paths found by looking around a checkpoint (sibling configs,
logs, probes) must resolve inside the folder they were found in, so a symlink cannot lead out.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ..config import env_int
from .errors import CollapseExplorerError

GIB = 1 << 30
MIB = 1 << 20


# Elements over all tensors of one checkpoint: 2^31 is 8 GiB of float32, 4 GiB of float16.
MAX_ELEMENTS = env_int("MAX_ELEMENTS", 1 << 31)
# A view may address more elements than its storage holds (stride 0, overlapping strides) only by
# this many bytes: a 1-element storage expanded to 10^12 elements is refused, `position_ids`-style
# buffers (arange(n).expand(1, -1)) are not.
MAX_VIEW_SLACK_BYTES = env_int("MAX_VIEW_SLACK_BYTES", 4 * MIB)
# Bytes one file may make us hold in memory at once: compressed zip members once inflated,
# legacy (non-zip) torch files, which torch reads whole.
MAX_INFLATED_BYTES = env_int("MAX_INFLATED_BYTES", 4 * GIB)
# The pickle inside a torch zip (data.pkl) holds structure, not tensor bytes: real ones are KBs to MBs.
MAX_PICKLE_BYTES = env_int("MAX_PICKLE_BYTES", 64 * MIB)
# Probe files (.npz / .safetensors), by their declared array sizes.
MAX_PROBE_BYTES = env_int("MAX_PROBE_BYTES", 2 * GIB)
# Text read whole and parsed: configs, JSON / CSV logs, safetensors headers and metadata.
MAX_TEXT_BYTES = env_int("MAX_TEXT_BYTES", 64 * MIB)
# Nesting depth and node count of configs, metadata and listings.
MAX_DEPTH = env_int("MAX_DEPTH", 100)
MAX_NODES = env_int("MAX_NODES", 1_000_000)
# TensorBoard: bytes of one event record, and logged points per log file.
MAX_RECORD_BYTES = env_int("MAX_RECORD_BYTES", 64 * MIB)
MAX_LOG_POINTS = env_int("MAX_LOG_POINTS", 5_000_000)


# What Python's zipfile (and numpy's .npz reader on top of it) raises on a malformed archive: a
# corrupt directory, an unknown version or method, a bad deflate stream, a member cut short.
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    NotImplementedError,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    KeyError,
    struct.error,
    OverflowError,
)


def describe_kind(mode: int) -> str:
    """'a FIFO', 'a socket', ... for a stat mode that is not a regular file."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def regular_file(path: str | Path, error: type[CollapseExplorerError] = CollapseExplorerError) -> Path:
    """`path` when it names a regular file (symlinks followed), else `error` saying what it is.

    Only stats the file: a FIFO is never opened, so nothing blocks."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise error(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise error(f"{path.name} is {describe_kind(mode)}, not a regular file: refused")
    return path


def open_regular(path: str | Path, error: type[CollapseExplorerError] = CollapseExplorerError) -> IO[bytes]:
    """A binary handle on a regular file; opened non-blocking and checked on the open descriptor, so a
    file swapped for a FIFO after a check cannot hang the reader."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"cannot read {path.name}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise error(f"{path.name} is {describe_kind(mode)}, not a regular file: refused")
    return os.fdopen(fd, "rb")


def read_limited(
    path: str | Path, limit: int, error: type[CollapseExplorerError] = CollapseExplorerError
) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; larger files are refused unread."""
    with open_regular(path, error) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise error(f"{Path(path).name} is {size:,} bytes, over the {limit:,}-byte limit for such files")
        data = fh.read(limit + 1)
    if len(data) > limit:  # a file that grew while being read
        raise error(f"{Path(path).name} is over the {limit:,}-byte limit for such files")
    return data


def read_text_limited(
    path: str | Path,
    limit: int = MAX_TEXT_BYTES,
    error: type[CollapseExplorerError] = CollapseExplorerError,
    encoding: str = "utf-8",
) -> str:
    """A regular text file of at most `limit` bytes, decoded; undecodable text is `error`."""
    try:
        return read_limited(path, limit, error).decode(encoding)
    except UnicodeDecodeError as exc:
        raise error(f"{Path(path).name} is not {encoding} text ({exc.reason} at byte {exc.start})") from None


def _omegaconf_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    try:
        from omegaconf import DictConfig, ListConfig
        from omegaconf.nodes import ValueNode
    except ImportError:
        return (), ()
    return (DictConfig, ListConfig), (ValueNode,)


def _raw(obj: Any, name: str) -> Any:
    """An attribute from the instance dict, without OmegaConf's __getattr__ (which resolves)."""
    try:
        return object.__getattribute__(obj, "__dict__").get(name)
    except AttributeError:
        return None


def plain_tree(
    value: Any,
    what: str,
    error: type[CollapseExplorerError] = CollapseExplorerError,
    *,
    max_depth: int | None = None,
    max_nodes: int | None = None,
) -> Any:
    """A copy of `value` as plain dicts, lists and tuples, bounded in depth and node count.

    OmegaConf containers are read from their raw nodes, so `${oc.env:NAME}` and every other
    interpolation stays the literal text (nothing is resolved, no resolver runs, no environment is
    read). A structure that contains itself, nests deeper than `max_depth` or holds more than
    `max_nodes` nodes (shared sub-structures count each time they are reached, so alias bombs are
    bounded too) is `error`. Anything else (tensors, numbers, strings, objects) is kept as it is."""
    depth_limit = MAX_DEPTH if max_depth is None else max_depth
    node_limit = MAX_NODES if max_nodes is None else max_nodes
    containers, value_nodes = _omegaconf_types()
    on_path: set[int] = set()
    count = 0

    def walk(node: Any, depth: int) -> Any:
        nonlocal count
        count += 1
        if count > node_limit:
            raise error(f"{what} holds more than {node_limit:,} nested values: refused")
        if value_nodes and isinstance(node, value_nodes):
            return walk(_raw(node, "_val"), depth)
        is_config = bool(containers) and isinstance(node, containers)
        if not (is_config or isinstance(node, Mapping | list | tuple)):
            return node
        if type(node) in (list, tuple) and all(type(v) in _SCALARS for v in node):
            return node  # a loss history of millions of floats is one value: it cannot multiply
        if depth >= depth_limit:
            raise error(f"{what} nests deeper than {depth_limit} levels: refused")
        if id(node) in on_path:
            raise error(f"{what} contains itself (a reference cycle): refused")
        on_path.add(id(node))
        try:
            content = _raw(node, "_content") if is_config else node
            if not isinstance(content, Mapping | list | tuple):
                return content  # a whole-container interpolation, "???" or None, as written
            if isinstance(content, Mapping):
                return {_key(k): walk(v, depth + 1) for k, v in content.items()}
            items = [walk(v, depth + 1) for v in content]
            return tuple(items) if isinstance(content, tuple) and not is_config else items
        finally:
            on_path.discard(id(node))

    return walk(value, 0)


_SCALARS = frozenset({int, float, str, bool, bytes, type(None)})


def _key(key: Any) -> Any:
    return key if isinstance(key, str | int | float | bool) or key is None else str(key)
