"""Adapters for embedding -> bridge -> T5 text generators (seed layout and Hugging Face folders).

Layout: `expander [Q, E]`, for the attention bridge `attention_bridge.in_proj_weight [3E, E]` and
`attention_bridge.out_proj.*`, optionally `projection.*` (E -> d_model), and a whole
T5ForConditionalGeneration under `t5.*`. Files are `{epoch, model_state_dict, val_bleu, args}` torch
checkpoints or folders with `config.json` + `model.safetensors`. The T5 size is read from the tensor shapes
(refined by `t5_config` in the config when present). The tokenizer is `tokenizer_json` in the config, a
`tokenizer.json` file beside the checkpoint (inside the folder for Hugging Face folders), or the locally
cached Hugging Face tokenizer of the base model the config names (`t5_model`, `model_name`, ...; read
with local_files_only, never downloaded). Without any, the model still generates: outputs are token ids,
which show mode collapse (unique sequences, pooled distinct-n, most-common share) but not BLEU.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from ..io.errors import AdapterError, ProbeError
from ..io.limits import MAX_TEXT_BYTES, read_text_limited
from ..io.paths import found_file
from ..models.text import (
    T5_CONFIG_FIELDS,
    Bridge,
    TextBridge,
    load_tokenizer,
    t5_config_from_shapes,
    tied_keys,
)
from .base import AdapterSpec, CheckpointAdapter
from .posterior import config_value
from .registry import register

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from ..config import SamplingConfig
    from ..io.checkpoints import LoadedCheckpoint

ATTENTION_KEY = "attention_bridge.in_proj_weight"
T5_REQUIRED = ("t5.shared.weight", "t5.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
BATCH_SIZE = 128
# Generation seeds the process-wide torch RNG; one lock keeps concurrent sessions from interleaving draws.
_RNG_LOCK = threading.Lock()


def _is_bridge(shapes: Mapping[str, tuple[int, ...]]) -> bool:
    expander = shapes.get("expander")
    return expander is not None and len(expander) == 2 and any(k.startswith("t5.") for k in shapes)


BASE_MODEL_KEYS = (
    "t5_model",
    "t5_name",
    "base_model",
    "model_name",
    "model_name_or_path",
    "pretrained_model_name_or_path",
    "tokenizer_name",
    "t5",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(?:/[A-Za-z0-9][\w.\-]*)?$")


def _tokenizer_json(loaded: LoadedCheckpoint) -> str | None:
    text = loaded.config.get("tokenizer_json")
    if isinstance(text, str) and text:
        return text
    folder = loaded.path if loaded.path.is_dir() else loaded.path.parent
    candidate = folder / "tokenizer.json"
    # a regular file that no symlink leads out to, read within the text limit
    if found_file(candidate, folder) is None:
        return None
    return read_text_limited(candidate, MAX_TEXT_BYTES, AdapterError)


def base_model_name(config: Mapping) -> str | None:
    """The Hugging Face model id a config names as its base (a hub id, never a path), or None."""

    value = config_value(config, BASE_MODEL_KEYS)
    if isinstance(value, str) and _HUB_ID.match(value) and ".." not in value:
        return value
    return None


def cached_tokenizer(
    name: str, cache_dir: str | Path | None = None
) -> tuple[PreTrainedTokenizerBase | None, str]:
    """(the tokenizer of hub model `name` from the local cache, or None; why not). Never downloads."""
    if Path(name).exists():  # a bare id must not resolve to a folder in the working directory
        return None, f"{name!r} is also a local path, so it is not looked up as a model id"
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True, cache_dir=cache_dir)
    except Exception as exc:  # any cache miss or unreadable cache entry means: no tokenizer here
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return None, f"no tokenizer for {name!r} in the local Hugging Face cache ({first})"
    return tokenizer, f"tokenizer of {name!r} from the local Hugging Face cache"


def _resolve_tokenizer(
    loaded: LoadedCheckpoint, vocab_size: int
) -> tuple[PreTrainedTokenizerBase | None, str]:
    """(tokenizer or None, where it came from or why there is none)."""
    name = loaded.path.name
    text = _tokenizer_json(loaded)
    if text is not None:
        try:
            tokenizer = load_tokenizer(text)
        except Exception as exc:  # tokenizers raises plain Exception on malformed JSON
            raise AdapterError(f"{name}: the tokenizer cannot be read: {exc}") from None
        if len(tokenizer) > vocab_size:
            raise AdapterError(
                f"{name}: the tokenizer has {len(tokenizer)} tokens but T5's vocabulary has {vocab_size}"
            )
        return tokenizer, "tokenizer from the checkpoint"
    folder = loaded.path if loaded.path.is_dir() else loaded.path.parent
    missing = f"no 'tokenizer_json' in the config and no tokenizer.json beside the file (looked in {folder})"
    base = base_model_name(loaded.config)
    if base is None:
        return None, f"{missing}, and the config names no base model"
    tokenizer, how = cached_tokenizer(base)
    if tokenizer is not None and len(tokenizer) > vocab_size:
        return (
            None,
            f"{missing}; the cached tokenizer of {base!r} has {len(tokenizer)} tokens, T5 only {vocab_size}",
        )
    return (tokenizer, how) if tokenizer is not None else (None, f"{missing}; {how}")


class _TextBridgeAdapter(CheckpointAdapter):
    """Shared loading and generation of both bridge variants."""

    family: ClassVar = "text"
    bridge: ClassVar[Bridge]

    def __init__(
        self,
        model: TextBridge,
        tokenizer: PreTrainedTokenizerBase | None,
        description: str = "",
        tokenizer_note: str = "",
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer_note = tokenizer_note  # where the tokenizer came from, or why there is none
        self._description = description

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        return _is_bridge(shapes) and (ATTENTION_KEY in shapes) == (cls.bridge == "attention")

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> _TextBridgeAdapter:
        shapes = loaded.shapes()
        name = loaded.path.name
        if "expander" not in shapes or len(shapes["expander"]) != 2:
            raise AdapterError(
                f"{name}: no 'expander [Q, E]' tensor, so this is not a text-bridge checkpoint"
            )
        if (ATTENTION_KEY in shapes) != (cls.bridge == "attention"):
            other = "has" if ATTENTION_KEY in shapes else "has no"
            raise AdapterError(
                f"{name} {other} '{ATTENTION_KEY}': it is not a {cls.bridge}-bridge checkpoint"
            )
        missing = [k for k in T5_REQUIRED if k not in shapes]
        if missing:
            raise AdapterError(
                f"{name}: the T5 part is missing (no {', '.join(missing)}); the checkpoint holds only the "
                f"bridge ({', '.join(sorted(shapes)[:5])}), so nothing can generate text from it"
            )
        num_queries, embed_dim = shapes["expander"]
        config = loaded.config
        try:
            settings = dict(config.get("t5_config") or {})
            if not settings and config.get("model_type") == "t5":
                settings = {k: config[k] for k in T5_CONFIG_FIELDS if k in config}
            head = loaded.state_dict.get("t5.lm_head.weight")
            if head is not None:
                settings["tie_word_embeddings"] = bool(
                    torch.equal(head, loaded.state_dict["t5.shared.weight"])
                )
            t5_config = t5_config_from_shapes(shapes, **settings)
            heads = int(config.get("bridge_heads", 1))
            model = TextBridge(
                embed_dim,
                t5_config,
                cls.bridge,
                num_queries=num_queries,
                num_heads=heads,
                feed=config.get("feed", "inputs_embeds"),
                projection="projection.weight" in shapes,
            )
        except (KeyError, ValueError, TypeError, AssertionError) as exc:
            raise AdapterError(
                f"{name}: cannot rebuild the text bridge from its shapes and config: {exc}"
            ) from None
        try:
            result = model.load_state_dict(loaded.state_dict, strict=False)
        except RuntimeError as exc:
            raise AdapterError(f"{name}: weights do not fit the rebuilt text bridge: {exc}") from None
        missing_keys = sorted(set(result.missing_keys) - tied_keys())
        if missing_keys:
            raise AdapterError(f"{name}: missing weights {', '.join(missing_keys[:6])}")
        tokenizer, note = _resolve_tokenizer(loaded, t5_config.vocab_size)
        description = (
            f"{cls.bridge} bridge ({num_queries} queries, embedding {embed_dim}) -> T5 (d_model "
            f"{t5_config.d_model}, {t5_config.num_layers}+{t5_config.num_decoder_layers} layers, "
            f"vocabulary {t5_config.vocab_size})"
        )
        if tokenizer is None:
            description += f"; no tokenizer ({note}): outputs are token ids, BLEU needs a tokenizer"
        return cls(model.float(), tokenizer, description, note)

    def spec(self) -> AdapterSpec:
        return AdapterSpec(
            family="text",
            latent_dim=self.model.embed_dim,
            supports_generation=True,
            description=self._description,
            parts=(f"{self.bridge} bridge", "t5"),
        )

    def _as_tensor(self, embeddings: np.ndarray) -> torch.Tensor:
        array = np.asarray(embeddings, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.model.embed_dim:
            raise ProbeError(
                f"embeddings must be [N, {self.model.embed_dim}] for this model, got shape {array.shape}"
            )
        if not np.isfinite(array).all():
            raise ProbeError("embeddings contain NaN or infinite values")
        return self._tensor(array)

    @torch.no_grad()
    def bridge_outputs(self, embeddings: np.ndarray) -> np.ndarray:
        """What T5 receives for each embedding [N, E]: float32 [N, Q, d_model]."""
        return self.model.bridge_tokens(self._as_tensor(embeddings)).cpu().numpy()

    @torch.no_grad()
    def generate_ids(self, embeddings: np.ndarray, config: SamplingConfig) -> list[tuple[int, ...]]:
        """Generated token ids per embedding [N, E], special tokens (pad, eos, start) dropped."""
        x = self._as_tensor(embeddings)
        t5 = self.model.t5.config
        generation = config.to_generation_config(
            pad_token_id=t5.pad_token_id if self.tokenizer is None else self.tokenizer.pad_token_id,
            eos_token_id=t5.eos_token_id if self.tokenizer is None else self.tokenizer.eos_token_id,
            decoder_start_token_id=t5.decoder_start_token_id,
        )
        special = {t5.pad_token_id, t5.eos_token_id, t5.decoder_start_token_id}
        if self.tokenizer is not None:
            special |= set(self.tokenizer.all_special_ids)
        out: list[tuple[int, ...]] = []
        # Sampling draws from the generator of the device the model is on: fork and seed that one.
        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        with _RNG_LOCK, torch.random.fork_rng(devices=devices):
            torch.manual_seed(config.seed)
            for start in range(0, len(x), BATCH_SIZE):
                ids = self.model.t5.generate(
                    **self.model.t5_inputs(x[start : start + BATCH_SIZE]), generation_config=generation
                )
                out += [tuple(int(i) for i in row if int(i) not in special) for row in ids.tolist()]
        return out

    def generate(self, embeddings: np.ndarray, config: SamplingConfig) -> list[str]:
        """One sentence per embedding [N, E] (seeded by config.seed); without a tokenizer, `ids: 17 4 9`."""
        seqs = self.generate_ids(embeddings, config)
        if self.tokenizer is None:
            return [ids_text(seq) for seq in seqs]
        return [
            t.strip() for t in self.tokenizer.batch_decode([list(s) for s in seqs], skip_special_tokens=True)
        ]


def ids_text(seq: tuple[int, ...]) -> str:
    """A token-id sequence written out for display and id-level metrics: `ids: 17 4 9`."""
    return "ids: " + " ".join(str(i) for i in seq)


@register
class AttentionBridgeAdapter(_TextBridgeAdapter):
    """32 learned queries attend to the embedding (the fix for mode collapse)."""

    name: ClassVar[str] = "textbridge-attention"
    bridge: ClassVar[Bridge] = "attention"


@register
class AdditiveBridgeAdapter(_TextBridgeAdapter):
    """Learned queries added to the repeated embedding, no attention (the collapsed seed variant)."""

    name: ClassVar[str] = "textbridge-additive"
    bridge: ClassVar[Bridge] = "additive"
