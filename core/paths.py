"""Where checkpoints may be opened from: the shipped demo, configured roots, and uploads.

Roots come from COLLAPSE_EXPLORER_ROOTS (os.pathsep-separated); the shipped assets are always a root.
A path outside every root is refused, so a deployed app cannot be pointed at arbitrary files.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from . import ASSETS_DIR, DEMO_DIR
from .checkpoints import WEIGHT_SUFFIXES
from .errors import CollapseExplorerError

ROOTS_ENV = "COLLAPSE_EXPLORER_ROOTS"
UPLOAD_DIR = Path(tempfile.gettempdir()) / "collapse-explorer-uploads"
# The checkpoint the app opens first: the collapsed flow run's last epoch shows the seed problem.
DEFAULT_DEMO = ("flow", "collapsed")


def allowed_roots() -> list[Path]:
    """Resolved roots a user path must lie under (shipped assets and uploads always included)."""
    roots = [ASSETS_DIR.resolve(), UPLOAD_DIR.resolve()]
    for entry in os.environ.get(ROOTS_ENV, "").split(os.pathsep):
        if entry.strip():
            roots.append(Path(entry.strip()).expanduser().resolve())
    return roots


def resolve_user_path(text: str, roots: list[Path] | None = None) -> Path:
    """A user-typed path, resolved (symlinks and `..` included) and checked against the roots."""
    if not text or not text.strip():
        raise CollapseExplorerError("enter a path to a checkpoint file or folder")
    roots = allowed_roots() if roots is None else roots
    path = Path(text.strip()).expanduser().resolve()
    if not any(path.is_relative_to(root) for root in roots):
        listed = ", ".join(str(r) for r in roots)
        raise CollapseExplorerError(
            f"{path} is outside the configured roots ({listed}); set {ROOTS_ENV} to allow another folder"
        )
    if not path.exists():
        raise CollapseExplorerError(f"no such file or folder: {path}")
    return path


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


def natural_key(name: str) -> list:
    """Sort key reading digit runs as numbers: `run_10` after `run_9`."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def store_upload(name: str, data: bytes) -> Path:
    """Save uploaded bytes under the temp upload folder (content-addressed); never beside user files."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name) or "upload.pt"
    folder = UPLOAD_DIR / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe
    if not target.exists():
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def display_name(path: Path) -> str:
    """Short label: relative to the demo folder or an upload's own name."""
    path = Path(path)
    for base in (DEMO_DIR, UPLOAD_DIR):
        if path.is_relative_to(base):
            rel = path.relative_to(base)
            return rel.as_posix() if base == DEMO_DIR else f"upload: {path.name}"
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
