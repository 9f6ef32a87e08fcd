"""Small checkpoints for the VAE adapters (one per adapter), saved as plain dicts of tensors.

`vae_fc_mu`: `{epoch, model_state_dict, config}` with fc_mu / fc_var heads and the config in the file.
`vae_mu_logvar`: a Lightning checkpoint (state_dict under a `vae.` wrapper prefix, hyper_parameters,
pytorch-lightning_version, epoch, global_step) whose architecture is only in `../.hydra/config.yaml`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import yaml

from core.models.posterior import FeatureVAE, make_vae

FEATURES = 16
LATENT = 4


def small_vae(head_names: tuple[str, str], activation: str = "relu", seed: int = 0) -> FeatureVAE:
    torch.manual_seed(seed)
    return make_vae(FEATURES, (12, 10), LATENT, activation=activation, head_names=head_names)


def write_probe(folder: Path, rows: int = 20) -> None:
    x = np.random.default_rng(0).normal(size=(rows, FEATURES)).astype(np.float32)
    np.savez_compressed(folder / "probe.npz", x=x, labels=np.arange(rows) % 3)


def fc_mu_case(tmp: Path) -> Path:
    model = small_vae(("fc_mu", "fc_var"))
    path = tmp / "vae_epoch_3.pt"
    config = {"model": {"in_features": FEATURES, "latent_dim": LATENT, "activation": "relu"}}
    torch.save({"epoch": 3, "model_state_dict": model.state_dict(), "config": config}, path)
    write_probe(tmp)
    return path


def lightning_hydra_case(tmp: Path) -> Path:
    model = small_vae(("mu", "logvar"), activation="elu")
    run = tmp / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    config = {"model": {"latent_dim": LATENT, "activation": "elu"}, "loss": {"free_bits": 0.25}}
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    path = run / "checkpoints" / "epoch=4-step=40.ckpt"
    torch.save(
        {
            "state_dict": {f"vae.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {},
            "pytorch-lightning_version": "2.4.0",
            "epoch": 4,
            "global_step": 40,
        },
        path,
    )
    write_probe(run)
    return path


CASES: dict[str, Callable[[Path], Path]] = {
    "vae_fc_mu": fc_mu_case,
    "vae_mu_logvar": lightning_hydra_case,
}


class ConvVAE(torch.nn.Module):
    """A small convolutional VAE with linear fc_mu / fc_var heads (weights only: not rebuilt from shapes)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, stride=2, padding=1), torch.nn.ReLU())
        self.fc_mu = torch.nn.Linear(4 * 4 * 4, LATENT)
        self.fc_var = torch.nn.Linear(4 * 4 * 4, LATENT)
        self.decoder_input = torch.nn.Linear(LATENT, 4 * 4 * 4)
        self.decoder = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1))


def heads_only_case(tmp: Path) -> Path:
    torch.manual_seed(0)
    path = tmp / "conv_vae.pt"
    torch.save({"state_dict": ConvVAE().state_dict(), "epoch": 2}, path)
    return path


CASES["vae_heads"] = heads_only_case
