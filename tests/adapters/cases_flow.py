"""Conformance cases for the vector-field adapters: one small random model per layout.

`fclf_network`: learning-to-flow file `{epoch, model_state_dict, optimizer_state_dict, train_loss,
val_loss, config}` with attribute names in the config. `fclf_attr_mlp`: a bare DDP-style state dict
(`module.` prefix, no config) named like the sibling project's files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.models.flow import AttributeMLPField, VectorFieldNetwork

D, A, H = 12, 3, 8
NAMES = ["smiling", "young", "male"]


def write_probe(folder: Path, rows: int = 24) -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(rows, D)).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    attributes = rng.integers(0, 2, size=(rows, A)).astype(np.int8)
    np.savez_compressed(
        folder / "probe.npz", embeddings=z, attributes=attributes, attribute_names=np.array(NAMES)
    )


def network_case(tmp: Path) -> Path:
    torch.manual_seed(0)
    model = VectorFieldNetwork(D, A, H)
    optimizer = torch.optim.Adam(model.parameters())
    path = tmp / "fclf_epoch_5.pt"
    config = {"embedding_dim": D, "num_attributes": A, "hidden_dim": H, "attribute_names": NAMES}
    torch.save(
        {
            "epoch": 5,
            "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "train_loss": 0.5,
            "val_loss": 0.6,
            "config": config,
        },
        path,
    )
    write_probe(tmp)
    return path


def attr_mlp_ddp_case(tmp: Path) -> Path:
    torch.manual_seed(1)
    model = AttributeMLPField(D, A, H)
    path = tmp / "fclf_epoch_010.pt"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    write_probe(tmp)
    return path


CASES: dict[str, Callable[[Path], Path]] = {"fclf_network": network_case, "fclf_attr_mlp": attr_mlp_ddp_case}


def mlp_field_case(tmp: Path) -> Path:
    """A conditional-flow-matching style MLP: `net.0` Linear(D + A, W), SELU, ..., `net.6` Linear(W, D)."""
    torch.manual_seed(2)
    layers = [torch.nn.Linear(D + A, H), torch.nn.SELU(), torch.nn.Linear(H, H), torch.nn.SELU()]
    net = torch.nn.Sequential(*layers, torch.nn.Linear(H, D))
    path = tmp / "cfm_model.pt"
    sd = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"model": sd, "config": {"activation": "selu", "attribute_names": NAMES}}, path)
    write_probe(tmp)
    return path


CASES["fclf_mlp"] = mlp_field_case
