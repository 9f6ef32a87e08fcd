"""Timing helpers shared by the benchmark scripts.

The scripts run as `python benchmarks/bench_<name>.py`, so this folder is on sys.path and they import it
as `timing`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """(fn(), seconds) of one call: for what must run only once, such as a cold start."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of `repeats` calls of `fn` (the one least disturbed by other load)."""
    return min(timed(fn)[1] for _ in range(repeats))
