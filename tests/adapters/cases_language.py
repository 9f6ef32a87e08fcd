"""Conformance cases for the language family: a tiny GPT-2 folder and a LoRA adapter on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests import language_fixtures as lf


def _lora(tmp: Path) -> Path:
    return lf.lora_folder(tmp, lf.hf_folder(tmp, "gpt2", "healthy"), trained=True)


CASES: dict[str, Callable[[Path], Path]] = {
    "language-model": lambda tmp: lf.hf_folder(tmp, "llama", "healthy"),
    "language-lora": _lora,
}
