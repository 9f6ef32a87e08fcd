"""Adapters for the language models people fine-tune: native transformers models and PEFT LoRA adapters.

`language-model`: a Hugging Face folder (config.json with `model_type`, model.safetensors or shards + index,
tokenizer.json) or a torch file holding a transformers state dict plus its config dict, of an architecture
transformers implements itself (GPT-2, Llama, Mistral, Qwen2, GPT-NeoX, T5, BART, ...). `language-lora`: a PEFT
folder (adapter_config.json + adapter_model.safetensors) on a base model folder (its
`base_model_name_or_path`, relative to the adapter folder, or the CLI's `--base`). Without its base, a LoRA
adapter is still read from its weights alone (B·A per module); it cannot generate.

Both continue prompts (`complete`): batched greedy or sampled `generate`, bounded new tokens, left padding
for causal models; the continuation is the new text only (a causal model's prompt is cut off).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch

from ..io.errors import AdapterError, CheckpointError, ProbeError
from ..io.peft import (
    BaseFolder,
    LoraPair,
    base_folder,
    is_lora_layout,
    lora_pairs,
    lora_scale,
    tokenizer_files,
)
from ..models.language import (
    NativeClass,
    build_language_model,
    folder_tokenizer,
    is_native_language_config,
    lora_delta_norm,
    parameter_total,
)
from .base import AdapterSpec, CheckpointAdapter
from .registry import register
from .text import _RNG_LOCK

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

    from ..config import SamplingConfig
    from ..io.checkpoints import LoadedCheckpoint

BATCH_SIZE = 64
# Prompts are cut to this many tokens (the end kept): a probe row is a prompt, not a document.
MAX_PROMPT_TOKENS = 256


def _tokenizer(loaded: LoadedCheckpoint, vocab: int) -> tuple[PreTrainedTokenizerFast | None, str]:
    """(the model's tokenizer or None, where it came from or why there is none)."""
    text, settings = tokenizer_files(loaded)
    if text is None:
        return (
            None,
            "no tokenizer.json in the folder (or 'tokenizer_json' in the config): prompts cannot be encoded",
        )
    try:
        tokenizer = folder_tokenizer(text, settings)
    except Exception as exc:  # tokenizers raises plain Exception on malformed JSON
        raise AdapterError(f"{loaded.path.name}: the tokenizer cannot be read: {str(exc)[:200]}") from None
    if len(tokenizer) > vocab:
        raise AdapterError(
            f"{loaded.path.name}: the tokenizer has {len(tokenizer):,} tokens but the model's vocabulary {vocab:,}"
        )
    return tokenizer, "tokenizer.json"


class _Generating(CheckpointAdapter):
    """Prompt continuation shared by both adapters."""

    family: ClassVar = "language"
    model: torch.nn.Module | None
    tokenizer: PreTrainedTokenizerFast | None
    seq2seq: bool

    def _generation_model(self) -> torch.nn.Module:
        return self.model  # type: ignore[return-value]

    @torch.no_grad()
    def complete(self, prompts: Sequence[str], config: SamplingConfig) -> list[str]:
        """The continuation of each prompt (new text only), seeded by config.seed."""
        if self.model is None or self.tokenizer is None:
            raise self._missing("complete")
        if not all(isinstance(p, str) for p in prompts):
            raise ProbeError("prompts must be strings")
        model, tokenizer = self._generation_model(), self.tokenizer
        tokenizer.padding_side = "right" if self.seq2seq else "left"
        tokenizer.truncation_side = "left"
        generation = config.to_generation_config(
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.bos_token_id,
            **self._decoder_start(),
        )
        out: list[str] = []
        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        with _RNG_LOCK, torch.random.fork_rng(devices=devices):
            torch.manual_seed(config.seed)
            for start in range(0, len(prompts), BATCH_SIZE):
                batch = tokenizer(
                    list(prompts[start : start + BATCH_SIZE]),
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=MAX_PROMPT_TOKENS,
                ).to(self.device)
                batch.pop("token_type_ids", None)
                if batch["input_ids"].shape[1] == 0:
                    raise ProbeError("every prompt in a batch is empty after tokenisation")
                ids = model.generate(**batch, generation_config=generation)
                new = ids if self.seq2seq else ids[:, batch["input_ids"].shape[1] :]
                out += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
        return out

    def _decoder_start(self) -> dict[str, int]:
        config = self._generation_model().config
        start = getattr(config, "decoder_start_token_id", None)
        return {"decoder_start_token_id": int(start)} if self.seq2seq and start is not None else {}


@register
class LanguageModelAdapter(_Generating):
    """A native transformers causal LM or seq2seq model with its tokenizer."""

    name: ClassVar[str] = "language-model"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerFast | None,
        native: NativeClass,
        description: str = "",
        tokenizer_note: str = "",
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.native = native
        self.seq2seq = native.seq2seq
        self.tokenizer_note = tokenizer_note
        self._description = description

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        if not shapes or not isinstance(config.get("model_type"), str) or "expander" in shapes:
            return False
        if is_lora_layout(shapes, config):
            return False
        # A Hugging Face config asking for custom code is this adapter's to refuse in one clear line.
        return is_native_language_config(config) or bool(config.get("auto_map"))

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> LanguageModelAdapter:
        name = loaded.path.name
        model, native = build_language_model(loaded.config, loaded.state_dict, name)
        vocab = int(model.get_input_embeddings().weight.shape[0])
        tokenizer, note = _tokenizer(loaded, vocab)
        kind = "seq2seq" if native.seq2seq else "causal LM"
        description = (
            f"{native.model_class} ({native.model_type}, {kind}): {parameter_total(model):,} parameters, "
            f"vocabulary {vocab:,}"
        )
        if loaded.config.get("auto_map"):
            description += "; its auto_map (custom code) is ignored: the native class is used"
        if tokenizer is None:
            description += f"; {note}"
        return cls(model, tokenizer, native, description, note)

    @classmethod
    def live(cls, model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast) -> LanguageModelAdapter:
        """An adapter over a model being trained (a transformers model, or a PEFT model around one) and its
        tokenizer, on the device its weights are on; for the collapse guard."""
        config = model.config
        seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        native = NativeClass(str(config.model_type), type(config).__name__, type(model).__name__, seq2seq)
        adapter = cls(model, tokenizer, native, f"{type(model).__name__} being trained")
        adapter.device = str(next(model.parameters()).device)
        return adapter

    def spec(self) -> AdapterSpec:
        return AdapterSpec(
            family="language",
            supports_prompts=self.tokenizer is not None,
            description=self._description,
            parts=("seq2seq" if self.seq2seq else "causal LM", self.native.model_type),
        )


@dataclass(frozen=True)
class LoraModule:
    """One adapted module as measured from the weights: ||B·A||·scale, ||W_base|| (NaN without the base)."""

    module: str
    rank: int
    scale: float
    update_norm: float
    base_norm: float
    b_zero: bool

    @property
    def relative(self) -> float:
        return self.update_norm / self.base_norm if self.base_norm > 0 else float("nan")


@register
class LoraAdapter(_Generating):
    """A PEFT LoRA adapter, on its base model when the base folder is found."""

    name: ClassVar[str] = "language-lora"

    def __init__(
        self,
        modules: tuple[LoraModule, ...],
        config: Mapping,
        base: BaseFolder,
        model: torch.nn.Module | None = None,
        tokenizer: PreTrainedTokenizerFast | None = None,
        seq2seq: bool = False,
        description: str = "",
    ) -> None:
        self.lora_modules = modules
        self.adapter_config = dict(config)
        self.base = base
        self.model = model.eval() if model is not None else None
        self.tokenizer = tokenizer
        self.seq2seq = seq2seq
        self._description = description

    @classmethod
    def detect(cls, shapes: Mapping[str, tuple[int, ...]], config: Mapping) -> bool:
        return is_lora_layout(shapes, config)

    @classmethod
    def from_loaded(cls, loaded: LoadedCheckpoint) -> LoraAdapter:
        name = loaded.path.name
        config = loaded.config
        peft_type = str(config.get("peft_type", "LORA"))
        if peft_type.upper() != "LORA":
            raise AdapterError(f"{name}: peft_type {peft_type[:40]!r} is not read, only LORA adapters")
        pairs, unpaired = lora_pairs(loaded.state_dict)
        if not pairs:
            raise AdapterError(f"{name}: no lora_A / lora_B weight pairs")
        if unpaired:
            raise AdapterError(f"{name}: lora_A without lora_B (or the reverse) in {', '.join(unpaired[:3])}")
        base = base_folder(loaded)
        model, tokenizer, seq2seq, base_weights = None, None, False, {}
        if base.path is not None:
            model, tokenizer, seq2seq, base_weights = _on_base(loaded, pairs, base)
        modules = tuple(_measure(pair, config, base_weights.get(pair.module)) for pair in pairs)
        description = (
            f"LoRA adapter: {len(modules)} modules ({_targets(config)}), r {modules[0].rank}, "
            f"alpha {safe_name(config.get('lora_alpha', '?'), 12)}; {'base model found' if base.path else 'no base model'}"
        )
        return cls(modules, config, base, model, tokenizer, seq2seq, description)

    def spec(self) -> AdapterSpec:
        parts = ("lora adapter",) + (
            ("base model", "seq2seq" if self.seq2seq else "causal LM") if self.model else ()
        )
        return AdapterSpec(
            family="language",
            supports_prompts=self.model is not None and self.tokenizer is not None,
            description=self._description,
            parts=parts,
        )

    @torch.no_grad()
    def complete_base(self, prompts: Sequence[str], config: SamplingConfig) -> list[str]:
        """The base model's continuation of each prompt (the adapter switched off)."""
        if self.model is None:
            raise self._missing("complete_base")
        with self.model.disable_adapter():
            return self.complete(prompts, config)


def safe_name(text: object, limit: int = 60) -> str:
    """A name from an untrusted config reduced to word characters, dots, dashes and slashes, so it can sit
    in any sentence (Markdown, HTML, a terminal) as plain text."""
    return re.sub(r"[^\w.\-/]", "?", str(text))[:limit]


def _targets(config: Mapping) -> str:
    targets = config.get("target_modules")
    if isinstance(targets, list):
        return "targets " + ", ".join(safe_name(t, 40) for t in targets[:8])
    return f"targets {safe_name(targets)}" if targets else "targets not named"


def _measure(pair: LoraPair, config: Mapping, base_weight: torch.Tensor | None) -> LoraModule:
    scale = lora_scale(config, pair.module, pair.rank)
    base_norm = (
        float(torch.linalg.vector_norm(base_weight.detach().double()))
        if base_weight is not None
        else float("nan")
    )
    return LoraModule(
        pair.module,
        pair.rank,
        scale,
        lora_delta_norm(pair.lora_a, pair.lora_b) * scale,
        base_norm,
        not bool(pair.lora_b.any()),
    )


# LoraConfig fields read from adapter_config.json; initialisation schemes (PiSSA, LoftQ, EVA, ...) that
# rewrite the base weights are never taken: the trained A and B are loaded over whatever init made.
_LORA_FIELDS = (
    "r",
    "lora_alpha",
    "target_modules",
    "fan_in_fan_out",
    "bias",
    "use_rslora",
    "rank_pattern",
    "alpha_pattern",
    "modules_to_save",
    "layers_to_transform",
    "layers_pattern",
    "exclude_modules",
)


def _on_base(
    loaded: LoadedCheckpoint, pairs: list[LoraPair], base: BaseFolder
) -> tuple[torch.nn.Module, PreTrainedTokenizerFast | None, bool, dict[str, torch.Tensor]]:
    """(the base model with the adapter loaded into it, its tokenizer, seq2seq, base weight per module)."""
    from peft import LoraConfig, PeftModel, set_peft_model_state_dict

    from ..io.checkpoints import load_checkpoint

    try:
        base_loaded = load_checkpoint(base.path)  # type: ignore[arg-type]
    except CheckpointError as exc:
        raise AdapterError(f"the base model {base.path.name} cannot be read: {exc}") from None  # type: ignore[union-attr]
    base_adapter = LanguageModelAdapter.from_loaded(base_loaded)
    model = base_adapter.model
    weights: dict[str, torch.Tensor] = {}
    for pair in pairs:
        try:
            module = model.get_submodule(pair.module)
        except AttributeError:
            raise AdapterError(
                f"{loaded.path.name}: the adapter's module {pair.module[:80]!r} is not in the base model "
                f"{base.path.name} ({base_adapter.native.model_class}): wrong base?"  # type: ignore[union-attr]
            ) from None
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor):
            weights[pair.module] = weight
    settings = {k: loaded.config[k] for k in _LORA_FIELDS if k in loaded.config}
    try:
        lora = LoraConfig(**settings, lora_dropout=0.0, init_lora_weights=True, inference_mode=True)
        wrapped = PeftModel(model, lora)
        result = set_peft_model_state_dict(wrapped, dict(loaded.state_dict))
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as exc:
        raise AdapterError(
            f"{loaded.path.name}: the adapter does not fit its base model: {str(exc)[:300]}"
        ) from None
    unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
    if unexpected:
        raise AdapterError(
            f"{loaded.path.name}: adapter weights the base model has no place for: {unexpected[:3]}"
        )
    return wrapped.eval(), base_adapter.tokenizer, base_adapter.seq2seq, weights


def language_summary(loaded: LoadedCheckpoint) -> dict | None:
    """What a language-model or adapter folder holds, read from its config and files (nothing built):
    for `inspect`. None when the checkpoint is neither."""
    config = loaded.config
    shapes = loaded.shapes()
    if is_lora_layout(shapes, config):
        pairs, _ = lora_pairs(loaded.state_dict)
        try:
            base = base_folder(loaded)
        except CheckpointError as exc:
            base = BaseFolder(None, str(exc))
        zero = sum(not bool(p.lora_b.any()) for p in pairs)
        return {
            "kind": "LoRA adapter",
            "peft_type": config.get("peft_type"),
            "r": config.get("r"),
            "lora_alpha": config.get("lora_alpha"),
            "target_modules": config.get("target_modules"),
            "adapted_modules": len(pairs),
            "lora_b_zero_modules": zero,
            "base": str(base.path) if base.path else None,
            "base_note": base.note,
        }
    if not isinstance(config.get("model_type"), str) or "expander" in shapes:
        return None
    from ..models.language import native_class

    try:
        native: NativeClass | None = native_class(config)
        problem = ""
    except AdapterError as exc:
        native, problem = None, str(exc)
    text, _ = tokenizer_files(loaded)
    layers = next((config[k] for k in ("num_hidden_layers", "n_layer", "num_layers") if k in config), None)
    return {
        "kind": "language model",
        "model_type": config.get("model_type"),
        "architecture": native.model_class if native else None,
        "refused": problem or None,
        "auto_map_ignored": bool(config.get("auto_map")) and native is not None,
        "vocab_size": config.get("vocab_size"),
        "layers": layers,
        "tokenizer": text is not None,
    }
