"""Statistics of a probe's inputs alone, kept by content.

They are the same for every checkpoint measured on that probe (a guard every few hundred steps, a
timeline, a sweep), so each is paid once per process. No family's own module: the flow and posterior
rules both use it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import numpy as np

T = TypeVar("T")

_INPUT_STATS: OrderedDict[tuple, object] = OrderedDict()
_INPUT_STATS_SIZE = 32
_INPUT_STATS_LOCK = threading.Lock()


def of_inputs(name: str, x: np.ndarray, compute: Callable[[], T]) -> T:
    """compute(), a value of the array x alone, memoised under (name, content of x)."""
    x = np.ascontiguousarray(x)
    key = (name, x.shape, x.dtype.str, hashlib.blake2b(x.data, digest_size=16).digest())
    with _INPUT_STATS_LOCK:
        if key in _INPUT_STATS:
            _INPUT_STATS.move_to_end(key)
            return _INPUT_STATS[key]  # type: ignore[return-value]
    value = compute()
    with _INPUT_STATS_LOCK:
        _INPUT_STATS[key] = value
        while len(_INPUT_STATS) > _INPUT_STATS_SIZE:
            _INPUT_STATS.popitem(last=False)
    return value
