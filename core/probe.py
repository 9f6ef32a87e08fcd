"""Probe data: the inputs a model is measured on, read from `.npz` or `.safetensors`.

Named arrays: `embeddings [N, D]`, `attributes [N, A]` (0/1), `attribute_names [A]`, `x [N, ...]`
model inputs, `labels [N]`, `texts [N]` (references), `codes [N, ...]` (codebook indices, the last axis
per head for multi-head codebooks). Every field is optional.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .errors import ProbeError

PROBE_NAME = "probe.npz"
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

    def __post_init__(self) -> None:
        sizes = {
            f.name: len(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("attribute_names", "source")
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

    @property
    def n(self) -> int:
        for name in ("embeddings", "x", "attributes", "labels", "codes"):
            value = getattr(self, name)
            if value is not None:
                return len(value)
        return len(self.texts)


def _from_arrays(arrays: dict[str, np.ndarray], source: str) -> ProbeData:
    def opt(name: str, dtype: type | None = None) -> np.ndarray | None:
        if name not in arrays:
            return None
        value = np.asarray(arrays[name])
        return value.astype(dtype) if dtype is not None else value

    if "codes" in arrays and not np.issubdtype(np.asarray(arrays["codes"]).dtype, np.integer):
        raise ProbeError(f"probe codes must be integer code indices, got {np.asarray(arrays['codes']).dtype}")
    names = arrays.get("attribute_names")
    texts = arrays.get("texts")
    return ProbeData(
        embeddings=opt("embeddings", np.float32),
        attributes=opt("attributes", np.int8),
        attribute_names=tuple(str(s) for s in names) if names is not None else (),
        x=opt("x"),
        labels=opt("labels", np.int64),
        texts=tuple(str(s) for s in texts) if texts is not None else (),
        codes=opt("codes", np.int64),
        source=source,
    )


def load_probe(path: str | Path) -> ProbeData:
    """Read probe arrays from `.npz` (no pickles) or `.safetensors`."""
    path = Path(path)
    if not path.is_file():
        raise ProbeError(f"probe file not found: {path}")
    if path.suffix in TORCH_DATA_SUFFIXES:
        return _from_arrays(_torch_data_arrays(path), str(path))
    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            arrays = dict(load_file(str(path)))
        else:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ProbeError(f"cannot read probe data {path.name}: {exc}") from None
    return _from_arrays(arrays, str(path))


def _torch_data_arrays(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a torch file that holds data (a bare tensor, a list, named tensors), by probe field.

    Named tensors keep probe field names (`embeddings`, `x`, `codes`, ...); others go to the field they
    look like (core.roles.looks_like): integer tensors -> codes, [N, D] floats -> embeddings.
    """
    from .checkpoints import load_checkpoint
    from .errors import CollapseExplorerError
    from .roles import looks_like

    try:
        loaded = load_checkpoint(path)
    except CollapseExplorerError as exc:
        raise ProbeError(f"cannot read probe data {path.name}: {exc}") from None
    if loaded.state_dict or not loaded.data_tensors:
        raise ProbeError(f"{path.name} holds model weights, not probe data")
    known = {f.name for f in fields(ProbeData)}
    arrays: dict[str, np.ndarray] = {}
    for name, tensor in loaded.data_tensors.items():
        dtype = str(tensor.dtype).removeprefix("torch.")
        target = name if name in known else looks_like(name, tuple(tensor.shape), dtype)[1]
        if target is not None and target not in arrays:
            arrays[target] = tensor.detach().cpu().numpy()
    if not arrays:
        raise ProbeError(f"{path.name} holds no tensor usable as probe data (codes, embeddings or x)")
    return arrays


def find_probe(checkpoint: str | Path) -> Path | None:
    """`probe.npz` beside the checkpoint, or in its parent run folder."""
    checkpoint = Path(checkpoint)
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    for candidate in (folder / PROBE_NAME, folder.parent / PROBE_NAME):
        if candidate.is_file():
            return candidate
    return None


def save_probe(path: str | Path, probe: ProbeData) -> None:
    """Write probe arrays as `.npz` (strings as unicode arrays, so no pickle is needed)."""
    arrays: dict[str, np.ndarray] = {}
    for name in ("embeddings", "attributes", "x", "labels", "codes"):
        value = getattr(probe, name)
        if value is not None:
            arrays[name] = value
    if probe.attribute_names:
        arrays["attribute_names"] = np.array(probe.attribute_names)
    if probe.texts:
        arrays["texts"] = np.array(probe.texts)
    np.savez_compressed(path, **arrays)
