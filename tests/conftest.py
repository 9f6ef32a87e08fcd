import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Frames fitted by tests go to a folder of this session, never into the user's cache.
if "COLLAPSE_EXPLORER_FRAME_CACHE" not in os.environ:
    os.environ["COLLAPSE_EXPLORER_FRAME_CACHE"] = tempfile.mkdtemp(prefix="collapse-explorer-frames-")
    atexit.register(shutil.rmtree, os.environ["COLLAPSE_EXPLORER_FRAME_CACHE"], True)
torch.set_num_threads(1)


def folder_snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """name -> (size, mtime_ns) of everything under `folder`, to prove nothing was written there."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def small_mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
