"""Conformance cases for the codebook adapters: one small checkpoint per layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.models.codebook import VQVAE, VQVAEConfig

K, D, H = 16, 4, 2


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def ema_codebook(tmp: Path) -> Path:
    """`_embedding.weight [K, D]` + `_ema_cluster_size` + `_ema_w` inside a larger model."""
    g = _gen()
    sd = {
        "encoder.0.weight": torch.randn(8, 3, generator=g),
        "vq._embedding.weight": torch.randn(K, D, generator=g),
        "vq._ema_cluster_size": torch.rand(K, generator=g),
        "vq._ema_w": torch.randn(K, D, generator=g),
    }
    path = tmp / "vq_ema.pt"
    torch.save({"epoch": 3, "model_state_dict": sd}, path)
    return path


def transposed_codebook(tmp: Path) -> Path:
    """`embed [D, K]` + `cluster_size [K]` + `embed_avg [D, K]`, saved as a bare state dict."""
    g = _gen()
    sd = {
        "quantize.embed": torch.randn(D, K, generator=g),
        "quantize.cluster_size": torch.rand(K, generator=g),
        "quantize.embed_avg": torch.randn(D, K, generator=g),
    }
    path = tmp / "vq_transposed.pt"
    torch.save(sd, path)
    return path


def multihead_codebook(tmp: Path) -> Path:
    """`_codebook.embed [H, K, D]` + `_codebook.cluster_size [H, K]`, DDP-wrapped keys."""
    g = _gen()
    sd = {
        "module.vq._codebook.initted": torch.ones(1),
        "module.vq._codebook.embed": torch.randn(H, K, D, generator=g),
        "module.vq._codebook.cluster_size": torch.rand(H, K, generator=g),
        "module.vq._codebook.embed_avg": torch.randn(H, K, D, generator=g),
    }
    path = tmp / "vq_multihead.pt"
    torch.save({"state_dict": sd}, path)
    return path


def embedding_codebook(tmp: Path) -> Path:
    """A plain nn.Embedding codebook (no EMA) plus probe codes, the only way to measure its usage."""
    g = _gen()
    sd = {
        "encoder.weight": torch.randn(D, 6, generator=g),
        "quantizer.embedding.weight": torch.randn(K, D, generator=g),
    }
    path = tmp / "vq_embedding.pt"
    torch.save({"model_state_dict": sd, "epoch": 1}, path)
    codes = np.random.default_rng(0).integers(0, K, size=(20, 3))
    np.savez_compressed(tmp / "probe.npz", codes=codes)
    return path


def reference_vqvae(tmp: Path) -> Path:
    """The reference VQ-VAE in the component-dict layout, with probe x and labels."""
    torch.manual_seed(0)
    config = VQVAEConfig(hidden_dim=16, num_embeddings=K, embedding_dim=D, num_tokens=2)
    model = VQVAE(config)
    state = {name: getattr(model, name).state_dict() for name in ("encoder", "quantizer", "decoder")}
    state["semantic_heads"] = model.semantic_heads.state_dict()
    opt = torch.optim.Adam(model.encoder.parameters())
    state.update(optimizer=opt.state_dict(), epoch=2, config=config.to_dict())
    path = tmp / "vqvae_epoch_002.pt"
    torch.save(state, path)
    rng = np.random.default_rng(0)
    np.savez_compressed(
        tmp / "probe.npz", x=rng.random((12, 64), dtype=np.float32), labels=rng.integers(0, 10, 12)
    )
    return path


CASES: dict[str, Callable[[Path], Path]] = {
    "vq_ema": ema_codebook,
    "vq_transposed": transposed_codebook,
    "vq_multihead": multihead_codebook,
    "vq_embedding": embedding_codebook,
    "vqvae_digits": reference_vqvae,
}
