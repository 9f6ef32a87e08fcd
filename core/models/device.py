"""Where models run: the CPU by default, a CUDA GPU when asked for and torch can see one.

`--device` (CLI) and the app's sidebar setting take "cpu", "cuda" (or "cuda:N") or "auto" (CUDA when
available, else the CPU). Asking for CUDA on a machine without it is bad input, never a silent fallback.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys

from ..config import env_int, thread_environment
from ..io.errors import CollapseExplorerError

DEVICE_CHOICES: tuple[str, ...] = ("cpu", "cuda", "auto")
DEFAULT_DEVICE = "cpu"
_NAME = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")


class DeviceError(CollapseExplorerError):
    """A device that does not exist on this machine, or a name that is not a device."""


def _cpu_only_build() -> bool:
    """Whether the installed torch is a CPU-only build ('2.13.0+cpu'), which never sees a GPU: read from its
    metadata, so the app's sidebar lists devices without importing torch (over a second on 2 cores)."""
    try:
        return importlib.metadata.version("torch").endswith("+cpu")
    except importlib.metadata.PackageNotFoundError:
        return True


def available_devices() -> list[str]:
    """Devices this machine can run models on: "cpu", then "cuda:0" ... for each visible GPU."""
    if _cpu_only_build():
        return ["cpu"]
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu", *(f"cuda:{i}" for i in range(count))]


def resolve_device(name: str | None) -> str:
    """A device name ("cpu", "cuda", "cuda:N", "auto"; None = "cpu") checked against this machine."""
    name = (name or DEFAULT_DEVICE).strip().lower()
    if not _NAME.match(name):
        raise DeviceError(f"unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    if name == "cpu":
        return name
    import torch  # only a GPU question needs it

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} was asked for, but torch sees no CUDA GPU on this machine "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use --device cpu"
        )
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise DeviceError(
            f"device {name!r} does not exist: torch sees {torch.cuda.device_count()} CUDA GPU(s)"
        )
    return name


# The app server's numerics (torch, numpy / scipy BLAS, OpenMP) run on this many threads per call;
# COLLAPSE_EXPLORER_THREADS overrides it. One thread each: sessions already run in threads of their own,
# and on a shared 2-core machine a 2-thread BLAS or torch call that waits for a busy core runs 2-10x
# slower than on one thread (benchmarks/bench_browser.py; see the speed notes).
def limit_threads(default: int = 1) -> int:
    """Run numerics on `default` threads (or $COLLAPSE_EXPLORER_THREADS): torch's intra-op pool, the BLAS
    and OpenMP pools already loaded, and (by environment, `thread_environment`) those loaded later.
    Returns the count.

    The app calls this before torch is imported (its first screen does without torch): torch then sizes
    its pool from OMP_NUM_THREADS, which `thread_environment` sets unless the user did."""
    from threadpoolctl import threadpool_limits

    count = env_int("THREADS", default)
    count = count if count > 0 else default
    thread_environment(count)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    threadpool_limits(limits=count)
    return count
