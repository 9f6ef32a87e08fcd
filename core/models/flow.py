"""Attribute-conditioned vector fields on the unit sphere and their Euler flow.

Two layouts that real checkpoints use (key names must match exactly, so weights load as saved):

- `VectorFieldNetwork` (learning-to-flow style): `network.0` Linear(D+A -> H), `network.1` LayerNorm,
  ReLU, `network.3` Linear(H, H), `network.4` LayerNorm, ReLU, `network.6` Linear(H, H), ReLU,
  `network.8` Linear(H -> D). v = network([z, y]).
- `AttributeMLPField` (sibling layout): `attr_mlp.0` Linear(A -> H) + SiLU encodes the attributes,
  `mlp.0` Linear(D+H -> H), SiLU, `mlp.2` Linear(H, H), SiLU, `mlp.4` Linear(H -> D), and a learned
  scalar `scale`. v = scale * mlp([z, attr_mlp(y)]). The activation is not recorded in the weights;
  SiLU is this project's assumption for that layout.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .mlp import attach

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class VectorFieldNetwork(nn.Module):
    """v(z, y): z float [N, D] unit embeddings, y float [N, A] target attributes -> [N, D]."""

    def __init__(self, embedding_dim: int = 512, num_attributes: int = 5, hidden_dim: int = 256) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.num_attributes = num_attributes
        self.hidden_dim = hidden_dim
        self.network = nn.Sequential(
            nn.Linear(embedding_dim + num_attributes, hidden_dim),
            nn.LayerNorm(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.LayerNorm(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, embedding_dim),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.network(torch.cat([z, y.to(z.dtype)], dim=-1))


class AttributeMLPField(nn.Module):
    """Sibling layout: v(z, y) = scale * mlp([z, attr_mlp(y)]); shapes as in `VectorFieldNetwork`."""

    def __init__(self, embedding_dim: int = 512, num_attributes: int = 5, hidden_dim: int = 256) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.num_attributes = num_attributes
        self.hidden_dim = hidden_dim
        self.attr_mlp = nn.Sequential(nn.Linear(num_attributes, hidden_dim), nn.SiLU())
        self.mlp = nn.Sequential(
            nn.Linear(embedding_dim + hidden_dim, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, embedding_dim),
        )
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.scale * self.mlp(torch.cat([z, self.attr_mlp(y.to(z.dtype))], dim=-1))


class ChainField(nn.Module):
    """v(z, c) = chain([z, c]) for an MLP rebuilt from shapes (core.models.mlp), layers at their saved paths."""

    def __init__(self, steps: list, embedding_dim: int, num_attributes: int) -> None:

        super().__init__()
        self.embedding_dim = embedding_dim
        self.num_attributes = num_attributes
        self._steps = []
        for step in steps:
            if step.path is not None:
                attach(self, step.path, step.module)
            self._steps.append(step.module)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, y.to(z.dtype)], dim=-1)
        for module in self._steps:
            h = module(h)
        return h


def flow(
    field: Field, z0: torch.Tensor, y: torch.Tensor, steps: int, alpha: float, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Euler steps on the sphere, z <- normalize(z + alpha * v(z, y)); returns [T+1, N, D] with z0 first.

    Differentiable (the demo trainer backpropagates through it); wrap in inference_mode to evaluate.
    `out` [T+1, N, D] (any device or strides) receives each step as it is made and is returned, so no
    stacked copy of the path is made (inference only).
    """
    z = nn.functional.normalize(z0, dim=-1)
    path = [z]
    if out is not None:
        out[0].copy_(z)
    for t in range(1, steps + 1):
        z = nn.functional.normalize(z + alpha * field(z, y), dim=-1)
        if out is None:
            path.append(z)
        else:
            out[t].copy_(z)
    return torch.stack(path) if out is None else out
