"""Conformance cases for the text-bridge adapters: tiny random bridges in front of a tiny T5."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from core.io.probe import ProbeData, save_probe
from core.models.text import (
    T5_CONFIG_FIELDS,
    TextBridge,
    export_state_dict,
    load_tokenizer,
    small_t5_config,
    train_tokenizer,
)

TEXTS = (
    "a man rides a horse .",
    "two dogs play in the snow !",
    "the chef cooks a meal .",
    "is the teacher proud ?",
)
EMBED_DIM = 16


def tiny_bridge(
    bridge: Literal["additive", "attention"], embed_dim: int = EMBED_DIM
) -> tuple[TextBridge, str]:
    """A seeded random TextBridge (T5 d_model 32, 1+1 layers) and its tokenizer JSON."""
    torch.manual_seed(0)
    tokenizer_json = train_tokenizer(TEXTS)
    config = small_t5_config(len(load_tokenizer(tokenizer_json)), d_model=32, layers=1, d_kv=8, num_heads=4)
    return TextBridge(embed_dim, config, bridge, num_queries=4, num_heads=2), tokenizer_json


def write_probe(folder: Path, n: int = 8, embed_dim: int = EMBED_DIM) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, embed_dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    save_probe(
        folder / "probe.npz", ProbeData(embeddings=x, texts=tuple(TEXTS[i % len(TEXTS)] for i in range(n)))
    )


def seed_checkpoint(tmp: Path, bridge: Literal["additive", "attention"], *, drop_t5: bool = False) -> Path:
    """The seed layout `{epoch, model_state_dict, val_bleu, args}`, float16 weights, tokenizer in args."""
    model, tokenizer_json = tiny_bridge(bridge)
    state = export_state_dict(model)
    if drop_t5:
        state = {k: v for k, v in state.items() if not k.startswith("t5.")}
    args = {
        "bridge": bridge,
        "t5_config": {k: getattr(model.t5.config, k) for k in T5_CONFIG_FIELDS},
        "tokenizer_json": tokenizer_json,
    }
    path = tmp / f"bridge_{bridge}_epoch_3.pt"
    torch.save({"epoch": 3, "model_state_dict": state, "val_bleu": 1.5, "args": args}, path)
    write_probe(tmp)
    return path


def hf_folder(tmp: Path, bridge: Literal["additive", "attention"] = "attention") -> Path:
    """A Hugging Face style folder: config.json + model.safetensors + tokenizer.json."""
    from safetensors.torch import save_file

    model, tokenizer_json = tiny_bridge(bridge)
    folder = tmp / f"hf_{bridge}"
    folder.mkdir()
    save_file(export_state_dict(model, torch.float32), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({**model.t5.config.to_dict(), "bridge": bridge}))
    (folder / "tokenizer.json").write_text(tokenizer_json)
    write_probe(folder)
    return folder


CASES: dict[str, Callable[[Path], Path]] = {
    "textbridge-attention": lambda tmp: seed_checkpoint(tmp, "attention"),
    "textbridge-additive": lambda tmp: seed_checkpoint(tmp, "additive"),
}
