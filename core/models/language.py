"""Language models people fine-tune, rebuilt from a config dict and a state dict with transformers' native classes.

The class comes from the config's `model_type` through transformers' own tables (causal LM or
sequence-to-sequence); `trust_remote_code` is never used and an `auto_map` is dropped before the config
class sees it, so no module of the checkpoint's folder is ever imported. A `model_type` transformers does
not implement is one clear refusal.

Sizes are bounded before anything is allocated: a rough count from the config's declared sizes, then the
exact count of a model built on the `meta` device (no memory), both against MAX_ELEMENTS. The real model is
then built with empty parameters and the (memory-mapped) tensors are assigned in place, so a big
safetensors model is not copied.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..io.errors import AdapterError
from ..io.limits import MAX_ELEMENTS

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

# Real models have at most a few hundred layers; a config declaring more is refused before it is built
# (building even on the meta device takes time per layer).
MAX_LAYERS = 1024
# Config keys that run or fetch code, or that only describe where the file came from.
DROPPED_KEYS = ("auto_map", "_name_or_path", "transformers_version", "custom_pipelines")
_WIDTH_KEYS = ("hidden_size", "n_embd", "d_model", "dim", "embed_dim")
_LAYER_KEYS = (
    "num_hidden_layers",
    "n_layer",
    "num_layers",
    "num_decoder_layers",
    "decoder_layers",
    "encoder_layers",
)
_FFN_KEYS = ("intermediate_size", "n_inner", "d_ff", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim")
_POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx")


@dataclass(frozen=True)
class NativeClass:
    """The transformers classes of one model_type: config, model, and whether it is encoder-decoder."""

    model_type: str
    config_class: str
    model_class: str
    seq2seq: bool


def native_class(config: Mapping) -> NativeClass:
    """The native transformers classes for `config['model_type']`; AdapterError when there are none.

    `architectures` picks the head when it names a native class of that model_type (BART has both a
    causal and a seq2seq head); otherwise the seq2seq head of an encoder-decoder type, else the causal one.
    """
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    model_type = config.get("model_type")
    custom = " (its auto_map names custom code, which is never run)" if config.get("auto_map") else ""
    if not isinstance(model_type, str) or not model_type:
        raise AdapterError(f"config.json has no 'model_type', so no transformers class can be chosen{custom}")
    causal = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(model_type)
    seq2seq = MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES.get(model_type)
    if model_type not in CONFIG_MAPPING_NAMES or not (causal or seq2seq):
        raise AdapterError(
            f"model_type {model_type[:60]!r} has no native transformers text-generation class{custom}; "
            "only architectures transformers implements itself are opened (trust_remote_code is never used)"
        )
    named = config.get("architectures")
    wanted = [a for a in named if isinstance(a, str)] if isinstance(named, list) else []
    for arch in wanted:
        if arch == seq2seq:
            return NativeClass(model_type, CONFIG_MAPPING_NAMES[model_type], arch, True)
        if arch == causal:
            return NativeClass(model_type, CONFIG_MAPPING_NAMES[model_type], arch, False)
    if seq2seq and (config.get("is_encoder_decoder", True) or not causal):
        return NativeClass(model_type, CONFIG_MAPPING_NAMES[model_type], seq2seq, True)
    return NativeClass(model_type, CONFIG_MAPPING_NAMES[model_type], str(causal), False)


def is_native_language_config(config: Mapping) -> bool:
    """Whether `config` names a model_type transformers implements as a text generator (no import of
    transformers' model code; its name tables only)."""
    try:
        native_class(config)
    except AdapterError:
        return False
    return True


def _declared(config: Mapping, keys: tuple[str, ...]) -> list[int]:
    values = [config.get(k) for k in keys]
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def declared_size(config: Mapping) -> int:
    """A rough lower bound of the parameters the config's declared sizes imply (embeddings plus
    attention and feed-forward per layer); AdapterError for a negative size or too many layers."""
    for key in (*_WIDTH_KEYS, *_LAYER_KEYS, *_FFN_KEYS, *_POSITION_KEYS, "vocab_size"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise AdapterError(f"config.json declares {key} = {value}: sizes cannot be negative")
    layers = sum(_declared(config, _LAYER_KEYS)[:2])
    if layers > MAX_LAYERS:
        raise AdapterError(f"config.json declares {layers:,} layers, over the limit of {MAX_LAYERS:,}")
    width = max(_declared(config, _WIDTH_KEYS), default=0)
    ffn = max(_declared(config, _FFN_KEYS), default=4 * width)
    vocab = max(_declared(config, ("vocab_size",)), default=0)
    positions = max(_declared(config, _POSITION_KEYS), default=0)
    return vocab * width + positions * width + layers * (4 * width * width + 2 * width * ffn)


def _check_elements(count: int, what: str) -> None:
    if count > MAX_ELEMENTS:
        raise AdapterError(
            f"{what} {count:,} parameters, over the limit of {MAX_ELEMENTS:,} tensor elements "
            "(raise COLLAPSE_EXPLORER_MAX_ELEMENTS to open it): refused before building it"
        )


def _quiet_transformers() -> None:
    """transformers logs config advice on stderr; the CLI's contract is one line there, so only errors."""
    logging.getLogger("transformers").setLevel(logging.ERROR)


def build_config(config: Mapping) -> tuple[Any, NativeClass]:
    """(the native transformers config object, its classes) from a plain config dict, auto_map dropped."""
    import transformers

    _quiet_transformers()
    native = native_class(config)
    _check_elements(declared_size(config), "config.json declares at least")
    clean = {k: v for k, v in config.items() if k not in DROPPED_KEYS and isinstance(k, str)}
    clean.pop("model_type", None)
    try:
        return getattr(transformers, native.config_class)(**clean), native
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise AdapterError(f"config.json does not make a valid {native.config_class}: {exc}") from None


def _meta_count(model: torch.nn.Module) -> int:
    seen: set[int] = set()
    total = 0
    for tensor in (*model.parameters(), *model.buffers()):
        if id(tensor) not in seen:
            seen.add(id(tensor))
            total += tensor.numel()
    return total


def _renamed(model: torch.nn.Module, key: str) -> str:
    """A checkpoint key under transformers' own renamings for this model (`embed_out.` -> `lm_head.` for
    GPT-NeoX, `LayerNorm.gamma` -> `.weight`, ...), the ones `from_pretrained` applies while loading."""
    from transformers.conversion_mapping import WeightRenaming, get_model_conversion_mapping

    for transform in get_model_conversion_mapping(model):
        if not isinstance(transform, WeightRenaming) or getattr(transform, "scope_prefix", None):
            continue
        for source, target in zip(transform.source_patterns, transform.target_patterns, strict=False):
            key = re.sub(source, target, key)
    return key


def _model_keys(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], expected: set[str]
) -> dict[str, torch.Tensor]:
    """The state dict keyed as the model expects: the loader strips a lone `model.` prefix (tied Llama
    weights leave only `model.*` keys), so it is put back when that matches better; keys still unknown get
    transformers' renamings for the model."""
    plain = dict(state)
    prefixed = {f"model.{k}": v for k, v in state.items()}
    best = prefixed if len(expected & prefixed.keys()) > len(expected & plain.keys()) else plain
    if set(best) <= expected:
        return best
    return {(k if k in expected else _renamed(model, k)): v for k, v in best.items()}


def build_language_model(
    config: Mapping, state: Mapping[str, torch.Tensor], name: str
) -> tuple[PreTrainedModel, NativeClass]:
    """The native model of `config` holding the tensors of `state` (assigned, not copied), in eval mode.

    AdapterError when the config is not native, over the size limits, or the weights do not fit it."""
    import transformers
    from accelerate import init_empty_weights

    hf_config, native = build_config(config)
    cls = getattr(transformers, native.model_class)
    try:
        with torch.device("meta"):
            counted = cls(hf_config)
        _check_elements(_meta_count(counted), f"{name}: the model config.json describes has")
        del counted
        with init_empty_weights(include_buffers=False):
            model = cls(hf_config)
    except AdapterError:
        raise
    except Exception as exc:  # a config the class cannot build from (odd head counts, ...)
        raise AdapterError(f"{name}: cannot build {native.model_class} from config.json: {exc}") from None
    expected = set(model.state_dict())
    weights = _model_keys(model, state, expected)
    wrong = [
        f"{k} {list(v.shape)} (model: {list(model.state_dict()[k].shape)})"
        for k, v in weights.items()
        if k in expected and tuple(v.shape) != tuple(model.state_dict()[k].shape)
    ]
    if wrong:
        raise AdapterError(
            f"{name}: weights do not fit {native.model_class} of config.json: {', '.join(wrong[:3])}"
        )
    model.load_state_dict(weights, strict=False, assign=True)
    model.tie_weights()
    missing = [n for n, p in model.named_parameters() if p.is_meta]
    if missing:
        raise AdapterError(
            f"{name}: {len(missing)} weights of {native.model_class} are missing from the file "
            f"({', '.join(missing[:4])})"
        )
    if any(p.dtype == torch.float16 for p in model.parameters()):
        model = model.float()  # half precision matmuls are slow or missing on the CPU
    return model.eval(), native


def parameter_total(model: torch.nn.Module) -> int:
    """Parameters over unique tensors (tied ones once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def folder_tokenizer(tokenizer_json: str, tokenizer_config: Mapping | None = None) -> PreTrainedTokenizerFast:
    """A fast tokenizer from a tokenizer.json text, its special tokens from tokenizer_config.json's string
    fields (never its auto_map or any class name: only the Rust tokenizer is built)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    _quiet_transformers()
    raw = Tokenizer.from_str(tokenizer_json)
    special: dict[str, str] = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = (tokenizer_config or {}).get(key)
        if isinstance(value, Mapping):  # AddedToken written out as a dict
            value = value.get("content")
        if isinstance(value, str) and raw.token_to_id(value) is not None:
            special[key] = value
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, **special)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # batched generation needs a pad; eos is the usual stand-in
    return tokenizer


def lora_delta_norm(lora_a: torch.Tensor, lora_b: torch.Tensor) -> float:
    """Frobenius norm of B @ A (B [out, r], A [r, in]) without forming the [out, in] product:
    ||BA||_F^2 = trace((B^T B)(A A^T))."""
    a = lora_a.detach().double().reshape(lora_a.shape[0], -1)
    b = lora_b.detach().double().reshape(lora_b.shape[0], -1)
    value = float(torch.trace((b.T @ b) @ (a @ a.T)))
    return math.sqrt(max(value, 0.0))
