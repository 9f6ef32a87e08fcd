"""Where checkpoints may be opened from: the shipped demo, configured roots, and each session's uploads.

Roots come from COLLAPSE_EXPLORER_ROOTS (os.pathsep-separated); the shipped assets are always a root.
A path outside every root is refused, so a deployed app cannot be pointed at arbitrary files; the
refusal names neither the resolved path nor the roots, which are the server's business.

Files and folders found by convention around a user's path (a sibling config, `probe.npz` beside a
checkpoint or in its run folder, `../.hydra/config.yaml`, the run folder above a `checkpoints/`
subfolder, logs) are read only through `found_file` / `within_roots`: a regular file inside the folder
it was looked for in and, while roots are in force (`confined_to`, `confine`: the app, for every script
run, with that session's roots), under one of them too. So a root that is a checkpoint folder itself
does not lend its parent's files. The CLI, which reads what its user names, confines nothing.

Uploads live in an `UploadArea`: a folder private to one browser session (mode 0700, files 0600,
under a per-user base folder that is 0700 too), accepted as a root by that session only. Each file is
capped, each session has a quota and all sessions together a total; `sweep_uploads` removes the areas
of sessions that ended or went idle for longer than the time to live.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .. import ASSETS_DIR, DEMO_DIR
from ..config import ENV_PREFIX, env_int, env_paths
from .errors import CollapseExplorerError
from .files import write_atomic
from .limits import GIB

WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")  # files that can hold a model
ROOTS_ENV = ENV_PREFIX + "ROOTS"
UPLOAD_ROOT = Path(tempfile.gettempdir()) / f"collapse-explorer-uploads-{os.getuid()}"
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", GIB)  # one file; Streamlit's maxUploadSize is 1024 MB
UPLOAD_QUOTA_BYTES = env_int("UPLOAD_QUOTA_BYTES", 2 * GIB)  # one session, all its files
UPLOAD_TOTAL_BYTES = env_int("UPLOAD_TOTAL_BYTES", 8 * GIB)  # every session of this server
UPLOAD_TTL_S = env_int("UPLOAD_TTL_S", 4 * 3600)  # an area untouched this long is removed
UPLOAD_GRACE_S = env_int("UPLOAD_GRACE_S", 600)  # ...or this long after its session ended
AREA_PREFIX = "session-"
# The checkpoint the app opens first: the collapsed flow run's last epoch shows the seed problem.
DEFAULT_DEMO = ("flow", "collapsed")


def allowed_roots(extra: Iterable[Path] = ()) -> list[Path]:
    """Resolved roots a user path must lie under: the shipped assets, the configured roots, and
    `extra` (a session passes its own upload area; no session sees another's)."""
    return [ASSETS_DIR.resolve(), *(Path(p).resolve() for p in extra), *env_paths("ROOTS")]


Roots = Iterable[Path] | Callable[[], Iterable[Path]]
_IN_FORCE: ContextVar[Roots | None] = ContextVar("collapse_explorer_read_roots", default=None)


def confine(roots: Roots) -> None:
    """Put `roots` (folders, or a function returning them, asked at each lookup) in force for the rest
    of the current context (the thread of a Streamlit script run: the app sets it first thing in
    every run, so a run never sees another session's roots)."""
    _IN_FORCE.set(roots)


@contextmanager
def confined_to(roots: Roots) -> Iterator[None]:
    """`roots` in force for the block only (see `confine`)."""
    token = _IN_FORCE.set(roots)
    try:
        yield
    finally:
        _IN_FORCE.reset(token)


def within_roots(path: str | Path) -> bool:
    """Whether `path`, resolved (symlinks and `..` included), lies under a root in force; True when no
    roots are in force, False when it cannot be resolved."""
    roots = _IN_FORCE.get()
    if roots is None:
        return True
    try:
        resolved = Path(path).resolve()
        return any(
            resolved.is_relative_to(Path(root).resolve()) for root in (roots() if callable(roots) else roots)
        )
    except (OSError, RuntimeError, ValueError):  # RuntimeError: symlink loop; ValueError: a NUL byte
        return False


def found_file(path: str | Path, folder: str | Path) -> Path | None:
    """`path` resolved, when it is a regular file inside `folder` (resolved too) and under the roots in
    force; None otherwise.

    The one check for files found by looking around a user's path: a symlink leading out of the folder,
    a parent folder outside every root, a loop, a FIFO or a missing file is simply not a candidate."""
    try:
        resolved = Path(path).resolve()
        inside = resolved.is_relative_to(Path(folder).resolve())
        mode = os.stat(resolved).st_mode
    except (OSError, RuntimeError, ValueError):  # ValueError: a NUL byte in a name from a file
        return None
    return resolved if inside and stat.S_ISREG(mode) and within_roots(resolved) else None


def checkpoint_files(folder: str | Path, within: str | Path | None = None) -> list[Path]:
    """Checkpoint-like files (WEIGHT_SUFFIXES) directly inside a run folder, sorted by name: the one listing
    of "every checkpoint of a run" (timelines, sweeps, run usage, HF folders). Each is a regular file that
    resolves inside `within` (the folder itself by default) and under the roots in force (`found_file`),
    so a symlink leading out is skipped."""
    folder = Path(folder)
    inside = folder if within is None else Path(within)
    return sorted(
        p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and found_file(p, inside) is not None
    )


def resolve_user_path(text: str, roots: list[Path] | None = None) -> Path:
    """A user-typed path, resolved (symlinks and `..` included) and checked against the roots."""
    if not text or not text.strip():
        raise CollapseExplorerError("enter a path to a checkpoint file or folder")
    roots = allowed_roots() if roots is None else roots
    typed = text.strip()
    if "\0" in typed:
        raise CollapseExplorerError("a path cannot hold a NUL byte")
    try:
        path = Path(typed).expanduser().resolve()
    except (OSError, RuntimeError):
        raise CollapseExplorerError(f"cannot resolve the path {typed!r}") from None
    if not any(path.is_relative_to(root) for root in roots):
        raise CollapseExplorerError(
            f"{typed!r} is outside the folders this server may read; its operator can allow more with {ROOTS_ENV}"
        )
    if not path.exists():
        raise CollapseExplorerError(f"no such file or folder: {typed!r}")
    return path


Stamp = tuple[int, int]


class FileKey(NamedTuple):
    """A file (or run folder) as a cache key: its path and its stamp, so a file rewritten on disk is a new
    key. A tuple, so caches hash it by value."""

    path: str
    stamp: Stamp

    @classmethod
    def of(cls, path: str | Path) -> FileKey:
        """The key of `path` as it is on disk now."""
        return cls(str(path), file_stamp(path))

    @classmethod
    def maybe(cls, path: str | Path | None) -> FileKey | None:
        """`of(path)`, or None for no file."""
        return None if path is None else cls.of(path)


def file_stamp(path: str | Path) -> Stamp:
    """(mtime_ns, size) of a file, or of a folder's weight and JSON files (newest mtime, total size): a
    cache key part that changes when a file is rewritten."""
    path = Path(path)
    if path.is_dir():
        stats = [p.stat() for p in path.iterdir() if p.is_file() and p.suffix in (*WEIGHT_SUFFIXES, ".json")]
        return (max((s.st_mtime_ns for s in stats), default=0), sum(s.st_size for s in stats))
    stat = path.stat()
    return (stat.st_mtime_ns, stat.st_size)


def demo_checkpoints(demo_dir: Path = DEMO_DIR) -> list[Path]:
    """Every shipped demo checkpoint, in run order (family, run, epoch)."""
    if not demo_dir.is_dir():
        return []
    files = [p for p in demo_dir.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES]
    return sorted(files, key=lambda p: (p.parent.as_posix(), natural_key(p.name)))


def default_demo(demo_dir: Path = DEMO_DIR) -> Path | None:
    """The checkpoint the app opens with: the last epoch of the collapsed flow run, else any demo file."""
    files = demo_checkpoints(demo_dir)
    preferred = [p for p in files if p.parent == demo_dir.joinpath(*DEFAULT_DEMO)]
    return (preferred or files or [None])[-1]


_EPOCH_IN_NAME = re.compile(r"(?:epoch|ep)[_=\-]?(\d+)", re.IGNORECASE)


def epoch_from_name(name: str) -> int | None:
    """Epoch written in a file name (`fclf_epoch_010.pt` -> 10), or None."""
    match = _EPOCH_IN_NAME.search(name)
    return int(match.group(1)) if match else None


def natural_key(name: str) -> list:
    """Sort key reading digit runs as numbers: `run_10` after `run_9`."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def _private_root(root: Path) -> Path:
    """The base folder of all upload areas, created 0700; refused when it is a symlink or belongs to
    another user (someone who made it first in a shared /tmp could otherwise read every upload)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise CollapseExplorerError("the upload folder is not private to this server; uploads are disabled")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(root, 0o700)
    return root


def _tree_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


@dataclass(frozen=True)
class UploadArea:
    """One session's private upload folder. `store` keeps files content-addressed inside it."""

    folder: Path

    @classmethod
    def create(cls, session: str | None = None, root: Path = UPLOAD_ROOT) -> UploadArea:
        """A new area (0700) under `root`, named after the session so a sweep can ask if it lives."""
        tag = re.sub(r"[^A-Za-z0-9-]", "", session or "")[:64] or "none"
        folder = Path(tempfile.mkdtemp(prefix=f"{AREA_PREFIX}{tag}.", dir=_private_root(root)))
        return cls(folder)

    @property
    def session(self) -> str | None:
        """The session id in the area's name, or None."""
        return session_of(self.folder)

    def used(self) -> int:
        """Bytes stored in this area."""
        return _tree_bytes(self.folder)

    def store(self, name: str, data: bytes) -> Path:
        """Save uploaded bytes in this area (never beside user files): file 0600 in a 0700 folder
        named by the content's hash. Over the per-file cap, the session quota or the total of every
        session is CollapseExplorerError."""
        if len(data) > MAX_UPLOAD_BYTES:
            raise CollapseExplorerError(
                f"{Path(name).name} is {len(data):,} bytes; uploads are limited to {MAX_UPLOAD_BYTES:,} bytes each"
            )
        if not self.folder.is_dir():
            raise CollapseExplorerError("this session's upload folder was cleaned up; reload the page")
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).lstrip(".") or "upload.pt"
        folder = self.folder / hashlib.sha256(data).hexdigest()[:16]
        target = folder / safe
        if target.is_file():
            os.utime(self.folder)
            return target
        if self.used() + len(data) > UPLOAD_QUOTA_BYTES:
            raise CollapseExplorerError(
                f"this session's uploads would pass its quota of {UPLOAD_QUOTA_BYTES:,} bytes; reload the "
                "page to start a new session"
            )
        if _tree_bytes(self.folder.parent) + len(data) > UPLOAD_TOTAL_BYTES:
            raise CollapseExplorerError("the server's upload space is full; try again later")
        folder.mkdir(mode=0o700, exist_ok=True)
        write_atomic(target, data)  # created exclusively, 0600, in this area's 0700 folder
        os.utime(self.folder)  # the time to live counts from the last use
        return target

    def remove(self) -> None:
        """Delete the area and everything in it (the session ended)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def session_of(folder: Path) -> str | None:
    """The session id an upload area is named after, or None."""
    name = Path(folder).name
    if not name.startswith(AREA_PREFIX):
        return None
    tag = name[len(AREA_PREFIX) :].split(".", 1)[0]
    return None if tag == "none" else tag


def sweep_uploads(
    root: Path = UPLOAD_ROOT,
    *,
    alive: Callable[[str], bool | None] | None = None,
    keep: Iterable[Path] = (),
    now: float | None = None,
) -> list[Path]:
    """Remove upload areas untouched for UPLOAD_TTL_S, and those whose session `alive` says has ended
    (None: unknown) once UPLOAD_GRACE_S passed since their last use. Returns what was removed."""
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    kept = {Path(p).resolve() for p in keep}
    removed = []
    for folder in root.iterdir():
        if not folder.name.startswith(AREA_PREFIX) or folder.is_symlink() or folder.resolve() in kept:
            continue
        try:
            idle = now - folder.stat().st_mtime
        except OSError:
            continue
        session = session_of(folder)
        ended = alive is not None and session is not None and alive(session) is False
        if idle > UPLOAD_TTL_S or (ended and idle > UPLOAD_GRACE_S):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def display_name(path: Path) -> str:
    """Short label: relative to the demo folder or an upload's own name."""
    path = Path(path)
    if path.is_relative_to(DEMO_DIR):
        return path.relative_to(DEMO_DIR).as_posix()
    if path.is_relative_to(UPLOAD_ROOT):
        return f"upload: {path.name}"
    return str(path)


def demo_runs(demo_dir: Path = DEMO_DIR) -> list[Path]:
    """Run folders of the shipped demo (folders holding checkpoints), sorted."""
    return sorted({p.parent for p in demo_checkpoints(demo_dir)})


def demo_counterpart(path: str | Path, demo_dir: Path = DEMO_DIR) -> Path | None:
    """For a demo checkpoint, the last checkpoint of the other run of its family (collapsed <-> fixed)."""
    path = Path(path).resolve()
    if not path.is_relative_to(demo_dir.resolve()):
        return None
    family_dir = path.parent.parent
    others = [
        run
        for run in demo_runs(demo_dir)
        if run.parent.resolve() == family_dir and run.resolve() != path.parent
    ]
    if not others:
        return None
    files = [p for p in demo_checkpoints(demo_dir) if p.parent == others[0]]
    return files[-1] if files else None
