"""Small modules with the key names and shapes of public VQ-VAE / VAE / flow projects (see test_corpus.py).

Each is written here from the shapes its project's module definition gives (no code carried over), at a
tiny size, and made collapsed or healthy by construction:
- codebooks without EMA: a collapsed one keeps all but a few codes at their 1/K-scale initialisation (a
  code never chosen is never updated), or its codes collapsed onto two points; a healthy one has every
  code moved (placed on encoder outputs of the probe, so usage on data is spread too);
- EMA codebooks: EMA cluster sizes concentrated on two codes, or spread;
- VAEs: a collapsed one has mean / log-variance head rows near zero (mu = 0, sigma = 1 for every input);
  a healthy MLP one encodes the data's factors exactly (a ReLU network that passes [s, -s] pairs) and
  decodes them back; a healthy conv one keeps its default initialisation (weights alone cannot show it);
- vector fields: a collapsed one ignores z and pushes hard along a per-target direction, a healthy one
  moves z a little.
`Entry.save` writes the file the way its project saves (bare state dict, a dict with `model`,
`model_state_dict`, `weights` or nested `model_states`, Lightning checkpoints with or without a wrapper
prefix, DDP or torch.compile prefixes) plus, where the test needs data, a probe.npz beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

K, D, C, IMG = 32, 8, 8, 8  # codes, code width, channels, image side
FEATURES, FACTORS = 16, 6
ROWS = 64


def _seed(seed: int) -> None:
    torch.manual_seed(seed)


def images(seed: int = 0, n: int = ROWS) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 1, IMG, IMG)).astype(np.float32)


def sequences(seed: int = 0, n: int = ROWS) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 1, 16)).astype(np.float32)


def factor_data(seed: int = 0, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """x [n, FEATURES] = s A^T with FACTORS factors s ~ N(0, 1); returns (x, A)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(FEATURES, FACTORS))
    s = rng.normal(size=(n, FACTORS))
    return (s @ a.T).astype(np.float32), a


def lightning(state: dict, prefix: str = "", **hyper: object) -> dict:
    """A Lightning checkpoint of `state` under an optional wrapper attribute prefix."""
    return {
        "state_dict": {f"{prefix}{k}": v for k, v in state.items()},
        "epoch": 9,
        "global_step": 900,
        "pytorch-lightning_version": "2.4.0",
        "hyper_parameters": dict(hyper),
    }


# --- codebook construction ------------------------------------------------------------------------------


def box_codebook(k: int, d: int, moved: int, seed: int) -> torch.Tensor:
    """Codes uniform in [-1/K, 1/K] except the first `moved`, which left it (N(0, 1))."""
    g = torch.Generator().manual_seed(seed)
    book = (torch.rand(k, d, generator=g) * 2 - 1) / k
    book[:moved] = torch.randn(moved, d, generator=g)
    return book


def ema_sizes(k: int, collapsed: bool, seed: int, heads: tuple[int, ...] = ()) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if collapsed:
        sizes = torch.full((*heads, k), 1e-4)
        sizes[..., 0], sizes[..., 1] = 500.0, 300.0
        return sizes
    return 20 + 5 * torch.rand(*heads, k, generator=g)


def spread_codes(vectors: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """k distinct vectors sampled from `vectors` [M, D]: codes that data lands on evenly."""
    g = torch.Generator().manual_seed(seed)
    return vectors[torch.randperm(len(vectors), generator=g)[:k]].clone()


# --- 1 zalandoresearch/pytorch-vq-vae: VectorQuantizerEMA -------------------------------------------


class ZalandoVQEMA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._embedding = nn.Embedding(K, D)
        self.register_buffer("_ema_cluster_size", torch.zeros(K))
        self._ema_w = nn.Parameter(torch.randn(K, D))

    def forward(self, inputs: torch.Tensor) -> tuple:
        z = inputs.permute(0, 2, 3, 1)
        flat = z.reshape(-1, D)
        idx = torch.cdist(flat, self._embedding.weight).argmin(1)
        quantized = self._embedding.weight[idx].view(z.shape).permute(0, 3, 1, 2)
        return torch.zeros(()), quantized, torch.ones(()), F.one_hot(idx, K)


class ZalandoModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._encoder = nn.Module()
        self._encoder._conv_1 = nn.Conv2d(1, C, 4, 2, 1)
        self._encoder._conv_2 = nn.Conv2d(C, C, 3, 1, 1)
        self._pre_vq_conv = nn.Conv2d(C, D, 1)
        self._vq_vae = ZalandoVQEMA()
        self._decoder = nn.Module()
        self._decoder._conv_1 = nn.Conv2d(D, C, 3, 1, 1)
        self._decoder._conv_trans_1 = nn.ConvTranspose2d(C, 1, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self._pre_vq_conv(F.relu(self._encoder._conv_2(F.relu(self._encoder._conv_1(x)))))
        _, q, _, _ = self._vq_vae(z)
        return self._decoder._conv_trans_1(F.relu(self._decoder._conv_1(q)))


def zalando(collapsed: bool) -> nn.Module:
    _seed(1)
    m = ZalandoModel()
    with torch.no_grad():
        m._vq_vae._ema_cluster_size.copy_(ema_sizes(K, collapsed, 1))
    return m


# --- 2 rosinality/vq-vae-2-pytorch: two Quantize levels, embed [D, K] -------------------------------------


class RosQuantize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        embed = torch.randn(D, K)
        self.register_buffer("embed", embed)
        self.register_buffer("cluster_size", torch.ones(K))
        self.register_buffer("embed_avg", embed.clone())

    def forward(self, x: torch.Tensor) -> tuple:
        flat = x.reshape(-1, D)
        idx = torch.cdist(flat, self.embed.T).argmin(1)
        return self.embed.T[idx].view(x.shape), torch.zeros(()), idx.view(x.shape[:-1])


class RosVQVAE2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc_b = nn.Sequential(nn.Conv2d(1, C, 4, 2, 1), nn.ReLU())
        self.enc_t = nn.Sequential(nn.Conv2d(C, C, 4, 2, 1), nn.ReLU())
        self.quantize_conv_t = nn.Conv2d(C, D, 1)
        self.quantize_t = RosQuantize()
        self.dec_t = nn.Sequential(nn.ConvTranspose2d(D, D, 4, 2, 1))
        self.quantize_conv_b = nn.Conv2d(D + C, D, 1)
        self.quantize_b = RosQuantize()
        self.upsample_t = nn.ConvTranspose2d(D, D, 4, 2, 1)
        self.dec = nn.Sequential(nn.ConvTranspose2d(2 * D, 1, 4, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc_b = self.enc_b(x)
        enc_t = self.enc_t(enc_b)
        qt, _, _ = self.quantize_t(self.quantize_conv_t(enc_t).permute(0, 2, 3, 1))
        qt = qt.permute(0, 3, 1, 2)
        qb, _, _ = self.quantize_b(
            self.quantize_conv_b(torch.cat([self.dec_t(qt), enc_b], 1)).permute(0, 2, 3, 1)
        )
        return self.dec(torch.cat([self.upsample_t(qt), qb.permute(0, 3, 1, 2)], 1))


def rosinality(collapsed: bool) -> nn.Module:
    _seed(2)
    m = RosVQVAE2()
    with torch.no_grad():
        m.quantize_t.cluster_size.copy_(ema_sizes(K, False, 2))
        m.quantize_b.cluster_size.copy_(ema_sizes(K, collapsed, 3))  # the bottom level collapses
    return m


# --- 3/4 lucidrains/vector-quantize-pytorch: EuclideanCodebook embed [H, K, D]; ResidualVQ layers ----------


class LucidCodebook(nn.Module):
    def __init__(self, heads: int) -> None:
        super().__init__()
        embed = torch.randn(heads, K, D)
        self.register_buffer("initted", torch.Tensor([True]))
        self.register_buffer("cluster_size", torch.zeros(heads, K))
        self.register_buffer("embed_avg", embed.clone())
        self.register_buffer("embed", embed)

    def forward(self, x: torch.Tensor) -> tuple:
        idx = torch.stack([torch.cdist(x[h], self.embed[h]).argmin(1) for h in range(len(self.embed))])
        return torch.stack([self.embed[h][idx[h]] for h in range(len(self.embed))]), idx


class LucidVQ(nn.Module):
    def __init__(self, heads: int = 1) -> None:
        super().__init__()
        self.heads = heads
        self._codebook = LucidCodebook(heads)

    def forward(self, x: torch.Tensor) -> tuple:
        b, n, _ = x.shape
        per_head = x.reshape(b * n, self.heads, D).permute(1, 0, 2)
        q, idx = self._codebook(per_head)
        return (
            q.permute(1, 0, 2).reshape(b, n, self.heads * D),
            idx.T.reshape(b, n, self.heads),
            torch.zeros(()),
        )


class LucidModel(nn.Module):
    def __init__(self, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.encoder = nn.Linear(FEATURES, 4 * heads * D)
        self.vq = LucidVQ(heads)
        self.decoder = nn.Linear(4 * heads * D, FEATURES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, _, _ = self.vq(self.encoder(x).view(len(x), 4, self.heads * D))
        return self.decoder(q.reshape(len(x), -1))


def lucid_heads(collapsed: bool) -> nn.Module:
    _seed(3)
    m = LucidModel(2)
    with torch.no_grad():
        m.vq._codebook.cluster_size.copy_(ema_sizes(K, collapsed, 4, heads=(2,)))
    return m


class LucidResidualModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(FEATURES, 4 * D)
        self.rvq = nn.Module()
        self.rvq.layers = nn.ModuleList([LucidVQ(1) for _ in range(3)])
        self.decoder = nn.Linear(4 * D, FEATURES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.encoder(x).view(len(x), 4, D)
        out = torch.zeros_like(residual)
        for layer in self.rvq.layers:
            q, _, _ = layer(residual)
            residual, out = residual - q, out + q
        return self.decoder(out.reshape(len(x), -1))


def lucid_residual(collapsed: bool) -> nn.Module:
    _seed(4)
    m = LucidResidualModel()
    with torch.no_grad():
        for i, layer in enumerate(m.rvq.layers):
            layer._codebook.cluster_size.copy_(ema_sizes(K, collapsed and i == 2, 5 + i, heads=(1,)))
    return m


# --- 5 facebookresearch/encodec: ResidualVectorQuantization of EuclideanCodebook embed [K, D] ---------


class EncodecCodebook(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        embed = nn.init.kaiming_uniform_(torch.empty(K, D))
        self.register_buffer("inited", torch.Tensor([True]))
        self.register_buffer("cluster_size", torch.zeros(K))
        self.register_buffer("embed", embed)
        self.register_buffer("embed_avg", embed.clone())


class EncodecModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv1d(1, D, 3, padding=1))
        self.quantizer = nn.Module()
        self.quantizer.vq = nn.Module()
        self.quantizer.vq.layers = nn.ModuleList()
        for _ in range(4):
            layer = nn.Module()
            layer._codebook = EncodecCodebook()
            self.quantizer.vq.layers.append(layer)
        self.decoder = nn.Sequential(nn.Conv1d(D, 1, 3, padding=1))


def encodec(collapsed: bool) -> nn.Module:
    _seed(5)
    m = EncodecModel()
    with torch.no_grad():
        for i, layer in enumerate(m.quantizer.vq.layers):
            layer._codebook.cluster_size.copy_(ema_sizes(K, collapsed and i == 0, 10 + i))
    return m


# --- 6 nadavbh12/VQ-VAE: NearestEmbedEMA, a `weight` buffer [D, K] ----------------------------------------


class NearestEmbedEMA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        embed = torch.rand(D, K)
        self.register_buffer("weight", embed)
        self.register_buffer("cluster_size", torch.zeros(K))
        self.register_buffer("embed_avg", embed.clone())


class NadavModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, D, 4, 2, 1))
        self.emb = NearestEmbedEMA()
        self.decoder = nn.Sequential(nn.ConvTranspose2d(D, 1, 4, 2, 1))


def nadav(collapsed: bool) -> nn.Module:
    _seed(6)
    m = NadavModel()
    with torch.no_grad():
        m.emb.cluster_size.copy_(ema_sizes(K, collapsed, 6))
    return m


# --- 7 CompVis/taming-transformers: VQModel with VectorQuantizer2 (LightningModule) -----------------------


class TamingQuantizer(nn.Module):
    """Trainable as the original: straight-through codes and the codebook + beta * commitment loss."""

    def __init__(self, beta: float = 0.25) -> None:
        super().__init__()
        self.beta = beta
        self.embedding = nn.Embedding(K, D)
        self.embedding.weight.data.uniform_(-1.0 / K, 1.0 / K)

    def forward(self, z: torch.Tensor) -> tuple:
        zf = z.permute(0, 2, 3, 1).reshape(-1, D)
        idx = torch.cdist(zf, self.embedding.weight).argmin(1)
        zq = self.embedding(idx).view(z.shape[0], z.shape[2], z.shape[3], D).permute(0, 3, 1, 2)
        loss = F.mse_loss(zq, z.detach()) + self.beta * F.mse_loss(z, zq.detach())
        return z + (zq - z).detach(), loss, (None, None, idx)


class TamingVQGAN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.conv_in = nn.Conv2d(1, C, 3, 1, 1)
        self.encoder.conv_out = nn.Conv2d(C, C, 4, 2, 1)
        self.decoder = nn.Module()
        self.decoder.conv_in = nn.Conv2d(C, C, 3, 1, 1)
        self.decoder.conv_out = nn.ConvTranspose2d(C, 1, 4, 2, 1)
        self.loss = nn.Module()
        self.loss.logvar = nn.Parameter(torch.zeros(()))
        self.loss.discriminator = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1))
        self.quantize = TamingQuantizer()
        self.quant_conv = nn.Conv2d(C, D, 1)
        self.post_quant_conv = nn.Conv2d(D, C, 1)

    def encode_to_prequant(self, x: torch.Tensor) -> torch.Tensor:
        return self.quant_conv(self.encoder.conv_out(F.relu(self.encoder.conv_in(x))))

    def forward(self, x: torch.Tensor) -> tuple:
        quant, diff, _ = self.quantize(self.encode_to_prequant(x))
        return self.decoder.conv_out(F.relu(self.decoder.conv_in(self.post_quant_conv(quant)))), diff


def taming(collapsed: bool) -> nn.Module:
    """Codes placed on the probe's pre-quant vectors: all K (healthy) or 3, the rest left at init."""
    _seed(7)
    m = TamingVQGAN()
    with torch.no_grad():
        m.quant_conv.bias.add_(3.0)  # pre-quant vectors sit away from the init box around 0
        z = m.encode_to_prequant(torch.from_numpy(images(7))).permute(0, 2, 3, 1).reshape(-1, D)
        book = box_codebook(K, D, 0, 7)
        moved = K if not collapsed else 3
        book[:moved] = spread_codes(z, moved, 7)
        m.quantize.embedding.weight.copy_(book)
    return m


# --- 8 AntixK/PyTorch-VAE: VQVAE with vq_layer.embedding (experiment wraps it as `model`) ---------------


class AntixKQuantizer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(K, D)
        self.embedding.weight.data.uniform_(-1 / K, 1 / K)


class AntixKVQVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Sequential(nn.Conv2d(1, C, 3, 2, 1), nn.BatchNorm2d(C), nn.LeakyReLU()),
            nn.Sequential(nn.Conv2d(C, D, 3, 1, 1), nn.BatchNorm2d(D), nn.LeakyReLU()),
        )
        self.vq_layer = AntixKQuantizer()
        self.decoder = nn.Sequential(
            nn.Sequential(nn.ConvTranspose2d(D, C, 4, 2, 1), nn.BatchNorm2d(C), nn.LeakyReLU()),
            nn.Sequential(nn.Conv2d(C, 1, 3, 1, 1), nn.Tanh()),
        )


def antixk_vq(collapsed: bool) -> nn.Module:
    _seed(8)
    m = AntixKVQVAE()
    with torch.no_grad():
        m.vq_layer.embedding.weight.copy_(box_codebook(K, D, 2 if collapsed else K, 8))
    return m


# --- 9 MishaLaskin/vqvae: pre_quantization_conv + vector_quantization.embedding ----------------------


class MishaVQVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.conv_stack = nn.Sequential(nn.Conv2d(1, C, 4, 2, 1), nn.ReLU(), nn.Conv2d(C, C, 3, 1, 1))
        self.pre_quantization_conv = nn.Conv2d(C, D, 1)
        self.vector_quantization = nn.Module()
        self.vector_quantization.embedding = nn.Embedding(K, D)
        self.decoder = nn.Module()
        self.decoder.inverse_conv_stack = nn.Sequential(nn.ConvTranspose2d(D, C, 4, 2, 1), nn.ReLU())


def misha(collapsed: bool) -> nn.Module:
    _seed(9)
    m = MishaVQVAE()
    with torch.no_grad():
        m.vector_quantization.embedding.weight.copy_(box_codebook(K, D, 4 if collapsed else K, 9))
    return m


# --- 10 ritheshkumar95/pytorch-vqvae: a top-level `embedding` between encoder and decoder ------------


class RitheshAutoEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, D, 4, 2, 1), nn.ReLU(True), nn.Conv2d(D, D, 3, 1, 1))
        self.embedding = nn.Embedding(K, D)
        self.embedding.weight.data.copy_(1.0 / K * torch.randn(K, D))
        self.decoder = nn.Sequential(
            nn.Conv2d(D, D, 3, 1, 1), nn.ReLU(True), nn.ConvTranspose2d(D, 1, 4, 2, 1)
        )


def rithesh(collapsed: bool) -> nn.Module:
    _seed(10)
    m = RitheshAutoEncoder()
    with torch.no_grad():
        moved = 3 if collapsed else K
        m.embedding.weight[:moved] = torch.randn(moved, D)
    return m


# --- 11 karpathy/deep-vector-quantization: VQVAEQuantize (proj, embed, data_initialized), k-means init ---


class KarpathyQuantize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(C, D, 1)
        self.embed = nn.Embedding(K, D)
        self.register_buffer("data_initialized", torch.ones(1))


class KarpathyVQVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, C, 4, 2, 1), nn.ReLU())
        self.quantizer = KarpathyQuantize()
        self.decoder = nn.Sequential(nn.ConvTranspose2d(D, 1, 4, 2, 1))


def karpathy(collapsed: bool) -> nn.Module:
    """k-means-initialised codes: collapsed = every code collapsed onto one of two points."""
    _seed(11)
    m = KarpathyVQVAE()
    with torch.no_grad():
        book = torch.randn(K, D) * 2
        if collapsed:
            book = book[torch.arange(K) % 2] + 1e-7 * torch.randn(K, D)
        m.quantizer.embed.weight.copy_(book)
    return m


# --- 12 openai/jukebox: Bottleneck level_blocks with a `k` buffer [K, D] ------------------------------


class JukeboxBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("k", torch.zeros(K, D))

    def forward(self, x: torch.Tensor) -> tuple:
        flat = x.permute(0, 2, 1).reshape(-1, D)
        idx = torch.cdist(flat, self.k).argmin(1)
        return idx.view(x.shape[0], -1), self.k[idx].view(x.shape[0], -1, D).permute(0, 2, 1)


class JukeboxVQVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoders = nn.ModuleList([nn.Conv1d(1, D, 3, padding=1)])
        self.bottleneck = nn.Module()
        self.bottleneck.level_blocks = nn.ModuleList([JukeboxBlock()])
        self.decoders = nn.ModuleList([nn.Conv1d(D, 1, 3, padding=1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, xq = self.bottleneck.level_blocks[0](self.encoders[0](x))
        return self.decoders[0](xq)


def jukebox(collapsed: bool) -> nn.Module:
    """Dead codes are re-drawn from encoder outputs in jukebox, so the codebook itself never shows collapse:
    collapsed = two codes on the data, the rest far from it."""
    _seed(12)
    m = JukeboxVQVAE()
    with torch.no_grad():
        z = m.encoders[0](torch.from_numpy(sequences(12))).permute(0, 2, 1).reshape(-1, D)
        book = spread_codes(z, K, 12)
        if collapsed:
            book[2:] = torch.randn(K - 2, D) + 40.0
        m.bottleneck.level_blocks[0].k.copy_(book)
    return m


# --- 13 lucidrains/DALLE-pytorch: DiscreteVAE with codebook.weight and Gumbel logits -----------------


class DiscreteVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.codebook = nn.Embedding(K, D)
        self.encoder = nn.Sequential(nn.Conv2d(1, C, 4, 2, 1), nn.ReLU(), nn.Conv2d(C, K, 1))
        self.decoder = nn.Sequential(nn.ConvTranspose2d(D, C, 4, 2, 1), nn.ReLU(), nn.Conv2d(C, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.encoder(x)
        one_hot = F.gumbel_softmax(logits, tau=0.9, dim=1, hard=True)
        return self.decoder(torch.einsum("b n h w, n d -> b d h w", one_hot, self.codebook.weight))


def dalle(collapsed: bool) -> nn.Module:
    """Collapsed: every position picks code 0; healthy: logits of centred features, so the picks spread."""
    _seed(13)
    m = DiscreteVAE()
    with torch.no_grad():
        if collapsed:
            m.encoder[2].bias[0] = 50.0
        else:
            h = m.encoder[1](m.encoder[0](torch.from_numpy(images(13))))
            w = m.encoder[2].weight.view(K, C)
            m.encoder[2].bias.copy_(-(w @ h.mean(dim=(0, 2, 3))))
    return m


# --- posterior heads --------------------------------------------------------------------------------------


def pin_heads(*layers: nn.Module) -> None:
    """Collapse: head rows near zero and biases zero (mu ~ 0, logvar ~ 0 for every input)."""
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(1e-3)
            if layer.bias is not None:
                layer.bias.zero_()


# 14 AntixK/PyTorch-VAE VanillaVAE (experiment wraps it as `model`)
class VanillaVAE(nn.Module):
    def __init__(self, latent: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Sequential(nn.Conv2d(1, C, 3, 2, 1), nn.BatchNorm2d(C), nn.LeakyReLU()),
            nn.Sequential(nn.Conv2d(C, 2 * C, 3, 2, 1), nn.BatchNorm2d(2 * C), nn.LeakyReLU()),
        )
        self.fc_mu = nn.Linear(2 * C * 4, latent)
        self.fc_var = nn.Linear(2 * C * 4, latent)
        self.decoder_input = nn.Linear(latent, 2 * C * 4)
        self.decoder = nn.Sequential(
            nn.Sequential(nn.ConvTranspose2d(2 * C, C, 4, 2, 1), nn.BatchNorm2d(C), nn.LeakyReLU())
        )
        self.final_layer = nn.Sequential(nn.ConvTranspose2d(C, 1, 4, 2, 1), nn.Tanh())

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = torch.flatten(self.encoder(x), start_dim=1)
        return [self.fc_mu(h), self.fc_var(h)]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.decoder(self.decoder_input(z).view(-1, 2 * C, 2, 2)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        mu, log_var = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        return [self.decode(z), x, mu, log_var]


def antixk_vae(collapsed: bool) -> nn.Module:
    _seed(14)
    m = VanillaVAE()
    if collapsed:
        pin_heads(m.fc_mu, m.fc_var)
    return m


# 15 CompVis/latent-diffusion AutoencoderKL: quant_conv with 2 x embed_dim outputs (LightningModule)
class AutoencoderKL(nn.Module):
    def __init__(self, z: int = 4) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.conv_in = nn.Conv2d(1, C, 3, 1, 1)
        self.encoder.conv_out = nn.Conv2d(C, 2 * z, 4, 2, 1)
        self.decoder = nn.Module()
        self.decoder.conv_in = nn.Conv2d(z, C, 3, 1, 1)
        self.decoder.conv_out = nn.ConvTranspose2d(C, 1, 4, 2, 1)
        self.loss = nn.Module()
        self.loss.logvar = nn.Parameter(torch.zeros(()))
        self.quant_conv = nn.Conv2d(2 * z, 2 * z, 1)
        self.post_quant_conv = nn.Conv2d(z, z, 1)


def latent_kl(collapsed: bool) -> nn.Module:
    _seed(15)
    m = AutoencoderKL()
    if collapsed:
        pin_heads(m.quant_conv)
    return m


# 16 1Konny/Beta-VAE BetaVAE_H: the encoder's last Linear gives 2 x z_dim; saved under model_states.net
class View(nn.Module):
    def __init__(self, *size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*self.size)


class BetaVAEH(nn.Module):
    def __init__(self, z_dim: int = 6) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, C, 4, 2, 1), nn.ReLU(True), nn.Conv2d(C, 2 * C, 4, 2, 1), nn.ReLU(True),
            View(-1, 2 * C * 4), nn.Linear(2 * C * 4, 2 * z_dim),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 2 * C * 4),
            View(-1, 2 * C, 2, 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * C, 1, 4, 4),
        )


def beta_vae(collapsed: bool) -> nn.Module:
    _seed(16)
    m = BetaVAEH()
    if collapsed:
        pin_heads(m.encoder[5])
    return m


# 17 YannDubs/disentangling-vae: encoder.mu_logvar_gen with 2 x latent_dim outputs
class YannEncoder(nn.Module):
    def __init__(self, latent: int = 6) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, C, 4, 2, 1)
        self.lin1 = nn.Linear(C * 16, 32)
        self.mu_logvar_gen = nn.Linear(32, 2 * latent)

    def forward(self, x: torch.Tensor) -> tuple:
        h = torch.relu(self.lin1(torch.relu(self.conv1(x)).flatten(1)))
        # The project interleaves mean and log-variance in the 2 x Z outputs.
        return self.mu_logvar_gen(h).view(len(h), -1, 2).unbind(-1)


class YannVAE(nn.Module):
    def __init__(self, latent: int = 6) -> None:
        super().__init__()
        self.encoder = YannEncoder(latent)
        self.decoder = nn.Module()
        self.decoder.lin1 = nn.Linear(latent, 32)
        self.decoder.lin2 = nn.Linear(32, IMG * IMG)

    def forward(self, x: torch.Tensor) -> tuple:
        mu, logvar = self.encoder(x)
        return self.decoder.lin2(torch.relu(self.decoder.lin1(mu))).view_as(x), mu, logvar


def yann(collapsed: bool) -> nn.Module:
    _seed(17)
    m = YannVAE()
    if collapsed:
        pin_heads(m.encoder.mu_logvar_gen)
    return m


# 18 Lightning-Universe/lightning-bolts VAE: a LightningModule with encoder, fc_mu, fc_var, decoder
class BoltsVAE(nn.Module):
    def __init__(self, latent: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.conv1 = nn.Conv2d(1, C, 3, 2, 1)
        self.encoder.bn1 = nn.BatchNorm2d(C)
        self.fc_mu = nn.Linear(C, latent)
        self.fc_var = nn.Linear(C, latent)
        self.decoder = nn.Module()
        self.decoder.linear = nn.Linear(latent, C * 16)
        self.decoder.conv1 = nn.Conv2d(C, 1, 3, 1, 1)


def bolts(collapsed: bool) -> nn.Module:
    _seed(18)
    m = BoltsVAE()
    if collapsed:
        pin_heads(m.fc_mu, m.fc_var)
    return m


# --- MLP VAEs built to encode the data's factors exactly ------------------------------------------------


def _pairs(m: np.ndarray) -> np.ndarray:
    """[M; -M]: ReLU (or GELU) of it keeps the sign pairs from which [I, -I] recovers M x exactly."""
    return np.concatenate([m, -m])


def _unpair(n: int) -> np.ndarray:
    return np.concatenate([np.eye(n), -np.eye(n)], axis=1)


def _set(layer: nn.Linear, weight: np.ndarray, bias: np.ndarray | float = 0.0) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        layer.bias.copy_(torch.as_tensor(np.full(layer.bias.shape, 0.0) + bias, dtype=torch.float32))


# 19 pytorch/examples vae/main.py: fc1, fc21 (mean), fc22 (log-variance), fc3, fc4
class ExamplesVAE(nn.Module):
    def __init__(self, latent: int = FACTORS) -> None:
        super().__init__()
        h = 2 * FACTORS
        self.fc1 = nn.Linear(FEATURES, h)
        self.fc21 = nn.Linear(h, latent)
        self.fc22 = nn.Linear(h, latent)
        self.fc3 = nn.Linear(latent, h)
        self.fc4 = nn.Linear(h, FEATURES)

    def encode(self, x: torch.Tensor) -> tuple:
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc4(F.relu(self.fc3(z)))

    def forward(self, x: torch.Tensor) -> tuple:
        mu, logvar = self.encode(x.view(-1, FEATURES))
        return self.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)), mu, logvar


def examples_vae(collapsed: bool, latent: int = FACTORS) -> nn.Module:
    """Healthy: mu = the data's FACTORS factors (extra latents pinned to the prior), decoder A z."""
    _seed(19)
    m = ExamplesVAE(latent)
    _, a = factor_data()
    recover = np.linalg.pinv(a)  # [FACTORS, FEATURES]
    mu = np.zeros((latent, 2 * FACTORS))
    mu[:FACTORS] = _unpair(FACTORS)
    dec = np.zeros((2 * FACTORS, latent))
    dec[:, :FACTORS] = _pairs(np.eye(FACTORS))
    lv_bias = np.zeros(latent)
    lv_bias[:FACTORS] = -4.0
    _set(m.fc1, _pairs(recover))
    _set(m.fc21, mu)
    _set(m.fc22, np.zeros((latent, 2 * FACTORS)), lv_bias)
    _set(m.fc3, dec)
    _set(m.fc4, a @ _unpair(FACTORS))
    if collapsed:
        pin_heads(m.fc21, m.fc22)
    return m


def examples_vae_spare(collapsed: bool) -> nn.Module:
    """16 latents on data with 6 factors: 6 active, 10 spare (healthy, said as a warning with the count)."""
    return examples_vae(collapsed, latent=16)


# 20 hamzaamrani/vae-pl-ecg: VAE_trainer(LightningModule).vae with fc1..3, fc_mu, fc_logvar, fc4..6, log_scale
class EcgVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        h = 2 * FACTORS
        self.fc1, self.fc2, self.fc3 = nn.Linear(FEATURES, h), nn.Linear(h, h), nn.Linear(h, h)
        self.fc_mu, self.fc_logvar = nn.Linear(h, FACTORS), nn.Linear(h, FACTORS)
        self.fc4, self.fc5, self.fc6 = nn.Linear(FACTORS, h), nn.Linear(h, h), nn.Linear(h, FEATURES)
        self.log_scale = nn.Parameter(torch.Tensor([0.0]))


def ecg_vae(collapsed: bool) -> nn.Module:
    _seed(20)
    m = EcgVAE()
    _, a = factor_data()
    keep = _pairs(_unpair(FACTORS))  # [s; -s] pairs through another ReLU / GELU layer
    _set(m.fc1, _pairs(np.linalg.pinv(a)))
    _set(m.fc2, keep)
    _set(m.fc3, keep)
    _set(m.fc_mu, _unpair(FACTORS))
    _set(m.fc_logvar, np.zeros((FACTORS, 2 * FACTORS)), -4.0)
    _set(m.fc4, _pairs(np.eye(FACTORS)))
    _set(m.fc5, keep)
    _set(m.fc6, a @ _unpair(FACTORS))
    if collapsed:
        pin_heads(m.fc_mu, m.fc_logvar)
    return m


# 22 clementchadebec/benchmark_VAE (pythae) Encoder_VAE_MLP / Decoder_AE_MLP: encoder.layers.0.0,
# encoder.embedding (the mean) beside encoder.log_var, decoder.layers.N.0; saved as model.pt with
# model_state_dict, model_config.json beside
class PythaeVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        h = 2 * FACTORS
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList([nn.Sequential(nn.Linear(FEATURES, h), nn.ReLU())])
        self.encoder.embedding, self.encoder.log_var = nn.Linear(h, FACTORS), nn.Linear(h, FACTORS)
        self.decoder = nn.Module()
        # The project ends with a Sigmoid for pixels; these factor data are not pixels.
        self.decoder.layers = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(FACTORS, h), nn.ReLU()),
                nn.Sequential(nn.Linear(h, FEATURES)),
            ]
        )


def pythae_vae(collapsed: bool) -> nn.Module:
    _seed(22)
    m = PythaeVAE()
    _, a = factor_data()
    _set(m.encoder.layers[0][0], _pairs(np.linalg.pinv(a)))
    _set(m.encoder.embedding, _unpair(FACTORS))
    _set(m.encoder.log_var, np.zeros((FACTORS, 2 * FACTORS)), -4.0)
    _set(m.decoder.layers[0][0], _pairs(np.eye(FACTORS)))
    _set(m.decoder.layers[1][0], a @ _unpair(FACTORS))
    if collapsed:
        pin_heads(m.encoder.embedding, m.encoder.log_var)
    return m


LADDER_TOP = 3


# 23 pythae Encoder_LadderVAE_MLP / Decoder_LadderVAE_MLP: per level `layers.i`, `mu_s.i`, `log_var_s.i`
# module lists (each level reads the mean of the one below); the decoder's own `mu_s` / `log_var_s` are the
# top-down priors, merged with the encoder's by precision
class PythaeLadder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        h = 2 * FACTORS
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(
            [
                nn.Sequential(nn.Linear(FEATURES, h), nn.ReLU()),
                nn.Sequential(nn.Linear(FACTORS, h), nn.ReLU()),
            ]
        )
        self.encoder.mu_s = nn.ModuleList([nn.Linear(h, FACTORS), nn.Linear(h, LADDER_TOP)])
        self.encoder.log_var_s = nn.ModuleList([nn.Linear(h, FACTORS), nn.Linear(h, LADDER_TOP)])
        self.decoder = nn.Module()
        self.decoder.layers = nn.ModuleList(
            # The project ends with a Sigmoid for pixels; these factor data are not pixels.
            [nn.Sequential(nn.Linear(LADDER_TOP, h), nn.ReLU()), nn.Sequential(nn.Linear(FACTORS, FEATURES))]
        )
        self.decoder.mu_s = nn.ModuleList([nn.Linear(h, FACTORS)])
        self.decoder.log_var_s = nn.ModuleList([nn.Linear(h, FACTORS)])

    def forward(self, x: torch.Tensor) -> tuple:
        out, levels = x.reshape(len(x), -1), []
        for layer, mu_head, log_var_head in zip(
            self.encoder.layers, self.encoder.mu_s, self.encoder.log_var_s, strict=True
        ):
            hidden = layer(out)
            out = mu_head(hidden)
            levels.append((out, log_var_head(hidden)))
        (mu_q, lv_q), (top, _) = levels
        h = self.decoder.layers[0](top)
        mu_p, lv_p = self.decoder.mu_s[0](h), self.decoder.log_var_s[0](h)
        precision_q, precision_p = (-lv_q).exp(), (-lv_p).exp()
        z0 = (mu_q * precision_q + mu_p * precision_p) / (precision_q + precision_p)
        return self.decoder.layers[1](z0), top


def pythae_ladder(collapsed: bool) -> nn.Module:
    """Healthy: level 0 recovers the data's factors, the top level reads the first LADDER_TOP of them; the
    encoder's level-0 posterior is sharp, so the merge keeps it. Collapsed: the top level's heads pinned."""
    _seed(23)
    m = PythaeLadder()
    _, a = factor_data()
    _set(m.encoder.layers[0][0], _pairs(np.linalg.pinv(a)))
    _set(m.encoder.mu_s[0], _unpair(FACTORS))
    _set(m.encoder.log_var_s[0], np.zeros((FACTORS, 2 * FACTORS)), -8.0)
    _set(m.encoder.layers[1][0], _pairs(np.eye(FACTORS)))
    _set(m.encoder.mu_s[1], _unpair(FACTORS)[:LADDER_TOP])
    _set(m.encoder.log_var_s[1], np.zeros((LADDER_TOP, 2 * FACTORS)), -4.0)
    _set(m.decoder.log_var_s[0], np.zeros((FACTORS, 2 * FACTORS)), 4.0)
    _set(m.decoder.layers[1][0], a)
    if collapsed:
        pin_heads(m.encoder.mu_s[1], m.encoder.log_var_s[1])
    return m


# --- vector fields --------------------------------------------------------------------------------------

FIELD_D, FIELD_A = 12, 3


# 21 atong01/conditional-flow-matching torchcfm MLP: net.0 Linear(dim + cond, w) ... net.6 Linear(w, dim)
class CfmMLP(nn.Module):
    def __init__(self, w: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(FIELD_D + FIELD_A, w), nn.SELU(), nn.Linear(w, w), nn.SELU(), nn.Linear(w, w), nn.SELU(),
            nn.Linear(w, FIELD_D),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def cfm(collapsed: bool) -> nn.Module:
    """Collapsed: v ignores z and pushes hard along a direction set by the target (prototypes)."""
    _seed(21)
    m = CfmMLP()
    with torch.no_grad():
        if collapsed:
            m.net[0].weight[:, :FIELD_D] = 0.0
            m.net[6].weight.mul_(200.0)
            m.net[6].bias.zero_()
        else:
            m.net[6].weight.mul_(0.1)
            m.net[6].bias.zero_()
    return m


def field_probe(seed: int = 0, n: int = 120) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, FIELD_D)).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return {"embeddings": z, "attributes": rng.integers(0, 2, size=(n, FIELD_A)).astype(np.int8)}


# --- builders for --builder (the user's own class, weights from the loaded checkpoint) -----------------


def _loaded_into(module: nn.Module, loaded: object) -> nn.Module:
    module.load_state_dict(loaded.state_dict)  # type: ignore[attr-defined]
    return module


def build_taming(loaded: object) -> nn.Module:
    return _loaded_into(TamingVQGAN(), loaded)


def build_dalle(loaded: object) -> nn.Module:
    return _loaded_into(DiscreteVAE(), loaded)


def build_jukebox(loaded: object) -> nn.Module:
    return _loaded_into(JukeboxVQVAE(), loaded)


def build_antixk_vae(loaded: object) -> nn.Module:
    return _loaded_into(VanillaVAE(), loaded)


def build_yann(loaded: object) -> nn.Module:
    return _loaded_into(YannVAE(), loaded)


def build_examples_vae(loaded: object) -> nn.Module:
    latent = loaded.state_dict["fc21.weight"].shape[0]  # type: ignore[attr-defined]
    return _loaded_into(ExamplesVAE(latent), loaded)


def build_cfm(loaded: object) -> nn.Module:
    return _loaded_into(CfmMLP(), loaded)


def build_rosinality(loaded: object) -> nn.Module:
    return _loaded_into(RosVQVAE2(), loaded)


def build_pythae_ladder(loaded: object) -> nn.Module:
    return _loaded_into(PythaeLadder(), loaded)


# --- how each project saves ------------------------------------------------------------------------------

Saver = Callable[[nn.Module, Path], Path]


def bare(name: str, wrap: str = "") -> Saver:
    def save(m: nn.Module, folder: Path) -> Path:
        path = folder / name
        torch.save({f"{wrap}{k}": v for k, v in m.state_dict().items()}, path)
        return path

    return save


def under(name: str, key: str, wrap: str = "", **extra: object) -> Saver:
    def save(m: nn.Module, folder: Path) -> Path:
        path = folder / name
        torch.save({key: {f"{wrap}{k}": v for k, v in m.state_dict().items()}, **extra}, path)
        return path

    return save


def as_lightning(name: str, prefix: str = "", **hyper: object) -> Saver:
    def save(m: nn.Module, folder: Path) -> Path:
        path = folder / name
        torch.save(lightning(m.state_dict(), prefix, **hyper), path)
        return path

    return save


def beta_vae_save(m: nn.Module, folder: Path) -> Path:
    path = folder / "last"
    opt = torch.optim.Adam(m.parameters())
    states = {
        "iter": 1000,
        "win_states": {"recon": None},
        "model_states": {"net": m.state_dict()},
        "optim_states": {"optim": opt.state_dict()},
    }
    torch.save(states, path.with_suffix(".pt"))
    return path.with_suffix(".pt")


def pythae_save(m: nn.Module, folder: Path) -> Path:
    path = folder / "model.pt"
    torch.save({"model_state_dict": m.state_dict()}, path)
    (folder / "model_config.json").write_text(
        f'{{"name": "VAEConfig", "input_dim": [{FEATURES}], "latent_dim": {FACTORS}}}'
    )
    return path


def yann_save(m: nn.Module, folder: Path) -> Path:
    path = folder / "model.pt"
    torch.save(m.state_dict(), path)
    (folder / "specs.json").write_text('{"latent_dim": 6, "model_type": "Burgess"}')
    return path


# --- the corpus -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One public project's layout: how to build it (collapsed or healthy) and save it, and the verdicts.

    verdicts: (collapsed, healthy) severities of the file's main finding with no probe data beside it
    (weights alone) or, when `probe` writes one, with that probe. `builder` names a function of this
    module for --builder runs on probe x.
    """

    project: str
    source: str
    layout: str
    build: Callable[[bool], nn.Module]
    save: Saver
    adapter: str
    verdicts: tuple[str, str]
    probe: Callable[[], dict[str, np.ndarray]] | None = None
    builder: str | None = None
    data_verdicts: tuple[str, str] | None = None
    builder_probe: Callable[[], dict[str, np.ndarray]] | None = field(default=None)


def _x(array: Callable[[], np.ndarray]) -> Callable[[], dict[str, np.ndarray]]:
    return lambda: {"x": array()}


def _factors() -> dict[str, np.ndarray]:
    return {"x": factor_data()[0]}


CORPUS: tuple[Entry, ...] = (
    Entry("zalandoresearch/pytorch-vq-vae", "vq-vae.ipynb", "VectorQuantizerEMA: _vq_vae._embedding.weight [K, D] + "
          "_ema_cluster_size + _ema_w; bare state dict", zalando, bare("vqvae.pt"), "vq_ema", ("collapse", "ok")),
    Entry("rosinality/vq-vae-2-pytorch", "vqvae.py", "two levels quantize_t / quantize_b: embed [D, K] + cluster_size "
          "+ embed_avg; bare state dict", rosinality, bare("vqvae_560.pt"), "vq_transposed", ("collapse", "ok"),
          builder="build_rosinality", builder_probe=_x(images), data_verdicts=(None, None)),
    Entry("lucidrains/vector-quantize-pytorch", "vector_quantize_pytorch/vector_quantize_pytorch.py",
          "VectorQuantize heads=2: vq._codebook.embed [H, K, D] + cluster_size [H, K] + initted; model_state_dict "
          "with torch.compile's _orig_mod.", lucid_heads, under("ckpt.pt", "model_state_dict", "_orig_mod."),
          "vq_multihead", ("collapse", "ok")),
    Entry("lucidrains/vector-quantize-pytorch", "vector_quantize_pytorch/residual_vq.py", "ResidualVQ: "
          "rvq.layers.N._codebook.embed [1, K, D]; DDP module. prefix, bare", lucid_residual,
          bare("rvq.pt", "module."), "vq_multihead", ("collapse", "ok")),
    Entry("facebookresearch/encodec", "encodec/quantization/core_vq.py", "quantizer.vq.layers.N._codebook.embed "
          "[K, D] + cluster_size [K] + inited; dict with state_dict", encodec, under("encodec.th", "state_dict"),
          "vq_multihead", ("collapse", "ok")),
    Entry("nadavbh12/VQ-VAE", "vq_vae/nearest_embed.py", "NearestEmbedEMA: emb.weight buffer [D, K] + cluster_size + "
          "embed_avg; bare", nadav, bare("model_10.pth"), "vq_transposed", ("collapse", "ok")),
    Entry("CompVis/taming-transformers", "taming/modules/vqvae/quantize.py", "VQModel: quantize.embedding.weight "
          "[K, D] (uniform +-1/K init, no EMA), quant_conv / post_quant_conv, loss.logvar; Lightning, no prefix",
          taming, as_lightning("last.ckpt", n_embed=K, embed_dim=D), "vq_embedding", ("collapse", "undefined"),
          builder="build_taming", builder_probe=_x(images), data_verdicts=("collapse", "ok")),
    Entry("AntixK/PyTorch-VAE", "models/vq_vae.py", "VQVAE: vq_layer.embedding.weight [K, D]; Lightning experiment "
          "with a model. prefix", antixk_vq, as_lightning("vqvae.ckpt", "model."), "vq_embedding",
          ("collapse", "undefined")),
    Entry("MishaLaskin/vqvae", "models/vqvae.py, utils.py", "pre_quantization_conv + vector_quantization.embedding; "
          "{'model', 'results', 'hyperparameters'}", misha,
          under("vqvae_data.pth", "model", results={"loss_vals": [1.0, 0.5]}, hyperparameters={"n_embeddings": K}),
          "vq_embedding", ("collapse", "undefined")),
    Entry("ritheshkumar95/pytorch-vqvae", "modules.py", "AutoEncoder: a top-level embedding.weight [K, D] between "
          "encoder and decoder (N(0, 1/K^2) init); bare", rithesh, bare("best.pt"), "vq_embedding",
          ("collapse", "undefined")),
    Entry("karpathy/deep-vector-quantization", "dvq/model/quantize.py", "VQVAEQuantize: quantizer.proj + "
          "quantizer.embed.weight (k-means init) + data_initialized; Lightning, no prefix", karpathy,
          as_lightning("epoch=9.ckpt"), "vq_embedding", ("collapse", "undefined")),
    Entry("openai/jukebox", "jukebox/vqvae/bottleneck.py", "bottleneck.level_blocks.N.k [K, D] only (dead codes "
          "re-drawn from data: the weights cannot show usage); dict with model", jukebox,
          under("checkpoint_latest.pth.tar", "model", step=100), "vq_embedding", ("undefined", "undefined"),
          builder="build_jukebox", builder_probe=_x(sequences), data_verdicts=("collapse", "ok")),
    Entry("lucidrains/DALLE-pytorch", "dalle_pytorch/dalle_pytorch.py (DiscreteVAE), train_vae.py",
          "codebook.weight [K, D] with Gumbel logits from the encoder; {'hparams', 'weights'}", dalle,
          under("vae.pt", "weights", hparams={"num_tokens": K, "codebook_dim": D}), "vq_embedding",
          ("undefined", "undefined"), builder="build_dalle", builder_probe=_x(images),
          data_verdicts=("collapse", "ok")),
    Entry("AntixK/PyTorch-VAE", "models/vanilla_vae.py", "VanillaVAE: conv encoder, fc_mu / fc_var, decoder_input, "
          "conv decoder; Lightning experiment with a model. prefix", antixk_vae,
          as_lightning("VanillaVAE.ckpt", "model."), "vae_heads", ("collapse", "undefined"),
          builder="build_antixk_vae", builder_probe=_x(images), data_verdicts=("collapse", None)),
    Entry("CompVis/latent-diffusion", "ldm/models/autoencoder.py", "AutoencoderKL: quant_conv [2E, 2z, 1, 1] "
          "moments, post_quant_conv; Lightning, no prefix", latent_kl, as_lightning("kl-f8.ckpt", embed_dim=4),
          "vae_heads", ("collapse", "undefined")),
    Entry("1Konny/Beta-VAE", "model.py", "BetaVAE_H: the encoder's last Linear gives 2 x z_dim; saved as "
          "{'iter', 'model_states': {'net'}, 'optim_states'}", beta_vae, beta_vae_save, "vae_heads",
          ("collapse", "undefined")),
    Entry("YannDubs/disentangling-vae", "disvae/models/encoders.py", "encoder.mu_logvar_gen [2Z, H]; model.pt "
          "(bare) + specs.json", yann, yann_save, "vae_heads", ("collapse", "undefined"), builder="build_yann",
          builder_probe=_x(images), data_verdicts=("collapse", None)),
    Entry("Lightning-Universe/lightning-bolts", "src/pl_bolts/models/autoencoders/basic_vae/basic_vae_module.py",
          "VAE(LightningModule): encoder, fc_mu / fc_var, decoder.linear; Lightning, no prefix", bolts,
          as_lightning("epoch=89.ckpt", latent_dim=8, enc_out_dim=C), "vae_heads", ("collapse", "undefined")),
    Entry("pytorch/examples", "vae/main.py", "fc1, fc21 / fc22 (twin heads), fc3, fc4; bare; probe x beside",
          examples_vae, bare("vae.pt"), "vae_mu_logvar", ("collapse", "ok"), probe=_factors,
          builder="build_examples_vae", builder_probe=_factors, data_verdicts=("collapse", "ok")),
    Entry("pytorch/examples", "vae/main.py", "the same with 16 latents on data with 6 factors (10 spare)",
          examples_vae_spare, bare("vae16.pt"), "vae_mu_logvar", ("collapse", "warning"), probe=_factors),
    Entry("hamzaamrani/vae-pl-ecg", "models/vae.py", "VAE_trainer.vae: fc1..fc3, fc_mu / fc_logvar, fc4..fc6, "
          "log_scale; Lightning with a vae. prefix; probe x beside", ecg_vae,
          as_lightning("ecg.ckpt", "vae.", config={"input_dim": FEATURES, "latent_dim": FACTORS}), "vae_fc_mu",
          ("collapse", "ok"), probe=_factors),
    Entry("clementchadebec/benchmark_VAE", "src/pythae/models/nn/default_architectures.py", "pythae VAE: "
          "encoder.embedding (the mean) / encoder.log_var, encoder.layers.0.0, decoder.layers.N.0; model.pt with "
          "model_state_dict + model_config.json; probe x beside", pythae_vae, pythae_save, "vae_mu_logvar",
          ("collapse", "ok"), probe=_factors),
    Entry("clementchadebec/benchmark_VAE", "src/pythae/models/nn/default_architectures.py", "pythae LadderVAE: "
          "encoder.mu_s.i / encoder.log_var_s.i per level (module lists), decoder.mu_s / log_var_s top-down priors; "
          "the top level collapsed", pythae_ladder, pythae_save, "vae_heads", ("collapse", "undefined"),
          builder="build_pythae_ladder", builder_probe=_factors, data_verdicts=("collapse", "ok")),
    Entry("atong01/conditional-flow-matching", "torchcfm/models/models.py", "MLP net.0 Linear(D + A, w) ... net.6 "
          "Linear(w, D), SELU; dict with model and config; probe embeddings + attributes beside", cfm,
          under("cfm.pt", "model", config={"activation": "selu"}), "fclf_mlp", ("collapse", "ok"),
          probe=field_probe, builder="build_cfm", builder_probe=field_probe, data_verdicts=("collapse", "ok")),
)  # fmt: skip
