"""Reference VAE for feature vectors (MLP encoder, mu / logvar heads, MLP decoder).

Layers live at the state-dict paths a checkpoint uses (`encoder.0`, `fc_mu`, `decoder.2`, ...), and
parameter-free steps (activations) sit between them, so one class both trains in the demo and rebuilds
user checkpoints whose layer sizes are read off weight shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .mlp import Step, attach, make_activation


class FeatureVAE(nn.Module):
    """Gaussian VAE over flat feature vectors [N, F] with latent size Z.

    `encoder` and `decoder` are ordered steps; the heads map the last encoder width to Z.
    """

    def __init__(
        self,
        encoder: Sequence[Step],
        mu_head: tuple[str, nn.Linear],
        logvar_head: tuple[str, nn.Linear],
        decoder: Sequence[Step],
    ) -> None:
        super().__init__()
        self.mu_name, mu = mu_head
        self.logvar_name, logvar = logvar_head
        self._encoder = [self._attach_step(s) for s in encoder]
        self._attach(self.mu_name, mu)
        self._attach(self.logvar_name, logvar)
        self._decoder = [self._attach_step(s) for s in decoder]
        self.latent_dim = mu.out_features
        self.in_features = _first_linear(encoder, mu).in_features

    def _attach(self, path: str, module: nn.Module) -> None:
        attach(self, path, module)

    def _attach_step(self, step: Step) -> nn.Module:
        if step.path is not None:
            self._attach(step.path, step.module)
        return step.module

    @property
    def mu_head(self) -> nn.Linear:
        return self.get_submodule(self.mu_name)  # type: ignore[return-value]

    @property
    def logvar_head(self) -> nn.Linear:
        return self.get_submodule(self.logvar_name)  # type: ignore[return-value]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, F] -> (mu [N, Z], logvar [N, Z])."""
        h = x
        for module in self._encoder:
            h = module(h)
        return self.mu_head(h), self.logvar_head(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z [N, Z] -> reconstruction [N, F]."""
        h = z
        for module in self._decoder:
            h = module(h)
        return h

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reparameterised pass: (reconstruction [N, F], mu [N, Z], logvar [N, Z])."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decode(z), mu, logvar


def _first_linear(encoder: Sequence[Step], head: nn.Linear) -> nn.Linear:
    for step in encoder:
        if isinstance(step.module, nn.Linear):
            return step.module
    return head


def mlp_steps(prefix: str, sizes: Sequence[int], activation: str, *, final_activation: bool) -> list[Step]:
    """nn.Sequential-style steps `prefix.0`, `prefix.2`, ... for Linear layers through `sizes`."""
    steps: list[Step] = []
    n_layers = len(sizes) - 1
    for i in range(n_layers):
        steps.append(Step(f"{prefix}.{2 * i}", nn.Linear(sizes[i], sizes[i + 1])))
        if i < n_layers - 1 or final_activation:
            steps.append(Step(None, make_activation(activation)))
    return steps


def make_vae(
    in_features: int = 64,
    hidden: Sequence[int] = (128, 128),
    latent_dim: int = 8,
    *,
    activation: str = "relu",
    head_names: tuple[str, str] = ("fc_mu", "fc_var"),
    output_activation: str | None = None,
) -> FeatureVAE:
    """The reference architecture: Linear/activation stacks, decoder mirrors the encoder's widths."""
    encoder = mlp_steps("encoder", [in_features, *hidden], activation, final_activation=True)
    decoder = mlp_steps(
        "decoder", [latent_dim, *reversed(hidden), in_features], activation, final_activation=False
    )
    if output_activation not in (None, "none", "identity", "linear"):
        decoder.append(Step(None, make_activation(output_activation)))
    return FeatureVAE(
        encoder,
        (head_names[0], nn.Linear(hidden[-1], latent_dim)),
        (head_names[1], nn.Linear(hidden[-1], latent_dim)),
        decoder,
    )
