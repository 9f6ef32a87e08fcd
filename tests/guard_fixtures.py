"""A tiny reference VQ-VAE that trains healthy, or into codebook collapse from a chosen step, in seconds.

Healthy: reconstruction + commitment with dead-code reseeding. Collapsing: from `collapse_from` on, a
penalty on the spread of the encoder outputs over the batch pulls every input onto one point (the
representation collapses), so all tokens end on the one or two codes nearest it. `oracle_collapsed` measures each step on the probe without the guard's code.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.diagnosis.codebook import COLLAPSE_DEAD, COLLAPSE_RATIO, COLLAPSE_RATIO_WITH_DEAD
from core.models.vqvae import VQVAE, VQVAEConfig

CONFIG = VQVAEConfig(
    input_dim=16, hidden_dim=32, num_tokens=2, embedding_dim=4, num_embeddings=16, num_classes=0, bound=3.0
)
PENALTY = 50.0
BATCH = 32


def data(n: int = 512, seed: int = 0) -> np.ndarray:
    """Inputs float32 [n, 16]: eight noisy clusters, so a healthy codebook has several codes to use."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, size=(8, CONFIG.input_dim))
    return (centres[rng.integers(0, 8, n)] + rng.normal(0, 0.3, (n, CONFIG.input_dim))).astype(np.float32)


def probe_x() -> np.ndarray:
    return data(256, seed=1)


def make_model(seed: int = 0) -> VQVAE:
    """A fresh tiny VQ-VAE whose codes start on encoder outputs (so it starts healthy)."""
    torch.manual_seed(seed)
    model = VQVAE(CONFIG)
    with torch.no_grad():
        z = model.encode(torch.from_numpy(data(64, seed=2))).reshape(-1, CONFIG.embedding_dim)
        everything = torch.ones(CONFIG.num_embeddings, dtype=torch.bool)
        model.quantizer.reseed(everything, z, torch.Generator().manual_seed(seed))
    return model


def loss_at(model: VQVAE, x: torch.Tensor, step: int, collapse_from: int | None) -> torch.Tensor:
    """Training loss of one batch at optimiser step `step` (0-based count of steps taken so far)."""
    out = model(x)
    loss = F.mse_loss(out["recon"], x) + CONFIG.commitment_cost * out["commitment"]
    if collapse_from is not None and step >= collapse_from:
        loss = loss + PENALTY * out["z"].var(dim=0).mean()
    elif step % 5 == 0:
        with torch.no_grad():
            usage = model.quantizer._ema_cluster_size
            dead = usage < 0.05 * float(usage.mean())
            model.quantizer.reseed(dead, out["z"].detach(), torch.Generator().manual_seed(step))
    return loss


def optimiser(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)


def probe_usage(model: VQVAE, x: np.ndarray) -> tuple[float, float]:
    """(perplexity / K, dead fraction) of the codes of probe x, counted here rather than by the guard."""
    was = model.training
    model.eval()
    with torch.no_grad():
        idx = model.code_indices(torch.from_numpy(x)).numpy().ravel()
    model.train(was)
    k = model.config.num_embeddings
    p = np.bincount(idx, minlength=k) / idx.size
    nz = p[p > 0]
    return math.exp(-(nz * np.log(nz)).sum()) / k, float((p == 0).mean())


def oracle_collapsed(model: VQVAE, x: np.ndarray) -> tuple[bool, float]:
    """(collapsed by the codebook rule's thresholds, perplexity / K) from `probe_usage`."""
    ratio, dead = probe_usage(model, x)
    return ratio < COLLAPSE_RATIO or (ratio < COLLAPSE_RATIO_WITH_DEAD and dead > COLLAPSE_DEAD), ratio
