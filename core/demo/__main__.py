"""`python -m core.demo build [--only FAMILY ...] [--quick] [--out DIR]`: rebuild the shipped demo assets.

Order matters: the corpus comes first (flow and text train on it), then the families, the projections
(the flow runs' input frames and their checkpoints' home frames, see projections.py) and last the verdicts of every checkpoint (verdicts.py).
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

import torch

from .. import DEMO_DIR

FAMILIES = (
    "corpus",
    "flow",
    "codebook",
    "posterior",
    "text",
    "language",
    "training",
    "projections",
    "verdicts",
)


def _build(family: str, out: Path, quick: bool) -> None:
    if family == "corpus":
        from .corpus import build_corpus

        build_corpus(out / "corpus.npz")
    else:
        importlib.import_module(f".{family}", __package__).build(out, quick=quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.demo")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--only", nargs="+", choices=FAMILIES, help="rebuild only these parts")
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for smoke tests)")
    parser.add_argument("--out", type=Path, default=DEMO_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for family in args.only or FAMILIES:
        start = time.perf_counter()
        _build(family, args.out, args.quick)
        print(f"built {family} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
