"""Demo zoo for VAE posterior collapse: two seeded MLP VAEs on scikit-learn's bundled 8x8 digits.

`collapsed`: pixels only scaled to [0, 1] (no channel-wise normalisation), reconstruction error averaged
over the 64 features while the KL is summed over latents, no free bits. The KL then outweighs the
little reconstruction signal, every latent falls to the prior and the decoder outputs the average digit.
Saved as plain dicts `{epoch, global_step, model_state_dict, config, ...}` with `fc_mu` / `fc_var` heads.

`fixed`: channel-wise standardised features, summed Gaussian reconstruction error, KL with free bits
(a per-dimension floor) and a cosine term on reconstructions. Saved Lightning-style
(`state_dict` under a `vae.` wrapper prefix, `hyper_parameters`, `pytorch-lightning_version`, `epoch`,
`global_step`) with `mu` / `logvar` heads; the architecture lives only in a Hydra `.hydra/config.yaml`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from ..metrics.posterior import active_units, kl_per_dim
from ..models.posterior import FeatureVAE, make_vae
from .codebook import digits_split

SEED = 0
FAMILY_DIR = "posterior"
LATENT_DIM = 8
HIDDEN = (128, 128)
LIGHTNING_VERSION = "2.4.0"


@dataclass(frozen=True)
class VAERecipe:
    """Training options of one demo run."""

    name: str
    standardise: bool
    recon_reduction: str  # "mean" over features (the bug) or "sum" (a proper Gaussian likelihood)
    free_bits: float
    cosine_weight: float
    activation: str
    layout: str  # "plain" or "lightning"
    kl_weight: float = 1.0


RECIPES = (
    VAERecipe("collapsed", False, "mean", 0.0, 0.0, "relu", "plain"),
    VAERecipe("fixed", True, "sum", 0.5, 5.0, "elu", "lightning"),
)


def standardiser(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (mean, std) of the training set; constant features keep std 1 so they stay 0."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    return mean.astype(np.float32), np.where(std > 1e-3, std, 1.0).astype(np.float32)


def loss_terms(
    model: FeatureVAE, x: torch.Tensor, recipe: VAERecipe
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(recon, kl, total) for one batch; kl is the summed per-dimension KL (after free bits for training)."""
    recon_x, mu, logvar = model(x)
    err = (recon_x - x) ** 2
    recon = err.mean() if recipe.recon_reduction == "mean" else 0.5 * err.sum(dim=1).mean()
    kl_dim = (0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)).mean(dim=0)
    kl = kl_dim.sum()
    kl_loss = torch.clamp(kl_dim, min=recipe.free_bits).sum() if recipe.free_bits > 0 else kl
    total = recon + recipe.kl_weight * kl_loss
    if recipe.cosine_weight > 0:
        total = total + recipe.cosine_weight * (1.0 - F.cosine_similarity(recon_x, x, dim=1)).mean()
    return recon, kl, total


def _config(recipe: VAERecipe, mean: np.ndarray, std: np.ndarray) -> dict:
    data = {"dataset": "sklearn digits 8x8", "features": 64, "scaling": "x / 16"}
    if recipe.standardise:
        data.update(scaling="x / 16, then per-feature (x - mean) / std", mean=mean.tolist(), std=std.tolist())
    return {
        "model": {
            "in_features": 64,
            "hidden_dims": list(HIDDEN),
            "latent_dim": LATENT_DIM,
            "activation": recipe.activation,
        },
        "loss": {
            "recon_reduction": recipe.recon_reduction,
            "kl_weight": recipe.kl_weight,
            "free_bits": recipe.free_bits,
            "cosine_weight": recipe.cosine_weight,
        },
        "data": data,
        "seed": SEED,
        "run": recipe.name,
    }


def _save(path: Path, model: FeatureVAE, recipe: VAERecipe, config: dict, row: dict) -> None:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if recipe.layout == "lightning":
        obj: dict = {
            "state_dict": {f"vae.{k}": v for k, v in state.items()},
            "hyper_parameters": {},
            "pytorch-lightning_version": LIGHTNING_VERSION,
            "epoch": row["epoch"],
            "global_step": row["step"],
        }
    else:
        obj = {
            "epoch": row["epoch"],
            "global_step": row["step"],
            "model_state_dict": state,
            "config": config,
            "train_loss": row["total"],
            "val_loss": row["val"],
        }
    torch.save(obj, path)


@torch.no_grad()
def _validate(model: FeatureVAE, xp: torch.Tensor, recipe: VAERecipe) -> dict:
    model.eval()
    torch.manual_seed(SEED)
    _, _, total = loss_terms(model, xp, recipe)
    mu, logvar = model.encode(xp)
    kl = kl_per_dim(mu.numpy(), logvar.numpy())
    return {"val": total.item(), "val_active_units": active_units(mu.numpy()), "val_kl": float(np.sum(kl))}


def train_run(
    recipe: VAERecipe, out_dir: Path, *, epochs: int, save_epochs: tuple[int, ...], batch_size: int = 64
) -> list[dict]:
    """Train one run into out_dir: checkpoints, `training_log.json`, `probe.npz`; returns the log rows."""
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    x_tr, _, x_pr, y_pr = digits_split()
    mean, std = standardiser(x_tr)
    if recipe.standardise:
        x_tr, x_pr = (x_tr - mean) / std, (x_pr - mean) / std
    xt, xp = torch.from_numpy(x_tr.astype(np.float32)), torch.from_numpy(x_pr.astype(np.float32))
    model = make_vae(
        64,
        HIDDEN,
        LATENT_DIM,
        activation=recipe.activation,
        head_names=("fc_mu", "fc_var") if recipe.layout == "plain" else ("mu", "logvar"),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    config = _config(recipe, mean, std)
    out_dir.mkdir(parents=True, exist_ok=True)
    if recipe.layout == "lightning":
        (out_dir / ".hydra").mkdir(exist_ok=True)
        (out_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    log: list[dict] = []
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        sums = {"recon": 0.0, "kl": 0.0, "total": 0.0}
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), batch_size):
            batch = xt[order[start : start + batch_size]]
            recon, kl, total = loss_terms(model, batch, recipe)
            opt.zero_grad()
            total.backward()
            opt.step()
            step += 1
            for key, value in (("recon", recon), ("kl", kl), ("total", total)):
                sums[key] += value.item() * len(batch)
        row = {"epoch": epoch, "step": step, **{k: v / len(xt) for k, v in sums.items()}}
        row.update(_validate(model, xp, recipe))
        log.append(row)
        if epoch in save_epochs:
            _save(out_dir / f"vae_epoch_{epoch:03d}.pt", model, recipe, config, row)
    (out_dir / "training_log.json").write_text(json.dumps(log, indent=1))
    np.savez_compressed(out_dir / "probe.npz", x=x_pr.astype(np.float32), labels=y_pr)
    return log


def build(out_dir: Path, *, quick: bool = False) -> None:
    """Write both runs under out_dir/posterior/<run>/ (out_dir is the demo root; quick: 4 epochs, for tests)."""
    torch.set_num_threads(1)
    epochs, save = (4, (2, 4)) if quick else (60, (1, 5, 20, 60))
    for recipe in RECIPES:
        train_run(recipe, Path(out_dir) / FAMILY_DIR / recipe.name, epochs=epochs, save_epochs=save)
