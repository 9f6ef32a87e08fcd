"""Tiny models that train healthy, or into collapse from a chosen step, in seconds, for the guard's tests.

Each `Recipe` holds a model, its data, its training loss and an oracle that measures collapse on the
probe without the guard's code (the model's own methods and the family rule's thresholds):
- REFERENCE: the project's reference VQ-VAE (core.models.codebook), read by the guard's reference adapter;
- TAMING: the VQGAN layout of CompVis/taming-transformers from the corpus (tests/corpus/layouts.py),
  a codebook without EMA trained by gradients, read by the role-based live adapter;
- EXAMPLES_VAE: the VAE of pytorch/examples from the corpus, read by the live adapter too.
Healthy codebooks train with reconstruction + commitment and dead-code reseeding. A collapsing one
gets, from `collapse_from` on, a penalty on the spread of the encoder outputs over the batch that pulls
every input onto one point, so all tokens end on the one or two codes nearest it. A collapsing VAE gets
a KL weight of 200 from `collapse_from` on, which drives every latent to the prior.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.distance import pdist
from torch import nn

from core.diagnosis.codebook import severity_of as codebook_severity
from core.diagnosis.posterior import severity_of as posterior_severity
from core.metrics.posterior import ACTIVE_THRESHOLD
from core.models.codebook import VQVAE, VQVAEConfig
from tests.corpus import layouts

CONFIG = VQVAEConfig(
    input_dim=16, hidden_dim=32, num_tokens=2, embedding_dim=4, num_embeddings=16, num_classes=0, bound=3.0
)
PENALTY = 50.0
KL_COLLAPSE = 200.0
BATCH = 32
RESEED_EVERY = 5


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
    elif step % RESEED_EVERY == 0 and model.training:
        with torch.no_grad():
            usage = model.quantizer._ema_cluster_size
            dead = usage < 0.05 * float(usage.mean())
            model.quantizer.reseed(dead, out["z"].detach(), torch.Generator().manual_seed(step))
    return loss


def optimiser(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)


def usage(codes: np.ndarray, k: int) -> tuple[float, float]:
    """(perplexity / K, dead fraction) of code indices over K codes."""
    p = np.bincount(codes.ravel(), minlength=k) / codes.size
    nz = p[p > 0]
    return math.exp(-(nz * np.log(nz)).sum()) / k, float((p == 0).mean())


def _measured(model: nn.Module, measure: Callable[[], object]) -> object:
    was = model.training
    model.eval()
    with torch.no_grad():
        result = measure()
    model.train(was)
    return result


def probe_usage(model: VQVAE, x: np.ndarray) -> tuple[float, float]:
    """(perplexity / K, dead fraction) of the codes of probe x, counted here rather than by the guard."""
    codes = _measured(model, lambda: model.code_indices(torch.from_numpy(x)).numpy())
    return usage(codes, model.config.num_embeddings)


def oracle_collapsed(model: VQVAE, x: np.ndarray) -> tuple[bool, float]:
    """(collapsed by the codebook rule's thresholds, perplexity / K) from `probe_usage`."""
    ratio, dead = probe_usage(model, x)
    return codebook_severity(ratio, dead) == "collapse", ratio


# --- a public repository's VQGAN (corpus layout of CompVis/taming-transformers) ------------------------

TAMING_RESEED_EVERY = 2


def taming_data(n: int = 512, seed: int = 0) -> np.ndarray:
    return layouts.images(seed, n)


def taming_probe() -> np.ndarray:
    return layouts.images(1, layouts.ROWS)


def taming_model() -> nn.Module:
    """The corpus VQGAN with every code placed on encoder outputs (healthy at the start)."""
    return layouts.taming(False)


def _taming_codes(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pre-quant vectors [M, D], their codes [M]) of a batch, as the model's quantizer picks them."""
    z = model.encode_to_prequant(x)
    _, _, (_, _, idx) = model.quantize(z)
    return z.permute(0, 2, 3, 1).reshape(-1, layouts.D), idx


def taming_optimiser(model: nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum: Adam's first steps (each weight moved by the whole learning rate) shift the
    small spread of this encoder's outputs past most codes at once, a transient collapse at step 1."""
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def taming_loss(model: nn.Module, x: torch.Tensor, step: int, collapse_from: int | None) -> torch.Tensor:
    """The VQGAN's own loss (reconstruction + codebook + commitment), its dead codes re-drawn from the
    batch every few steps while healthy, or the spread penalty from `collapse_from` on."""
    recon, codebook_loss = model(x)
    loss = F.mse_loss(recon, x) + codebook_loss
    if collapse_from is not None and step >= collapse_from:
        # the encoder alone: a second quantizer call would show the guard's hooks every token twice
        z = model.encode_to_prequant(x).permute(0, 2, 3, 1).reshape(-1, layouts.D)
        return loss + PENALTY * z.var(dim=0).mean()
    if step % TAMING_RESEED_EVERY == 0 and model.training:
        with torch.no_grad():
            z, idx = _taming_codes(model, x)
            dead = torch.bincount(idx, minlength=layouts.K) == 0
            picks = torch.randperm(len(z), generator=torch.Generator().manual_seed(step))[: int(dead.sum())]
            model.quantize.embedding.weight[dead] = z[picks]
    return loss


def taming_oracle(model: nn.Module, x: np.ndarray) -> tuple[bool, float]:
    """(collapsed by the codebook rule's thresholds, perplexity / K) of the quantizer's own picks."""
    idx = _measured(model, lambda: _taming_codes(model, torch.from_numpy(x))[1].numpy())
    ratio, dead = usage(idx, layouts.K)
    return codebook_severity(ratio, dead) == "collapse", ratio


# --- a public repository's VAE (corpus layout of pytorch/examples vae/main.py) -------------------------

_VAE_PROBE_ROWS = 200


def vae_data(n: int = 512) -> np.ndarray:
    """Rows of the factor data the corpus VAE encodes, after the probe's rows (same factor loadings)."""
    return layouts.factor_data(n=_VAE_PROBE_ROWS + n)[0][_VAE_PROBE_ROWS:]


def vae_probe() -> np.ndarray:
    return layouts.factor_data(n=_VAE_PROBE_ROWS)[0]


def vae_model() -> nn.Module:
    return layouts.examples_vae(False)


def vae_loss(model: nn.Module, x: torch.Tensor, step: int, collapse_from: int | None) -> torch.Tensor:
    """Summed squared reconstruction error + beta * KL, beta 1 (or KL_COLLAPSE from `collapse_from`)."""
    recon, mu, logvar = model(x)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()
    beta = KL_COLLAPSE if collapse_from is not None and step >= collapse_from else 1.0
    return (recon - x).pow(2).sum(dim=1).mean() + beta * kl


def vae_oracle(model: nn.Module, x: np.ndarray) -> tuple[bool, float]:
    """(collapsed by the posterior rule's thresholds, reconstruction diversity ratio) from the model's
    own encode and decode of the posterior means."""

    def measure() -> tuple[np.ndarray, np.ndarray]:
        mu, _ = model.encode(torch.from_numpy(x))
        return mu.numpy(), model.decode(mu).numpy()

    mu, recon = _measured(model, measure)
    active = float((mu.var(axis=0, ddof=1) >= ACTIVE_THRESHOLD).mean())
    diversity = pdist(recon.astype(np.float64)).mean() / pdist(x.astype(np.float64)).mean()
    return posterior_severity(active, diversity) == "collapse", float(diversity)


@dataclass(frozen=True)
class Recipe:
    """A model to guard, its data, its loss at a step and its collapse oracle on the probe.

    `adapter` names the adapter the guard reads it with, `kind` its finding, and `metric` the finding's
    metric that the oracle's number measures independently.
    """

    name: str
    make_model: Callable[[], nn.Module]
    data: Callable[[], np.ndarray]
    probe_x: Callable[[], np.ndarray]
    loss_at: Callable[[nn.Module, torch.Tensor, int, int | None], torch.Tensor]
    oracle: Callable[[nn.Module, np.ndarray], tuple[bool, float]]
    adapter: str
    kind: str = "codebook"
    metric: str = "code_perplexity_ratio"
    optimiser: Callable[[nn.Module], torch.optim.Optimizer] = optimiser


REFERENCE = Recipe("reference", make_model, data, probe_x, loss_at, oracle_collapsed, "vqvae_digits")
TAMING = Recipe(
    "taming",
    taming_model,
    taming_data,
    taming_probe,
    taming_loss,
    taming_oracle,
    "live_codebook",
    optimiser=taming_optimiser,
)
EXAMPLES_VAE = Recipe(
    "examples_vae",
    vae_model,
    vae_data,
    vae_probe,
    vae_loss,
    vae_oracle,
    "live_posterior",
    "posterior",
    "diversity_ratio",
)
VQ_RECIPES = (REFERENCE, TAMING)
