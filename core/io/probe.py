"""Probe data: the inputs a model is measured on, read from `.npz` or `.safetensors`.

Named arrays: `embeddings [N, D]`, `attributes [N, A]` (0/1), `attribute_names [A]`, `x [N, ...]`
model inputs, `labels [N]`, `texts [N]` (references), `codes [N, ...]` (codebook indices, the last axis
per head for multi-head codebooks). Every field is optional. Other numeric arrays (at most 32: `y`, `c`,
`t`, `x1`, ...) are kept as `extras`; a live model's forward gets them by parameter name.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from tokenize import TokenError

import numpy as np

from ..roles.data import looks_like
from .errors import CollapseExplorerError, ProbeError
from .limits import ARCHIVE_ERRORS, MAX_PROBE_BYTES, regular_file
from .paths import found_file

PROBE_NAME = "probe.npz"
MAX_EXTRA_FIELDS = 32  # other named arrays kept for a live model's forward (`y`, `c`, `t`, `x1`, ...)
TORCH_DATA_SUFFIXES = (".pt", ".pth", ".bin")


@dataclass(frozen=True)
class ProbeData:
    """Arrays to measure a model on; shapes are checked against each other on load."""

    embeddings: np.ndarray | None = None
    attributes: np.ndarray | None = None
    attribute_names: tuple[str, ...] = ()
    x: np.ndarray | None = None
    labels: np.ndarray | None = None
    texts: tuple[str, ...] = ()
    codes: np.ndarray | None = None
    source: str = ""
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sizes = {
            f.name: len(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("attribute_names", "source", "extras")
            and getattr(self, f.name) is not None
            and not (f.name == "texts" and len(self.texts) == 0)
        }
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{k}: {v}" for k, v in sizes.items())
            raise ProbeError(f"probe arrays disagree on the number of rows ({detail})")
        if self.attributes is not None:
            if self.attributes.ndim != 2:
                raise ProbeError(f"attributes must be [N, A], got shape {self.attributes.shape}")
            if not np.isin(self.attributes, (0, 1)).all():
                raise ProbeError("attributes must be 0/1")
            if self.attribute_names and len(self.attribute_names) != self.attributes.shape[1]:
                raise ProbeError(
                    f"{len(self.attribute_names)} attribute names for "
                    f"{self.attributes.shape[1]} attribute columns"
                )
        if self.embeddings is not None and self.embeddings.ndim != 2:
            raise ProbeError(f"embeddings must be [N, D], got shape {self.embeddings.shape}")

    def fields(self) -> dict[str, np.ndarray]:
        """Named row arrays a live model's forward may take by parameter name: `labels`, `attributes`
        and every other numeric array of the probe file (`y`, `c`, `t`, `x1`, ...)."""
        named = {"labels": self.labels, "attributes": self.attributes, **self.extras}
        return {k: v for k, v in named.items() if v is not None}

    @property
    def n(self) -> int:
        for name in ("embeddings", "x", "attributes", "labels", "codes"):
            value = getattr(self, name)
            if value is not None:
                return len(value)
        return len(self.texts)


_NUMERIC = "biuf"  # bool, signed, unsigned, float: what a model input or an embedding may be


def _numeric(name: str, value: np.ndarray, *, finite: bool = True) -> np.ndarray:
    if value.dtype.kind not in _NUMERIC:
        raise ProbeError(f"probe {name} must be numbers, got {value.dtype} values")
    if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = int((~np.isfinite(value)).sum())
        raise ProbeError(f"probe {name} holds {bad:,} NaN/Inf value(s): give finite numbers")
    return value


def _integers(name: str, value: np.ndarray) -> np.ndarray:
    value = _numeric(name, value)
    if value.dtype.kind == "f" and not (value == np.round(value)).all():
        raise ProbeError(
            f"probe {name} must be whole numbers, got fractions such as {value[value != np.round(value)][0]}"
        )
    return value.astype(np.int64)


def _strings(name: str, value: np.ndarray) -> tuple[str, ...]:
    if value.dtype.kind not in "US":
        raise ProbeError(f"probe {name} must be strings, got {value.dtype} values")
    return tuple(str(s) for s in value.reshape(-1))


def _from_arrays(arrays: dict[str, np.ndarray], source: str) -> ProbeData:
    """Probe fields from named arrays, every one checked before it is cast: numbers where numbers are
    meant (no strings, NaN or Inf), attributes exactly 0/1 (0.5 is refused, never rounded), whole-number
    labels and code indices, strings for texts and names, and at least one row."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if "codes" in arrays and arrays["codes"].dtype.kind not in "iu":
        raise ProbeError(f"probe codes must be integer code indices, got {arrays['codes'].dtype}")
    attributes = arrays.get("attributes")
    if attributes is not None:
        _numeric("attributes", attributes)
        if not np.isin(attributes, (0, 1)).all():
            odd = attributes[~np.isin(attributes, (0, 1))].reshape(-1)[0]
            raise ProbeError(f"probe attributes must be 0/1, got values such as {odd}")
    known = {f.name for f in fields(ProbeData)} - {"extras", "source"}
    extras = {
        name: _numeric(name, value)
        for name, value in sorted(arrays.items())
        if name not in known and value.dtype.kind in _NUMERIC and value.ndim >= 1
    }
    if len(extras) > MAX_EXTRA_FIELDS:
        raise ProbeError(
            f"probe data holds {len(extras)} arrays besides the known fields; at most {MAX_EXTRA_FIELDS} are read"
        )
    probe = ProbeData(
        embeddings=_numeric("embeddings", arrays["embeddings"]).astype(np.float32)
        if "embeddings" in arrays
        else None,
        attributes=attributes.astype(np.int8) if attributes is not None else None,
        attribute_names=_strings("attribute_names", arrays["attribute_names"])
        if "attribute_names" in arrays
        else (),
        x=_numeric("x", arrays["x"]) if "x" in arrays else None,
        labels=_integers("labels", arrays["labels"]) if "labels" in arrays else None,
        texts=_strings("texts", arrays["texts"]) if "texts" in arrays else (),
        codes=arrays["codes"].astype(np.int64) if "codes" in arrays else None,
        source=source,
        extras=extras,
    )
    if probe.n == 0:
        given = ", ".join(sorted(arrays)) or "no arrays at all"
        raise ProbeError(f"probe data {Path(source).name} has 0 rows ({given}): nothing to measure on")
    return probe


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def check_npz(path: Path) -> None:
    """Declared sizes of an .npz, from its zip directory and each .npy header, against the probe limit
    and against what each member really holds: an array header may claim 10^15 rows. ProbeError when
    one is off; nothing is inflated beyond the headers."""
    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for info in zf.infolist():
                with zf.open(info) as fh:
                    reader = _NPY_HEADERS.get(np.lib.format.read_magic(fh))
                    if reader is None:
                        raise ProbeError(
                            f"probe array {info.filename} has an unsupported .npy format version"
                        )
                    shape, _, dtype = reader(fh)
                declared = math.prod(shape) * dtype.itemsize
                if dtype.hasobject:
                    raise ProbeError(f"probe array {info.filename} holds Python objects (a pickle): refused")
                if declared > info.file_size:
                    raise ProbeError(
                        f"probe array {info.filename} declares {declared:,} bytes but its member holds "
                        f"{info.file_size:,}: a corrupt or hostile file"
                    )
                total += declared
    except (*ARCHIVE_ERRORS, SyntaxError, TokenError) as exc:
        # numpy parses the header with tokenize and literal_eval: a broken one raises any of these
        raise ProbeError(f"cannot read probe data {path.name}: {exc}") from None
    if total > MAX_PROBE_BYTES:
        raise ProbeError(
            f"probe data {path.name} holds {total:,} bytes of arrays, over the {MAX_PROBE_BYTES:,}-byte limit"
        )


def _check_safetensors(path: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            total = sum(math.prod(fh.get_slice(k).get_shape()) for k in fh.keys())  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ProbeError(f"cannot read probe data {path.name}: {exc}") from None
    if total * 8 > MAX_PROBE_BYTES:
        raise ProbeError(f"probe data {path.name} declares {total:,} elements, over the probe limit")


def load_probe(path: str | Path) -> ProbeData:
    """Read probe arrays from `.npz` (no pickles) or `.safetensors`, sizes checked before reading."""
    path = Path(path)
    if not path.exists():
        raise ProbeError(f"probe file not found: {path.name}")
    regular_file(path, ProbeError)
    if path.suffix in TORCH_DATA_SUFFIXES:
        return _from_arrays(_torch_data_arrays(path), str(path))
    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            _check_safetensors(path)
            arrays = dict(load_file(str(path)))
        else:
            check_npz(path)
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except MemoryError:
        raise ProbeError(f"probe data {path.name} needs more memory than this machine allows") from None
    except ARCHIVE_ERRORS as exc:
        raise ProbeError(f"cannot read probe data {path.name}: {exc}") from None
    return _from_arrays(arrays, str(path))


def _torch_data_arrays(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a torch file that holds data (a bare tensor, a list, named tensors), by probe field.

    Named tensors keep probe field names (`embeddings`, `x`, `codes`, ...); others go to the field they
    look like (core.roles.looks_like): integer tensors -> codes, [N, D] floats -> embeddings.
    """
    # The checkpoint reader brings torch; .npz and safetensors probes (and find_probe) do without it.
    from .checkpoints import load_checkpoint

    try:
        loaded = load_checkpoint(path)
    except CollapseExplorerError as exc:
        raise ProbeError(f"cannot read probe data {path.name}: {exc}") from None
    if loaded.state_dict or not loaded.data_tensors:
        raise ProbeError(f"{path.name} holds model weights, not probe data")
    size = sum(t.numel() * t.element_size() for t in loaded.data_tensors.values())
    if size > MAX_PROBE_BYTES:
        raise ProbeError(
            f"probe data {path.name} holds {size:,} bytes of tensors, over the {MAX_PROBE_BYTES:,}-byte limit"
        )
    known = {f.name for f in fields(ProbeData)}
    arrays: dict[str, np.ndarray] = {}
    for name, tensor in loaded.data_tensors.items():
        dtype = str(tensor.dtype).removeprefix("torch.")
        target = name if name in known else looks_like(name, tuple(tensor.shape), dtype)[1]
        if target is not None and target not in arrays:
            try:
                arrays[target] = tensor.detach().cpu().numpy()
            except TypeError:  # bfloat16 and other dtypes numpy has no type for
                arrays[target] = tensor.detach().float().numpy()
    if not arrays:
        raise ProbeError(f"{path.name} holds no tensor usable as probe data (codes, embeddings or x)")
    return arrays


def find_probe(checkpoint: str | Path) -> Path | None:
    """`probe.npz` beside the checkpoint, or in its parent run folder."""
    checkpoint = Path(checkpoint)
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    for root in (folder, folder.parent):  # a symlink leading out of its folder is no candidate
        if found_file(root / PROBE_NAME, root) is not None:
            return root / PROBE_NAME
    return None


def save_probe(path: str | Path, probe: ProbeData) -> None:
    """Write probe arrays as `.npz` (strings as unicode arrays, so no pickle is needed)."""
    arrays: dict[str, np.ndarray] = {}
    for name in ("embeddings", "attributes", "x", "labels", "codes"):
        value = getattr(probe, name)
        if value is not None:
            arrays[name] = value
    arrays.update(probe.extras)
    if probe.attribute_names:
        arrays["attribute_names"] = np.array(probe.attribute_names)
    if probe.texts:
        arrays["texts"] = np.array(probe.texts)
    np.savez_compressed(path, **arrays)
