"""Round-3 corpus layouts: models whose first inputs are not all there is (see test_real3.py).

Each module is written here from the names and shapes its project's module definition gives (no code
carried over), at a tiny size, and made collapsed or healthy by construction.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tests.corpus.layouts import pin_heads

VOCAB, EMB, SEQ = 12, 16, 6
BOS, EOS = 1, 2
ROWS = 120


def _seed(seed: int) -> None:
    torch.manual_seed(seed)


def _loaded_into(module: nn.Module, loaded: object) -> nn.Module:
    module.load_state_dict(loaded.state_dict)  # type: ignore[attr-defined]
    return module


# --- pytorch/tutorials translation_transformer.py: Seq2SeqTransformer ------------------------------------


class TokenEmbedding(nn.Module):
    def __init__(self, vocab: int, size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, size)
        self.size = size

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embedding(tokens.long()) * math.sqrt(self.size)


class PositionalEncoding(nn.Module):
    def __init__(self, size: int, maxlen: int = 64) -> None:
        super().__init__()
        pos = torch.arange(maxlen).unsqueeze(1)
        rate = torch.exp(-torch.arange(0, size, 2) * math.log(10000.0) / size)
        table = torch.zeros(maxlen, size)
        table[:, 0::2], table[:, 1::2] = torch.sin(pos * rate), torch.cos(pos * rate)
        self.register_buffer("pos_embedding", table.unsqueeze(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos_embedding[:, : x.shape[1]]


class Seq2SeqTransformer(nn.Module):
    """forward(src [N, S], tgt [N, T]) -> logits [N, T, V] (batch first)."""

    def __init__(self) -> None:
        super().__init__()
        self.transformer = nn.Transformer(
            d_model=EMB, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32,
            dropout=0.0, batch_first=True,
        )  # fmt: skip
        self.generator = nn.Linear(EMB, VOCAB)
        self.src_tok_emb = TokenEmbedding(VOCAB, EMB)
        self.tgt_tok_emb = TokenEmbedding(VOCAB, EMB)
        self.positional_encoding = PositionalEncoding(EMB)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        mask = self.transformer.generate_square_subsequent_mask(tgt.shape[1]).to(tgt.device)
        memory_in = self.positional_encoding(self.src_tok_emb(src))
        target_in = self.positional_encoding(self.tgt_tok_emb(tgt))
        return self.generator(self.transformer(memory_in, target_in, tgt_mask=mask))


def seq2seq(collapsed: bool) -> nn.Module:
    """Healthy: the decoder reads the source (cross-attention's output projection scaled up, its
    self-attention and the target embeddings silenced, the source embeddings enlarged), so greedy outputs
    follow the input. Collapsed: the generator's bias on one token dwarfs everything (one sentence for
    every input)."""
    _seed(0)
    model = Seq2SeqTransformer()
    with torch.no_grad():
        model.generator.bias.zero_()
        if collapsed:
            model.generator.bias[5] = 50.0
        else:
            layer = model.transformer.decoder.layers[0]
            layer.multihead_attn.out_proj.weight.mul_(20.0)
            layer.self_attn.out_proj.weight.zero_()
            model.src_tok_emb.embedding.weight.mul_(5.0)
            model.tgt_tok_emb.embedding.weight.zero_()
    return model.eval()


def token_ids(seed: int = 0, n: int = ROWS) -> np.ndarray:
    """Source sentences [n, SEQ]: BOS, four content tokens (3..VOCAB-1), EOS."""
    rng = np.random.default_rng(seed)
    body = rng.integers(3, VOCAB, size=(n, SEQ - 2))
    return np.concatenate([np.full((n, 1), BOS), body, np.full((n, 1), EOS)], axis=1).astype(np.int64)


def build_seq2seq(loaded: object) -> nn.Module:
    return _loaded_into(Seq2SeqTransformer(), loaded)


# --- timbmg/VAE-CVAE-MNIST models.py: a conditional VAE, forward(x, c) -----------------------------------

CVAE_IN, CVAE_Z, LABELS = 16, 4, 5


class ConditionalVAE(nn.Module):
    """Encoder MLP on [x, label embedding] with linear_means / linear_log_var; decoder on [z, label]."""

    def __init__(self) -> None:
        super().__init__()
        self.label_table = nn.Embedding(LABELS, 3)
        self.encoder = nn.Sequential(nn.Linear(CVAE_IN + 3, 32), nn.ReLU())
        self.linear_means = nn.Linear(32, CVAE_Z)
        self.linear_log_var = nn.Linear(32, CVAE_Z)
        self.decoder = nn.Sequential(nn.Linear(CVAE_Z + 3, 32), nn.ReLU(), nn.Linear(32, CVAE_IN))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple:
        label = self.label_table(c.long())
        h = self.encoder(torch.cat([x, label], dim=-1))
        means, log_var = self.linear_means(h), self.linear_log_var(h)
        z = means + torch.exp(0.5 * log_var) * torch.randn_like(means)
        return self.decoder(torch.cat([z, label], dim=-1)), means, log_var, z


def cvae(collapsed: bool) -> nn.Module:
    _seed(1)
    model = ConditionalVAE()
    if collapsed:
        pin_heads(model.linear_means, model.linear_log_var)
    else:
        with torch.no_grad():
            model.linear_means.weight.mul_(6.0)
            model.linear_log_var.weight.mul_(0.1)
            model.linear_log_var.bias.fill_(-3.0)
            model.decoder[0].weight.mul_(6.0)
    return model


def cvae_probe(seed: int = 0, n: int = ROWS) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(n, CVAE_IN)).astype(np.float32), "c": rng.integers(0, LABELS, size=n)}


def build_cvae(loaded: object) -> nn.Module:
    return _loaded_into(ConditionalVAE(), loaded)


# --- a variance head changed in place: `var = self.var(h).exp_()` -------------------------------------------


class InPlaceVarVAE(nn.Module):
    """Heads `mean` / `var`; the forward exponentiates the variance head's output in place and samples
    z = mu + sqrt(var) eps (so the head holds a log-variance)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(CVAE_IN, 32)
        self.mean = nn.Linear(32, CVAE_Z)
        self.var = nn.Linear(32, CVAE_Z)
        self.fc_dec = nn.Linear(CVAE_Z, CVAE_IN)

    def forward(self, x: torch.Tensor) -> tuple:
        h = torch.relu(self.body(x))
        mu = self.mean(h)
        var = self.var(h).exp_()
        z = mu + var.sqrt() * torch.randn_like(mu)
        return self.fc_dec(z), mu, var


class LogStdVAE(InPlaceVarVAE):
    """The same heads, but the forward samples z = mu + exp(h) eps: `var` holds a log-std."""

    def forward(self, x: torch.Tensor) -> tuple:
        h = torch.relu(self.body(x))
        mu, raw = self.mean(h), self.var(h)
        z = mu + torch.exp(raw) * torch.randn_like(mu)
        return self.fc_dec(z), mu, raw, z


def variance_vae(kind: type[nn.Module]) -> nn.Module:
    _seed(2)
    model = kind()
    with torch.no_grad():
        model.mean.weight.mul_(4.0)
        model.var.bias.fill_(-2.0)  # h about -2: exp(h) and exp(h / 2) differ by a factor e
    return model


# --- yjlolo/vae-audio base/base_model.py: a GM-VAE with mu_lookup / logvar_lookup tables -------------------

GM_Z, GM_K = 6, 4


class GMVAE(nn.Module):
    """Encoder heads `fc_mu` / `fc_logvar` and a learned mixture prior: nn.Embedding tables
    `mu_lookup` / `logvar_lookup` [K, Z] (the lookups are the prior, not a second level of heads)."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(CVAE_IN, 32)
        self.fc_mu = nn.Linear(32, GM_Z)
        self.fc_logvar = nn.Linear(32, GM_Z)
        self.dec = nn.Sequential(nn.Linear(GM_Z, 32), nn.ReLU(), nn.Linear(32, CVAE_IN))
        self.mu_lookup = nn.Embedding(GM_K, GM_Z)
        self.logvar_lookup = nn.Embedding(GM_K, GM_Z)

    def forward(self, x: torch.Tensor) -> tuple:
        h = torch.relu(self.enc(x))
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        # q(y|z) over the components: each lookup called with a single index (1-D outputs)
        scores = torch.stack(
            [-((z - self.mu_lookup(torch.tensor(k))) ** 2).sum(-1) for k in range(GM_K)], dim=-1
        )
        _ = self.logvar_lookup(torch.tensor(0))
        return self.dec(z), mu, logvar, z, scores.softmax(-1)


def gmvae(collapsed: bool) -> nn.Module:
    """Healthy: a prior of small components (std 0.01, means within +-0.05) and means that move by
    about 0.05 with the input: under the N(0, 1) rule's 0.01 threshold, well above the prior's own spread.
    Collapsed: heads pinned (mu constant)."""
    _seed(3)
    model = GMVAE()
    with torch.no_grad():
        model.mu_lookup.weight.uniform_(-0.05, 0.05)
        model.logvar_lookup.weight.fill_(math.log(0.01**2))
        model.fc_logvar.weight.mul_(0.01)
        model.fc_logvar.bias.fill_(math.log(0.01**2))
        if collapsed:
            pin_heads(model.fc_mu)
        else:
            model.fc_mu.weight.mul_(0.25)
            model.dec[0].weight.mul_(200.0)
    return model


def build_gmvae(loaded: object) -> nn.Module:
    return _loaded_into(GMVAE(), loaded)


# --- a conv VAE with a spatial latent 8 x 4 x 4 (conv mean / log-variance heads) -------------------------


class ConvSpatialVAE(nn.Module):
    """Encoder convs to 4 x 4, heads `conv_mu` / `conv_logvar` Conv2d(16 -> 8), decoder from 8 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU())
        self.conv_mu = nn.Conv2d(16, 8, 3, 1, 1)
        self.conv_logvar = nn.Conv2d(16, 8, 3, 1, 1)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(8, 1, 4, 2, 1))

    def forward(self, x: torch.Tensor) -> tuple:
        h = self.encoder(x)
        mu, logvar = self.conv_mu(h), self.conv_logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decoder(z), mu, logvar


def conv_vae(collapsed: bool) -> nn.Module:
    _seed(4)
    model = ConvSpatialVAE()
    with torch.no_grad():
        if collapsed:
            pin_heads(model.conv_mu, model.conv_logvar)
        else:
            model.conv_mu.weight.mul_(3.0)
    return model


def conv_images(seed: int = 0, n: int = ROWS) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 1, 8, 8)).astype(np.float32)


def build_conv_vae(loaded: object) -> nn.Module:
    return _loaded_into(ConvSpatialVAE(), loaded)


# --- twin heads with short names: fcm / fcs -------------------------------------------------------------


class ShortTwinVAE(nn.Module):
    """fc1, twin heads `fcm` / `fcs` (mean and log-variance), decoder fc3 / fc4."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(CVAE_IN, 32)
        self.fcm = nn.Linear(32, CVAE_Z)
        self.fcs = nn.Linear(32, CVAE_Z)
        self.fc3 = nn.Linear(CVAE_Z, 32)
        self.fc4 = nn.Linear(32, CVAE_IN)

    def forward(self, x: torch.Tensor) -> tuple:
        h = torch.relu(self.fc1(x))
        mu, logvar = self.fcm(h), self.fcs(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.fc4(torch.relu(self.fc3(z))), mu, logvar


def short_twin(collapsed: bool) -> nn.Module:
    _seed(5)
    model = ShortTwinVAE()
    if collapsed:
        pin_heads(model.fcm, model.fcs)
    else:
        with torch.no_grad():
            model.fcm.weight.mul_(4.0)
            model.fc3.weight.mul_(4.0)
    return model


def build_short_twin(loaded: object) -> nn.Module:
    return _loaded_into(ShortTwinVAE(), loaded)


# --- timbmg/Sentence-VAE model.py: a GRU text VAE, forward(input_sequence, length) -> log-probs [N, T, V] ---


class SentenceVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMB)
        self.encoder_rnn = nn.GRU(EMB, 24, batch_first=True)
        self.decoder_rnn = nn.GRU(EMB, 24, batch_first=True)
        self.hidden2mean = nn.Linear(24, CVAE_Z)
        self.hidden2logv = nn.Linear(24, CVAE_Z)
        self.latent2hidden = nn.Linear(CVAE_Z, 24)
        self.outputs2vocab = nn.Linear(24, VOCAB)

    def forward(self, input_sequence: torch.Tensor, length: torch.Tensor) -> tuple:
        embedded = self.embedding(input_sequence.long())
        _, hidden = self.encoder_rnn(embedded)
        hidden = hidden.squeeze(0)
        mean, logv = self.hidden2mean(hidden), self.hidden2logv(hidden)
        z = mean + torch.exp(0.5 * logv) * torch.randn_like(mean)
        outputs, _ = self.decoder_rnn(embedded, self.latent2hidden(z).unsqueeze(0))
        steps = torch.arange(input_sequence.shape[1], device=length.device)
        outputs = outputs * (steps[None, :] < length[:, None]).unsqueeze(-1)
        return F.log_softmax(self.outputs2vocab(outputs), dim=-1), mean, logv, z


def sentence_vae(collapsed: bool) -> nn.Module:
    _seed(6)
    model = SentenceVAE()
    if collapsed:
        pin_heads(model.hidden2mean, model.hidden2logv)
    else:
        with torch.no_grad():
            model.hidden2mean.weight.mul_(8.0)
    return model


def sentence_probe(seed: int = 0, n: int = ROWS) -> dict[str, np.ndarray]:
    ids = token_ids(seed, n)
    return {"x": ids, "length": np.full(n, ids.shape[1], dtype=np.int64)}


def build_sentence_vae(loaded: object) -> nn.Module:
    return _loaded_into(SentenceVAE(), loaded)


# --- 1Konny/Beta-VAE model.py: BetaVAE_H whose 2 x Z head shrank under the KL term -----------------------


def beta_vae_shrunk(collapsed: bool) -> nn.Module:
    """Collapsed: every row of the encoder's last Linear (2 x z_dim outputs) at a tenth of its default
    initialisation and biases zero: mu ~ 0 and logvar ~ 0 for every input, with rows of similar sizes (no
    row small next to the others). Healthy: the default initialisation (the weights cannot show use)."""
    from tests.corpus.layouts import BetaVAEH

    _seed(7)
    model = BetaVAEH()
    if collapsed:
        with torch.no_grad():
            model.encoder[5].weight.mul_(0.1)
            model.encoder[5].bias.zero_()
    return model


# --- bentrevett/pytorch-seq2seq: an LSTM encoder-decoder, forward(src, trg) -> logits [N, T, V] -----------


class LSTMEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.LSTM(EMB, 24, batch_first=True)


class LSTMDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMB)
        self.rnn = nn.LSTM(EMB, 24, batch_first=True)
        self.fc_out = nn.Linear(24, VOCAB)


class LSTMSeq2Seq(nn.Module):
    """encoder.embedding / encoder.rnn, decoder.embedding / decoder.rnn / decoder.fc_out (batch first)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = LSTMEncoder()
        self.decoder = LSTMDecoder()

    def forward(self, src: torch.Tensor, trg: torch.Tensor) -> torch.Tensor:
        _, state = self.encoder.rnn(self.encoder.embedding(src.long()))
        outputs, _ = self.decoder.rnn(self.decoder.embedding(trg.long()), state)
        return self.decoder.fc_out(outputs)


def lstm_seq2seq(collapsed: bool) -> nn.Module:
    """Healthy: the decoder's state comes from the source (recurrent weights enlarged) and its own
    embeddings are silenced, so outputs follow the source. Collapsed: one output token's bias dwarfs the rest."""
    _seed(8)
    model = LSTMSeq2Seq()
    with torch.no_grad():
        model.decoder.fc_out.bias.zero_()
        if collapsed:
            model.decoder.fc_out.bias[7] = 50.0
        else:
            for weight in (
                model.encoder.rnn.weight_ih_l0,
                model.encoder.rnn.weight_hh_l0,
                model.decoder.rnn.weight_hh_l0,
            ):
                weight.mul_(4.0)
            model.decoder.embedding.weight.zero_()
            model.decoder.fc_out.weight.mul_(10.0)
    return model


def build_lstm_seq2seq(loaded: object) -> nn.Module:
    return _loaded_into(LSTMSeq2Seq(), loaded)


# --- a table indexed by integer ids where the weights alone would place a codebook ------------------------


class BagOfTokens(nn.Module):
    """`embedding` [V, 8] whose width is the encoder's output and the decoder's input (as a bare VQ-VAE's
    codebook would be), but fed the input ids: forward(ids [N, T]) -> scores [N, 5]."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 8)
        self.encoder = nn.Sequential(nn.Linear(8, 8))
        self.decoder = nn.Sequential(nn.Linear(8, 5))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.relu(self.encoder(self.embedding(ids.long()).mean(1))))


# --- flow matching: an MLP velocity field v(x, t, c) on cat(t, one_hot(c), x) ------------------------------

FLOW_D, CLASSES, HIDDEN = 2, 4, 32
CENTRES = 4.0 * np.stack([np.cos(np.arange(CLASSES) * np.pi / 2), np.sin(np.arange(CLASSES) * np.pi / 2)], 1)
PULL = 5.0  # the collapsed field pulls every sample onto its class centre: x(1) = mu + (x0 - mu) e^-5


class ConditionalVelocityMLP(nn.Module):
    """`net`: Linear(1 + C + D -> H), ReLU, Linear(H -> D) on cat(t, one_hot(c), x); forward(x, t, c)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1 + CLASSES + FLOW_D, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, FLOW_D)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        t = t.reshape(len(x), 1).to(x.dtype)
        return self.net(torch.cat([t, F.one_hot(c.long(), CLASSES).to(x.dtype), x], dim=-1))


def flow_mlp(collapsed: bool) -> nn.Module:
    """Healthy: v = mu_c (data N(mu_c, I) from noise N(0, I): x(1) = x0 + mu_c, the exact flow). Collapsed:
    v = PULL (mu_c - x), every sample of a class ends on its centre. ReLU units carry +x and -x."""
    model = ConditionalVelocityMLP()
    first, last = model.net[0], model.net[2]
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        last.weight.zero_()
        last.bias.zero_()
        for k in range(CLASSES):  # units 0..C-1 pass one_hot(c); the last layer maps them to mu_c
            first.weight[k, 1 + k] = 1.0
            scale = PULL if collapsed else 1.0
            last.weight[:, k] = torch.tensor(CENTRES[k] * scale, dtype=torch.float32)
        if collapsed:
            for d in range(FLOW_D):  # units C + 2d, C + 2d + 1: relu(x_d), relu(-x_d); v_d -= PULL x_d
                first.weight[CLASSES + 2 * d, 1 + CLASSES + d] = 1.0
                first.weight[CLASSES + 2 * d + 1, 1 + CLASSES + d] = -1.0
                last.weight[d, CLASSES + 2 * d] = -PULL
                last.weight[d, CLASSES + 2 * d + 1] = PULL
    return model


def flow_probe(seed: int = 0, n: int = ROWS) -> dict[str, np.ndarray]:
    """Noise x [n, 2], classes c [n], real samples x1 = mu_c + N(0, I) of the same classes."""
    rng = np.random.default_rng(seed)
    c = rng.integers(0, CLASSES, size=n)
    x1 = CENTRES[c] + rng.normal(size=(n, FLOW_D))
    return {"x": rng.normal(size=(n, FLOW_D)).astype(np.float32), "c": c, "x1": x1.astype(np.float32)}


def build_flow_mlp(loaded: object) -> nn.Module:
    return _loaded_into(ConditionalVelocityMLP(), loaded)


# --- a conv U-Net velocity field with time and label embeddings, forward(x, timesteps, y) ---------------------

SIDE, LIFT = 4, 20.0  # LIFT keeps SiLU's input far above 0, where SiLU(h) = h


class TinyUNet(nn.Module):
    """`conv_in`, `time_mlp` (sinusoidal -> Linear), `label_emb` nn.Embedding(C, 8), `conv_out`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(1, 8, 1)
        self.time_mlp = nn.Sequential(nn.Linear(8, 8))
        self.label_emb = nn.Embedding(CLASSES, 8)
        self.conv_out = nn.Conv2d(8, 1, 1)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        freqs = torch.exp(-math.log(100.0) * torch.arange(4, device=x.device) / 4)
        angles = timesteps.reshape(-1, 1).to(x.dtype) * freqs
        temb = self.time_mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))
        h = self.conv_in(x) + (temb + self.label_emb(y.long()))[:, :, None, None]
        return self.conv_out(F.silu(h))


def unet(collapsed: bool) -> nn.Module:
    """Images of one value per class: v = mean_c (healthy) or PULL (mean_c - x) (collapsed)."""
    _seed(9)
    model = TinyUNet()
    means = torch.tensor(CENTRES[:, 0], dtype=torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.label_emb.weight[:, 0] = LIFT + means * (PULL if collapsed else 1.0)
        model.conv_out.weight[0, 0] = 1.0
        model.conv_out.bias.fill_(-LIFT)
        if collapsed:
            model.conv_in.weight[0, 0] = -PULL
    return model


def unet_probe(seed: int = 0, n: int = ROWS) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, size=n)
    x1 = CENTRES[y, 0][:, None, None, None] + rng.normal(size=(n, 1, SIDE, SIDE))
    return {"x": rng.normal(size=(n, 1, SIDE, SIDE)).astype(np.float32), "y": y, "x1": x1.astype(np.float32)}


def build_unet(loaded: object) -> nn.Module:
    return _loaded_into(TinyUNet(), loaded)


class CharTokenizer:
    """A character tokenizer over 'a'..'i' (ids 3..11), BOS 1, EOS 2, pad 0: encode adds BOS and EOS."""

    pad_token_id = 0

    def encode(self, text: str) -> list[int]:
        return [BOS, *(3 + "abcdefghi".index(ch) for ch in text), EOS]

    def decode(self, ids: list[int]) -> str:
        return "".join("abcdefghi"[i - 3] if 3 <= i < VOCAB else "" for i in ids)


def build_seq2seq_tokenized(loaded: object) -> nn.Module:
    """The user's model with its tokenizer attached (texts in, texts out)."""
    model = _loaded_into(Seq2SeqTransformer(), loaded)
    model.tokenizer = CharTokenizer()
    return model
