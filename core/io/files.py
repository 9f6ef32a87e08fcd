"""Writing files so that a reader never sees half of one: every file this project writes (reports, sweep
caches and tables, uploads, projection frames) goes through `write_atomic`.

The data goes to a temporary file in the target's own folder (created exclusively, mode 0600, named like
the target with a leading dot and the target's suffix, so writers that add a suffix keep it), which is
then renamed over the target. The temporary file is removed on any failure, including an interrupt.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def temporary_beside(target: Path) -> Path:
    """A new empty file (0600) in `target`'s folder for `write_atomic`; OSError when the folder refuses."""
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    return Path(name)


def write_atomic(
    target: str | Path,
    data: bytes | str | Callable[[Path], object],
    *,
    mode: int | None = None,
    temporary: Path | None = None,
) -> Path:
    """Write `data` to `target` atomically: bytes, text (UTF-8), or a function that writes the file at the
    path it is given (`lambda path: table.to_parquet(path)`). `mode` sets the permissions (else the
    temporary file's 0600 stay); `temporary` is a file from `temporary_beside` made beforehand. Returns
    the target; raises OSError, with nothing left behind."""
    target = Path(target)
    tmp = temporary if temporary is not None else temporary_beside(target)
    try:
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
