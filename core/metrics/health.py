"""Weight health of any loaded checkpoint: NaN/Inf counts, magnitudes, per-layer norms, BatchNorm
running-variance extremes, whether optimizer state was saved, and the epoch/step it was saved at.

Works on the state dict alone, so it needs no adapter and no probe data: a checkpoint saved after a
blow-up is recognisable from its NaN weights even when no model can be rebuilt from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..io.errors import CheckpointError
from ..io.state_dict import view_problem
from .base import format_value

if TYPE_CHECKING:
    from ..io.checkpoints import LoadedCheckpoint

STEP_KEYS = ("global_step", "step", "iteration", "iter", "steps")
CHUNK = 1 << 22  # elements per pass, so a large embedding never doubles in float64 at once


@dataclass(frozen=True)
class TensorHealth:
    """One tensor: element count, NaN/Inf counts, largest finite |w| (NaN when none is finite), L2 norm
    over the finite entries, and whether it is a weight (floating point) or an integer/bool buffer."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    numel: int
    nan: int
    inf: int
    max_abs: float
    norm: float
    weight: bool = True

    @property
    def nonfinite(self) -> int:
        return self.nan + self.inf


@dataclass(frozen=True)
class LayerHealth:
    """Tensors grouped by module prefix (`encoder.0.weight` + `encoder.0.bias` -> `encoder.0`)."""

    layer: str
    tensors: int
    numel: int
    nan: int
    inf: int
    max_abs: float
    norm: float  # sqrt of the sum of the tensors' squared norms


@dataclass(frozen=True)
class RunningVar:
    """A BatchNorm running_var buffer's extremes; near-zero or huge values break eval-mode outputs."""

    name: str
    min: float
    max: float


@dataclass(frozen=True)
class WeightHealth:
    """Health summary of one checkpoint's weights."""

    path: str
    tensors: tuple[TensorHealth, ...]
    layers: tuple[LayerHealth, ...]
    running_vars: tuple[RunningVar, ...]
    optimizer_state: bool | None  # None: unknown
    epoch: int | None
    step: int | None
    metadata: dict[str, Any]

    @property
    def nan(self) -> int:
        return sum(t.nan for t in self.tensors)

    @property
    def inf(self) -> int:
        return sum(t.inf for t in self.tensors)

    @property
    def numel(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def weights(self) -> tuple[TensorHealth, ...]:
        """Floating-point tensors only: counters and index buffers say nothing about a blow-up."""
        return tuple(t for t in self.tensors if t.weight)

    @property
    def max_abs(self) -> float:
        return max((t.max_abs for t in self.weights if math.isfinite(t.max_abs)), default=math.nan)

    @property
    def nonfinite_tensors(self) -> tuple[TensorHealth, ...]:
        return tuple(t for t in self.tensors if t.nonfinite)

    @property
    def healthy(self) -> bool:
        return self.nan == 0 and self.inf == 0

    def cards(self) -> dict[str, str]:
        """Label -> short text for metric cards (Training and Overview pages, CLI lines)."""
        saved = {True: "yes", False: "no", None: "unknown"}[self.optimizer_state]
        unknown = "?"
        return {
            "NaN weights": format_value(self.nan),
            "Inf weights": format_value(self.inf),
            "Max |w|": format_value(self.max_abs),
            "Optimizer state saved": saved,
            "Epoch / step": f"{unknown if self.epoch is None else self.epoch} / "
            f"{unknown if self.step is None else self.step}",
        }

    def rows(self) -> list[dict[str, object]]:
        """Per-layer table for the UI, the layers with NaN/Inf first."""
        ordered = sorted(self.layers, key=lambda r: (-(r.nan + r.inf), r.layer))
        return [
            {
                "layer": r.layer,
                "tensors": r.tensors,
                "parameters": r.numel,
                "NaN": r.nan,
                "Inf": r.inf,
                "max |w|": r.max_abs,
                "norm": r.norm,
            }
            for r in ordered
        ]

    def to_json(self) -> dict[str, object]:
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "path": self.path,
            "healthy": self.healthy,
            "parameters": self.numel,
            "nan": self.nan,
            "inf": self.inf,
            "max_abs": num(self.max_abs),
            "optimizer_state": self.optimizer_state,
            "epoch": self.epoch,
            "step": self.step,
            "nonfinite_tensors": [
                {"name": t.name, "nan": t.nan, "inf": t.inf, "numel": t.numel} for t in self.nonfinite_tensors
            ],
            "layers": [{**r, "max |w|": num(r["max |w|"]), "norm": num(r["norm"])} for r in self.rows()],
            "running_var": [
                {"name": r.name, "min": num(r.min), "max": num(r.max)} for r in self.running_vars
            ],
        }


def _float_pass(part: torch.Tensor) -> tuple[int, int, float, float]:
    """(NaN, Inf, max |x| over finite entries or NaN, sum of squares) of one float chunk.

    A sum is finite only when every entry is (NaN and Inf propagate), so a healthy chunk costs one
    sum, one aminmax and one norm; the exact per-element counts run only when something is off."""
    if part.is_complex():
        part = part.abs()
    acc = torch.float32 if part.dtype in (torch.float16, torch.bfloat16) else None
    nan = inf = 0
    if not bool(torch.isfinite(part.sum(dtype=acc))):
        finite = torch.isfinite(part)
        nan = int(torch.isnan(part).sum())
        inf = part.numel() - int(finite.sum()) - nan
        part = part[finite]
    if part.numel() == 0:
        return nan, inf, math.nan, 0.0
    low, high = torch.aminmax(part)
    norm = float(torch.linalg.vector_norm(part, dtype=acc))
    if not math.isfinite(norm):  # squares of finite values beyond float32's range
        norm = float(torch.linalg.vector_norm(part, dtype=torch.float64))
    return nan, inf, max(-float(low), float(high)), norm * norm


def _int_pass(part: torch.Tensor) -> tuple[int, int, float, float]:
    if part.dtype == torch.bool:
        return 0, 0, float(part.any()), float(part.sum())
    low, high = torch.aminmax(part)
    return 0, 0, float(max(-int(low), int(high))), float(torch.linalg.vector_norm(part.double())) ** 2


def tensor_health(name: str, tensor: torch.Tensor) -> TensorHealth:
    """Counts and magnitudes of one tensor, read in chunks of CHUNK elements. Integer and bool buffers
    (step counters, `num_batches_tracked`) are finite by construction and are not weights."""

    t = tensor.detach()
    shape, dtype, numel = tuple(t.shape), str(t.dtype).removeprefix("torch."), t.numel()
    weight = t.is_floating_point() or t.is_complex()
    if numel == 0:
        return TensorHealth(name, shape, dtype, 0, 0, 0, 0.0, 0.0, weight)
    problem = view_problem(name, t)
    if problem:  # never reduce an expanded view: the scan would read its repeats, not the file
        raise CheckpointError(f"{problem}: refused")
    scan = _float_pass if weight else _int_pass
    flat = t.reshape(-1)
    nan = inf = 0
    max_abs, sq = math.nan, 0.0  # stays NaN when no entry is finite
    for start in range(0, numel, CHUNK):
        n, i, m, q = scan(flat[start : start + CHUNK])
        nan, inf, sq = nan + n, inf + i, sq + q
        if not math.isnan(m):
            max_abs = m if math.isnan(max_abs) else max(max_abs, m)
    return TensorHealth(name, shape, dtype, numel, nan, inf, max_abs, math.sqrt(sq), weight)


def _layer(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) and f == int(f) else None


def weight_health(loaded: LoadedCheckpoint, *, optimizer_state: bool | None = None) -> WeightHealth:
    """Health of `loaded.state_dict` (tied aliases counted once). `optimizer_state` overrides what the
    checkpoint reports (`LoadedCheckpoint.has_optimizer`)."""
    tied = getattr(loaded, "tied", {}) or {}
    tensors = tuple(tensor_health(k, v) for k, v in loaded.state_dict.items() if k not in tied)
    groups: dict[str, list[TensorHealth]] = {}
    for t in tensors:
        groups.setdefault(_layer(t.name), []).append(t)
    layers = tuple(
        LayerHealth(
            layer,
            len(ts),
            sum(t.numel for t in ts),
            sum(t.nan for t in ts),
            sum(t.inf for t in ts),
            max((t.max_abs for t in ts if t.weight and not math.isnan(t.max_abs)), default=math.nan),
            math.sqrt(sum(t.norm**2 for t in ts if t.weight)),
        )
        for layer, ts in groups.items()
    )
    running = []
    for key, value in loaded.state_dict.items():
        if key.endswith("running_var") and value.numel() and value.is_floating_point():
            low, high = torch.aminmax(value.detach())
            running.append(RunningVar(key, float(low), float(high)))
    if optimizer_state is None:
        optimizer_state = getattr(loaded, "has_optimizer", None)
    metadata = dict(getattr(loaded, "metadata", {}) or {})
    epoch = getattr(loaded, "epoch", None)
    epoch = _int_or_none(metadata.get("epoch")) if epoch is None else epoch
    step = next((_int_or_none(metadata[k]) for k in STEP_KEYS if k in metadata), None)
    return WeightHealth(
        str(loaded.path), tensors, layers, tuple(running), optimizer_state, epoch, step, metadata
    )
