"""Writing files so that a reader never sees half of one: every file this project writes (reports, sweep
caches and tables, uploads, projection frames) goes through `write_atomic`.

The data goes to a temporary file in the target's own folder (created exclusively, mode 0600, named like
the target with a leading dot and the target's suffix, so writers that add a suffix keep it), which is
then renamed over the target. The temporary file is removed on any failure, including an interrupt.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import CollapseExplorerError


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
    named: bool = True,
) -> Path:
    """Write `data` to `target` atomically: bytes, text (UTF-8), or a function that writes the file at the
    path it is given (`lambda path: table.to_parquet(path)`). `mode` sets the permissions (else the
    temporary file's 0600 stay); `temporary` is a file from `temporary_beside` made beforehand. Returns
    the target; raises OSError, with nothing left behind.

    Nothing planted at the target is followed: the temporary file is created exclusively (a file or a
    symlink already at its name fails the creation), and the rename replaces a symlink at `target`
    instead of writing through it. `named=False` is a file the user did not name (r.json beside
    r.html): a symlink there is refused with CollapseExplorerError before anything is written."""
    target = Path(target)
    if not named and target.is_symlink():
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise CollapseExplorerError(
            f"refusing to write {target.name}: it is a symbolic link (someone may have planted it); "
            "remove it or choose another output name"
        )
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


def content_digest(path: str | Path) -> str:
    """Short sha256 of a checkpoint's bytes (a folder: of its files' names and bytes, sorted), so a key
    (a stored frame, a stored verdict) follows the checkpoint's content wherever the file lies and
    whatever its mtime."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.name.encode() if path.is_dir() else b"")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
