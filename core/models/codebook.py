"""Reference VQ-VAE for flattened 8x8 digits: MLP encoder -> T tokens of dim D -> EMA quantizer -> MLP decoder.

The encoder output is bounded (`bound * tanh`) and the codebook is clamped to the same box, so a code
that is never chosen stays wherever it was initialised: the classic dead-code picture. The quantizer
keeps the buffer names of the widely copied EMA quantizer (`_embedding.weight [K, D]`,
`_ema_cluster_size [K]`, `_ema_w [K, D]`) so its checkpoints look like the ones users bring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from ..io.errors import AdapterError


@dataclass(frozen=True)
class VQVAEConfig:
    """Architecture of the reference VQ-VAE; saved as a plain dict in every checkpoint."""

    input_dim: int = 64
    hidden_dim: int = 128
    num_tokens: int = 4
    embedding_dim: int = 8
    num_embeddings: int = 64
    num_classes: int = 10
    commitment_cost: float = 0.25
    decay: float = 0.99
    epsilon: float = 1e-5
    bound: float = 5.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> VQVAEConfig:
        """Keep the keys this class knows; ignore training options stored beside them."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class VectorQuantizerEMA(nn.Module):
    """Nearest-code quantizer whose codebook follows exponential moving averages of its assigned inputs."""

    def __init__(self, num_embeddings: int, embedding_dim: int, decay: float, epsilon: float, bound: float):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.decay = decay
        self.epsilon = epsilon
        self.bound = bound
        self._embedding = nn.Embedding(num_embeddings, embedding_dim)
        self._embedding.weight.data.uniform_(-bound, bound)
        self._embedding.weight.requires_grad_(False)
        self.register_buffer("_ema_cluster_size", torch.zeros(num_embeddings))
        self.register_buffer("_ema_w", self._embedding.weight.data.clone())

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest code per vector: z [M, D] -> int64 [M]."""
        return torch.cdist(z, self._embedding.weight).argmin(dim=1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z [M, D] -> (straight-through quantized [M, D], commitment loss, indices [M])."""
        idx = self.indices(z)
        quantized = self._embedding.weight[idx]
        if self.training:
            self._ema_update(z.detach(), idx)
        commitment = F.mse_loss(z, quantized.detach())
        return z + (quantized - z).detach(), commitment, idx

    @torch.no_grad()
    def _ema_update(self, z: torch.Tensor, idx: torch.Tensor) -> None:
        one_hot = F.one_hot(idx, self.num_embeddings).to(z.dtype)
        self._ema_cluster_size.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
        n = self._ema_cluster_size.sum()
        # Laplace smoothing keeps never-chosen codes from dividing by zero; they keep their old vector.
        size = (self._ema_cluster_size + self.epsilon) / (n + self.num_embeddings * self.epsilon) * n
        self._ema_w.mul_(self.decay).add_(one_hot.T @ z, alpha=1 - self.decay)
        self._embedding.weight.copy_((self._ema_w / size.unsqueeze(1)).clamp(-self.bound, self.bound))

    @torch.no_grad()
    def reseed(self, dead: torch.Tensor, z: torch.Tensor, generator: torch.Generator) -> int:
        """Move the codes flagged in `dead` [K] onto random encoder outputs z [M, D]; returns how many."""
        count = int(dead.sum())
        if count == 0:
            return 0
        pick = torch.randint(len(z), (count,), generator=generator)
        fresh = z[pick].clamp(-self.bound, self.bound)
        self._embedding.weight[dead] = fresh
        self._ema_w[dead] = fresh
        self._ema_cluster_size[dead] = 1.0
        return count


class VQVAE(nn.Module):
    """Encoder (bounded) -> T tokens -> EMA quantizer -> decoder; optional classifier on the quantized latent
    (`num_classes=0`: none)."""

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        c = config
        self.config = config
        latent = c.num_tokens * c.embedding_dim
        self.encoder = MLP(c.input_dim, c.hidden_dim, latent)
        self.quantizer = VectorQuantizerEMA(c.num_embeddings, c.embedding_dim, c.decay, c.epsilon, c.bound)
        self.decoder = MLP(latent, c.hidden_dim, c.input_dim)
        heads = {"classifier": nn.Linear(latent, c.num_classes)} if c.num_classes else {}
        self.semantic_heads = nn.ModuleDict(heads)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, input_dim] -> bounded token vectors [N, T, D]."""
        c = self.config
        return c.bound * torch.tanh(self.encoder(x)).view(len(x), c.num_tokens, c.embedding_dim)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruction [N, input_dim], commitment loss, indices [N, T], encoder outputs [N*T, D] and,
        with a classifier head, class logits [N, C]."""
        z = self.encode(x)
        flat = z.reshape(-1, z.shape[-1])
        quantized, commitment, idx = self.quantizer(flat)
        latent = quantized.view(len(x), -1)
        out = {
            "recon": self.decoder(latent),
            "commitment": commitment,
            "indices": idx.view(len(x), -1),
            "z": flat,
        }
        if "classifier" in self.semantic_heads:
            out["logits"] = self.semantic_heads["classifier"](latent)
        return out

    @torch.no_grad()
    def code_indices(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, input_dim] -> int64 [N, T]."""
        z = self.encode(x)
        return self.quantizer.indices(z.reshape(-1, z.shape[-1])).view(len(x), -1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, input_dim] -> decoded quantized latents [N, input_dim]."""
        idx = self.code_indices(x)
        return self.decode_indices(idx)

    @torch.no_grad()
    def decode_indices(self, idx: torch.Tensor) -> torch.Tensor:
        """Code indices [N, T] -> decoder outputs [N, input_dim]."""
        return self.decoder(self.quantizer._embedding.weight[idx].reshape(len(idx), -1))


def config_from_shapes(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> VQVAEConfig:
    """The architecture implied by the tensor shapes; the stored config fills only non-shape options."""
    try:
        k, d = state_dict["quantizer._embedding.weight"].shape
        hidden, input_dim = state_dict["encoder.net.0.weight"].shape
        latent = state_dict["encoder.net.2.weight"].shape[0]
    except (KeyError, ValueError) as exc:
        raise AdapterError(f"not a reference VQ-VAE state dict: missing or misshapen {exc}") from None
    head = state_dict.get("semantic_heads.classifier.weight")
    classes = head.shape[0] if head is not None else 0
    if latent % d:
        raise AdapterError(f"encoder output {latent} is not a whole number of {d}-dim tokens")
    base = VQVAEConfig.from_dict(config)
    return VQVAEConfig(
        **{
            **base.to_dict(),
            "input_dim": input_dim,
            "hidden_dim": hidden,
            "num_tokens": latent // d,
            "embedding_dim": d,
            "num_embeddings": k,
            "num_classes": classes,
        }
    )


def build_vqvae(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> VQVAE:
    """Rebuild a VQVAE in eval mode from a (prefix-stripped) state dict; AdapterError if it does not fit."""
    model = VQVAE(config_from_shapes(state_dict, config))
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in state_dict]
    if missing:
        raise AdapterError(f"reference VQ-VAE tensors missing from checkpoint: {', '.join(missing[:5])}")
    try:
        model.load_state_dict({k: state_dict[k] for k in wanted})
    except RuntimeError as exc:
        raise AdapterError(f"checkpoint does not fit the reference VQ-VAE: {exc}") from None
    return model.eval()
