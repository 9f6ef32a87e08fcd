"""Fine-tune adapter folders (PEFT: adapter_config.json + adapter_model.safetensors) and the files around a
language model (tokenizer.json, tokenizer_config.json, the base model folder an adapter names).

Everything goes through the safe loaders of core.io: the adapter's tensors are memory-mapped
safetensors (a `.bin` only with the restricted unpickler), its config is plain JSON within the text limits,
and its base is a local folder, never a hub id (nothing is fetched). Files found around a path must be
regular files inside its folder (core.paths.found_file).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .configs import read_config_file
from .errors import CheckpointError
from .hf import _read_safetensors
from .limits import MAX_TEXT_BYTES, read_text_limited
from .paths import found_file, within_roots
from .sniff import sniff
from .unpickle import _torch_load

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
# `<module>.lora_A.weight` or, in older files, `<module>.lora_A.<adapter name>.weight`.
LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$")
PEFT_PREFIX = "base_model.model."


def read_adapter_folder(folder: Path, trust: bool) -> tuple[dict[str, torch.Tensor], dict]:
    """(the adapter's tensors under their own names, adapter_config.json) of a PEFT adapter folder."""
    weights = next((folder / n for n in ADAPTER_WEIGHTS if found_file(folder / n, folder)), None)
    if weights is None:
        raise CheckpointError(
            f"{folder.name}/ has {ADAPTER_CONFIG} but no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})"
        )
    if weights.suffix == ".safetensors":
        tensors = _read_safetensors(weights)[0]
    else:
        tensors, _ = _torch_load(weights, trust, mmap=sniff(weights) == "torch-zip")
        if not isinstance(tensors, Mapping) or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
            raise CheckpointError(f"{weights.name} is not a mapping of tensors")
    return dict(tensors), read_config_file(folder / ADAPTER_CONFIG)


def adapter_folder_of(path: Path) -> Path:
    """The adapter folder when `path` is its weights file (adapter_model.* beside adapter_config.json),
    else `path` unchanged: the weights alone do not say they are a LoRA adapter or what their base is."""
    if path.name in ADAPTER_WEIGHTS and found_file(path.parent / ADAPTER_CONFIG, path.parent) is not None:
        return path.parent
    return path


@dataclass(frozen=True)
class LoraPair:
    """One adapted module: its path in the base model and its A [r, in] / B [out, r] weights."""

    module: str
    lora_a: torch.Tensor
    lora_b: torch.Tensor

    @property
    def rank(self) -> int:
        return int(self.lora_a.shape[0])


def lora_pairs(state: Mapping[str, torch.Tensor]) -> tuple[list[LoraPair], list[str]]:
    """(the A/B pairs of a LoRA state dict by module path, modules with only one of A or B)."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        match = LORA_KEY.match(key)
        if match:
            parts.setdefault(match["module"], {})[match["part"]] = tensor
    pairs = [
        LoraPair(module.removeprefix(PEFT_PREFIX), both["A"], both["B"])
        for module, both in parts.items()
        if set(both) == {"A", "B"}
    ]
    return pairs, sorted(m for m, both in parts.items() if set(both) != {"A", "B"})


def is_lora_layout(shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
    """LoRA A/B weights plus a config that says PEFT (peft_type, or r and target_modules)."""
    peft = config.get("peft_type") is not None or ("r" in config and "target_modules" in config)
    return peft and any(LORA_KEY.match(k) for k in shapes)


def lora_scale(config: Mapping, module: str, rank: int) -> float:
    """alpha / r (alpha / sqrt(r) with rsLoRA), with the per-module rank / alpha patterns applied."""
    alpha = config.get("lora_alpha", rank)
    for pattern, value in (config.get("alpha_pattern") or {}).items():
        if isinstance(pattern, str) and (module == pattern or module.endswith("." + pattern)):
            alpha = value
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or rank < 1:
        return 1.0
    return float(alpha) / (rank**0.5 if config.get("use_rslora") else rank)


@dataclass(frozen=True)
class BaseFolder:
    """Where an adapter's base model is: the folder (None when missing) and how it was found or why not."""

    path: Path | None
    note: str


def base_folder(loaded) -> BaseFolder:
    """The base model folder of an adapter: `loaded.base` (CLI --base), else `base_model_name_or_path`
    relative to the adapter folder (an absolute path as it is). A hub id is never fetched."""
    if loaded.base is not None:
        given = Path(loaded.base)
        if not (given / "config.json").is_file():
            raise CheckpointError(f"--base {given.name}: not a model folder (no config.json in it)")
        return BaseFolder(given, f"base model given: {given.name}")
    named = loaded.config.get("base_model_name_or_path")
    if not isinstance(named, str) or not named.strip():
        return BaseFolder(None, f"{ADAPTER_CONFIG} names no base model; give one with --base PATH")
    shown = re.sub(r"[^\w.\-/ ]", "?", named)[:120]  # untrusted: shown as a plain name only
    if "\0" in named:
        return BaseFolder(None, f"the base model name {shown!r} is not a path")
    folder = loaded.path if loaded.path.is_dir() else loaded.path.parent
    candidate = Path(named) if Path(named).is_absolute() else folder / named
    try:
        resolved = candidate.resolve()
        is_model = (resolved / "config.json").is_file()
    except (OSError, RuntimeError, ValueError):
        resolved, is_model = candidate, False
    if is_model and within_roots(resolved):
        return BaseFolder(resolved, f"base model {shown!r} found beside the adapter")
    return BaseFolder(
        None,
        f"the base model {shown!r} is not a local model folder (looked relative to the adapter folder; "
        "nothing is fetched from a hub): give it with --base PATH",
    )


def tokenizer_files(loaded) -> tuple[str | None, dict]:
    """(tokenizer.json text, tokenizer_config.json dict) of a model folder or beside a file; the config's
    `tokenizer_json` text when there is no file. (None, {}) when none is there."""
    folder = loaded.path if loaded.path.is_dir() else loaded.path.parent
    settings: dict = {}
    if found_file(folder / TOKENIZER_CONFIG, folder) is not None:
        try:
            settings = read_config_file(folder / TOKENIZER_CONFIG)
        except CheckpointError:
            settings = {}
    if found_file(folder / TOKENIZER_FILE, folder) is not None:
        return read_text_limited(folder / TOKENIZER_FILE, MAX_TEXT_BYTES, CheckpointError), settings
    text = loaded.config.get("tokenizer_json")
    return (text if isinstance(text, str) and text else None), settings
