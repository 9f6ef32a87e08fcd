"""Sentence embedding -> bridge -> T5: the text generator of the demo and of seed-style checkpoints.

Two bridges turn one embedding [N, E] into a sequence of Q encoder tokens for T5:
- "additive" (the collapsed variant): learned queries `expander [Q, E]` plus the repeated embedding. The
  queries start at unit scale per dimension while a sentence embedding has unit *norm*, so the embedding is
  a small perturbation the decoder learns to ignore: it generates one sentence for every input.
- "attention" (the fix): the same learned queries attend to the embedding with `attention_bridge`
  (nn.MultiheadAttention, in_proj_weight [3E, E]); every token is then a learned function of the embedding.
  With a single key token the softmax is 1, so the head count does not change the result.
When E differs from T5's d_model, `projection` (Linear E -> d_model) follows the bridge.

The word-level tokenizer needs no download: it is trained on a corpus and travels as its JSON string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from torch import nn

# transformers takes seconds to import; adapter detection (key names only) must not pay for it, so
# it is imported where a model or tokenizer is actually built.
if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast, T5Config

Bridge = Literal["additive", "attention"]
Feed = Literal["inputs_embeds", "encoder_outputs"]

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


class TextBridge(nn.Module):
    """Embedding [N, E] -> Q bridge tokens -> T5ForConditionalGeneration.

    `feed` says where the bridge tokens enter T5: as encoder `inputs_embeds` (the T5 encoder runs over them)
    or directly as `encoder_outputs` (the encoder is skipped). `projection` (Linear E -> d_model) defaults to
    being present exactly when E differs from d_model.
    """

    def __init__(
        self,
        embed_dim: int,
        t5_config: T5Config,
        bridge: Bridge = "attention",
        num_queries: int = 32,
        num_heads: int = 4,
        feed: Feed = "inputs_embeds",
        projection: bool | None = None,
    ) -> None:
        super().__init__()
        if bridge not in ("additive", "attention"):
            raise ValueError(f"bridge must be 'additive' or 'attention', got {bridge!r}")
        if feed not in ("inputs_embeds", "encoder_outputs"):
            raise ValueError(f"feed must be 'inputs_embeds' or 'encoder_outputs', got {feed!r}")
        self.embed_dim = embed_dim
        self.bridge = bridge
        self.feed = feed
        self.expander = nn.Parameter(torch.randn(num_queries, embed_dim))
        if bridge == "attention":
            self.attention_bridge = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
        if projection is None:
            projection = embed_dim != t5_config.d_model
        if not projection and embed_dim != t5_config.d_model:
            raise ValueError(
                f"embedding size {embed_dim} differs from T5 d_model {t5_config.d_model}: needs a projection"
            )
        self.projection = nn.Linear(embed_dim, t5_config.d_model) if projection else None
        from transformers import T5ForConditionalGeneration

        self.t5 = T5ForConditionalGeneration(t5_config)

    def bridge_tokens(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Embeddings [N, E] -> bridge tokens [N, Q, d_model]."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embed_dim:
            raise ValueError(f"expected embeddings [N, {self.embed_dim}], got {tuple(embeddings.shape)}")
        n = embeddings.shape[0]
        queries = self.expander.unsqueeze(0).expand(n, -1, -1)
        if self.bridge == "attention":
            key = embeddings.unsqueeze(1)
            tokens, _ = self.attention_bridge(queries, key, key, need_weights=False)
        else:
            tokens = queries + embeddings.unsqueeze(1)
        return self.projection(tokens) if self.projection is not None else tokens

    def t5_inputs(self, embeddings: torch.Tensor) -> dict[str, object]:
        """Keyword arguments that hand the bridge tokens to T5 (`forward` and `generate` alike)."""
        tokens = self.bridge_tokens(embeddings)
        if self.feed == "inputs_embeds":
            return {"inputs_embeds": tokens}
        from transformers.modeling_outputs import BaseModelOutput

        return {"encoder_outputs": BaseModelOutput(last_hidden_state=tokens)}

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Teacher-forced cross-entropy for target token ids `labels` [N, L] (pad positions = -100)."""
        return self.t5(**self.t5_inputs(embeddings), labels=labels).loss


def preload() -> None:
    """Import the transformers classes a generator is built from (about 4 s on 2 cores), so that building
    the first one does not wait for them (the app's background warm-up, ui/warmup.py)."""
    from transformers import T5Config, T5ForConditionalGeneration  # noqa: F401
    from transformers.modeling_outputs import BaseModelOutput  # noqa: F401


def small_t5_config(vocab_size: int, d_model: int = 128, layers: int = 2, **overrides: object) -> T5Config:
    """A small T5 with tied embeddings and the token ids of `build_tokenizer` (pad 0, eos 1)."""
    settings: dict[str, object] = {
        "vocab_size": vocab_size,
        "d_model": d_model,
        "d_kv": 32,
        "d_ff": 2 * d_model,
        "num_layers": layers,
        "num_decoder_layers": layers,
        "num_heads": d_model // 32,
        "dropout_rate": 0.1,
        "tie_word_embeddings": True,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }
    settings.update(overrides)
    from transformers import T5Config

    return T5Config(**settings)


def t5_config_from_shapes(
    shapes: Mapping[str, tuple[int, ...]], prefix: str = "t5.", **settings: object
) -> T5Config:
    """Rebuild a T5Config from the tensor shapes of a T5ForConditionalGeneration state dict.

    `settings` fills what shapes cannot tell (token ids, layer-norm epsilon...); shapes win where both speak.
    """

    def shape(key: str) -> tuple[int, ...]:
        return tuple(shapes[prefix + key])

    def count(stack: str) -> int:
        return sum(
            1
            for k in shapes
            if k.startswith(f"{prefix}{stack}.block.") and k.endswith(".layer.0.layer_norm.weight")
        )

    vocab_size, d_model = shape("shared.weight")
    buckets, heads = shape("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
    gated = prefix + "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in shapes
    from_shapes = {
        "num_decoder_layers": count("decoder"),
        "num_heads": heads,
        "d_kv": shape("encoder.block.0.layer.0.SelfAttention.q.weight")[0] // heads,
        "d_ff": shape(f"encoder.block.0.layer.1.DenseReluDense.{'wi_0' if gated else 'wi'}.weight")[0],
        "relative_attention_num_buckets": buckets,
        "feed_forward_proj": "gated-gelu" if gated else "relu",
    }
    merged = {k: v for k, v in settings.items() if k not in ("vocab_size", "d_model", "num_layers")}
    merged.update(from_shapes)
    return small_t5_config(vocab_size, d_model=d_model, layers=count("encoder"), **merged)


def train_tokenizer(texts: Iterable[str], max_vocab: int = 4000, min_frequency: int = 1) -> str:
    """Train a word-level tokenizer on `texts`; returns its JSON.

    Case is kept and apostrophes stay inside words ("Weren't"), matching sacrebleu's 13a tokens, so BLEU
    against the references is not lowered by tokenisation; other punctuation marks are tokens of their own.
    """
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(r"[^\w']"), behavior="isolated")]
    )
    trainer = trainers.WordLevelTrainer(
        vocab_size=max_vocab, min_frequency=min_frequency, special_tokens=[PAD, EOS, UNK]
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer.to_str()


def load_tokenizer(tokenizer_json: str) -> PreTrainedTokenizerFast:
    """Wrap a tokenizer JSON string with pad/eos/unk; encoding appends eos like T5's own tokenizer."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer.from_str(tokenizer_json)
    eos_id = raw.token_to_id(EOS)
    if eos_id is None or raw.token_to_id(PAD) is None:
        raise ValueError(f"tokenizer lacks the special tokens {PAD!r} and {EOS!r}")
    raw.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, eos_id)])
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, pad_token=PAD, eos_token=EOS, unk_token=UNK, clean_up_tokenization_spaces=True
    )


def encode_targets(tokenizer: PreTrainedTokenizerFast, texts: list[str], max_length: int) -> torch.Tensor:
    """Texts -> label ids [N, L] with eos appended and pad positions set to -100 (ignored by the loss)."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    return labels


# T5Config fields written into checkpoint args; everything else keeps the T5Config default.
T5_CONFIG_FIELDS = (
    "vocab_size",
    "d_model",
    "d_kv",
    "d_ff",
    "num_layers",
    "num_decoder_layers",
    "num_heads",
    "relative_attention_num_buckets",
    "relative_attention_max_distance",
    "feed_forward_proj",
    "tie_word_embeddings",
    "pad_token_id",
    "eos_token_id",
    "decoder_start_token_id",
)


def export_state_dict(model: TextBridge, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """State dict to save: tied copies of the T5 word embeddings dropped (they alias `t5.shared.weight`)
    and floating tensors cast to `dtype` (loading copies them back into float32 parameters)."""
    shared = model.t5.shared.weight
    out = {}
    for key, value in model.state_dict().items():
        if key != "t5.shared.weight" and value.data_ptr() == shared.data_ptr():
            continue
        out[key] = value.detach().to(dtype).clone() if value.is_floating_point() else value.detach().clone()
    return out


def tied_keys(prefix: str = "t5.") -> set[str]:
    """Keys that may be absent from a saved state dict because they alias the shared word embeddings.

    transformers 5 always ties T5's output head to the word embeddings (`tie_word_embeddings=False` in a
    config only turns off the d_model**-0.5 output scaling), so the head is one of them.
    """
    return {
        prefix + k for k in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")
    }
