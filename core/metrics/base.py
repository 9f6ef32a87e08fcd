"""The METRICS table of how to read each value, and metric values that may be undefined.

A metric that cannot be computed on collapsed or degenerate input returns `Undefined(reason)` instead
of raising, so the UI and the CLI can say why ("undefined: one class only").
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass
from typing import Literal

Better = Literal["higher", "lower", "neither"]


@dataclass(frozen=True)
class Undefined:
    """A metric value that does not exist for this input, with the reason."""

    reason: str

    def __float__(self) -> float:
        return math.nan

    def __str__(self) -> str:
        return f"undefined: {self.reason}"


MetricValue = float | int | Undefined


def is_defined(value: object) -> bool:
    """True for a finite number, False for `Undefined`, None or NaN."""
    if isinstance(value, Undefined) or value is None:
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def to_jsonable(value: object) -> object:
    """Metric value -> JSON: numbers stay numbers, `Undefined` becomes {"undefined": reason}."""
    if isinstance(value, Undefined):
        return {"undefined": value.reason}
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return value
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if f.is_integer() and type(value).__name__.startswith(("int", "uint")):
        return int(f)
    return f if math.isfinite(f) else {"undefined": "not finite"}


def format_value(value: object, digits: int = 3) -> str:
    """Short human form of a metric value for tables and cards."""
    if isinstance(value, Undefined):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(f):
        return "undefined: not finite"
    if f.is_integer() and abs(f) < 1e15:
        return f"{int(f):,}"
    return f"{f:.{digits}g}" if abs(f) < 1e-3 or abs(f) >= 1e4 else f"{f:.{digits}f}"


def readable(value: object, digits: int = 3) -> str:
    """`format_value` for people: a value nearer zero than 0.001 reads '< 0.001' (or '> -0.001'), never
    '4.87e-06'."""
    if is_defined(value) and not isinstance(value, bool):
        f = float(value)  # type: ignore[arg-type]
        if 0 < abs(f) < 1e-3:
            return "< 0.001" if f > 0 else "> -0.001"
    return format_value(value, digits)


def _error_decimals(value: object, error: object) -> int | None:
    """Decimals that show two significant digits of a positive finite standard error of a defined value,
    else None (nothing to show beside the value)."""
    if not is_defined(value) or not is_defined(error) or not 0 < float(error) < math.inf:  # type: ignore[arg-type]
        return None
    return min(max(1 - math.floor(math.log10(float(error))), 0), 8)  # type: ignore[arg-type]


def format_with_error(value: object, error: object = None) -> str:
    """ "value ± error", both to two significant digits of the error; `format_value(value)` when the
    error is None, undefined, zero or not finite."""
    decimals = _error_decimals(value, error)
    if decimals is None:
        return format_value(value)
    return f"{float(value):.{decimals}f} ± {float(error):.{decimals}f}"  # type: ignore[arg-type]


def format_interval(value: object, error: object, z: float = 1.96) -> str:
    """The interval value ± z x error as "[low, high]" (95% for z = 1.96, to the precision of
    `format_with_error`), or "" when there is no error to show."""
    decimals = _error_decimals(value, error)
    if decimals is None:
        return ""
    low, high = float(value) - z * float(error), float(value) + z * float(error)  # type: ignore[arg-type]
    return f"[{low:.{decimals}f}, {high:.{decimals}f}]"


@dataclass(frozen=True)
class MetricInfo:
    """How to read one metric: its label, which direction is better, a one-line help, its family, its
    unit, and (`context`) when the good direction depends on another metric (`context_key`).

    `good` says in plain words what the better direction means ('more of the codebook in use'); for a
    metric with no better direction it starts 'not judged: ' and says why, and for one whose good
    direction truly turns on something else it starts 'depends: ' and gives the short reason."""

    key: str
    label: str
    better: Better
    help: str
    family: str
    unit: str = ""
    context: str = ""
    context_key: str = ""
    good: str = ""

    @property
    def direction(self) -> str:
        """The reading in words, with the unit where a better direction exists: 'lower is better: fewer
        codes never (or barely) chosen · share 0-1', 'depends: <why>' or 'not judged: <why>'."""
        if self.context or self.better == "neither":
            return self.good or (f"depends: {self.context}" if self.context else "not judged")
        text = f"{self.better} is better" + (f": {self.good}" if self.good else "")
        return text + (f" · {self.unit}" if self.unit else "")

    @property
    def titled(self) -> str:
        """Label with its unit: 'KL total (nats)'; units the label already names are not repeated."""
        if not self.unit or f"({self.unit})" in self.label:
            return self.label
        return f"{self.label} ({self.unit})"


METRICS: dict[str, MetricInfo] = {}


def register_metrics(*infos: MetricInfo) -> None:
    """Add family metrics to the one METRICS table (keys are unique across families)."""
    for info in infos:
        if info.key in METRICS and METRICS[info.key] != info:
            raise ValueError(f"metric {info.key!r} registered twice with different meanings")
        METRICS[info.key] = info


def all_metrics() -> dict[str, MetricInfo]:
    """The METRICS table with every family's metrics registered: importing a metric module fills it, and
    every module of this package is imported (found on disk, so a new one cannot be left out)."""
    for module in pkgutil.iter_modules(importlib.import_module(__package__).__path__):
        importlib.import_module(f"{__package__}.{module.name}")
    return METRICS


def info_of(key: str) -> tuple[MetricInfo | None, str]:
    """The METRICS entry of a key and its parameter: 'val_train_gap[val_kl]' -> (val_train_gap, 'val_kl')."""
    table = all_metrics()
    if key in table:
        return table[key], ""
    base, bracket, rest = key.partition("[")
    if bracket and rest.endswith("]") and base in table:
        return table[base], rest[:-1]
    return None, ""


def label(key: str, *, with_unit: bool = False) -> str:
    """Display label of a metric key, with its parameter ('... (val_kl)') and optionally its unit; the
    key itself when unregistered."""
    info, param = info_of(key)
    if info is None:
        return key
    text = info.titled if with_unit else info.label
    return f"{text} [{param}]" if param else text


def improvement(key: str, before: object, after: object) -> int:
    """+1 if `after` is better than `before` for metric `key`, -1 if worse, 0 if equal or unknown."""
    info, _ = info_of(key)
    if info is None or info.better == "neither" or not (is_defined(before) and is_defined(after)):
        return 0
    delta = float(after) - float(before)  # type: ignore[arg-type]
    if delta == 0:
        return 0
    return (1 if delta > 0 else -1) * (1 if info.better == "higher" else -1)
