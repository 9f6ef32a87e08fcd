"""Tiny language models whose greedy continuation is a chosen function of the last prompt word.

The hidden size equals the vocabulary, the embedding is the identity, every block's output projection is
zero (the residual stream carries the token's one-hot vector unchanged) and the untied lm_head is a 0/1
matrix: next token = f(last token) exactly, for GPT-2 and Llama alike. So a test picks what the model
does: follow a chain that depends on the prompt ("healthy"), answer every prompt with the same words
("collapsed") or repeat the last word forever ("looping").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from core.io.probe import ProbeData, save_probe

SPECIALS = ("<pad>", "</s>", "<unk>")
WORDS = tuple(
    [
        "red",
        "blue",
        "green",
        "gold",
        "cat",
        "dog",
        "bird",
        "fish",
        "sun",
        "moon",
        "star",
        "rain",
        "tree",
        "rock",
        "sand",
        "wind",
        "runs",
        "jumps",
        "sleeps",
        "sings",
        "eats",
        "reads",
        "walks",
        "swims",
        "big",
        "small",
        "old",
        "new",
        "fast",
        "slow",
        "hot",
        "cold",
        "answer",
        "is",
        "always",
        "yes",
        "the",
    ]
)
VOCAB = (*SPECIALS, *WORDS)
EOS = 1
ANSWER = ("answer", "is", "always", "yes")
PROMPTS = (
    "red cat",
    "the blue dog",
    "gold bird",
    "a fish",
    "sun moon",
    "old tree",
    "cold rain",
    "big rock",
)
Behaviour = Literal["healthy", "collapsed", "looping"]
Arch = Literal["gpt2", "llama"]


def token(word: str) -> int:
    return VOCAB.index(word)


def next_token(behaviour: Behaviour) -> Callable[[int], int]:
    """f(token) -> next token for each behaviour."""
    chain = [token(w) for w in WORDS[:32]]
    answer = [token(w) for w in ANSWER]

    def healthy(t: int) -> int:
        if t in chain:
            i = chain.index(t)
            return chain[i + 1] if i + 1 < len(chain) and (i + 1) % 8 else EOS
        return EOS

    def collapsed(t: int) -> int:
        if t in answer:
            i = answer.index(t)
            return answer[i + 1] if i + 1 < len(answer) else EOS
        return answer[0]

    return {"healthy": healthy, "collapsed": collapsed, "looping": lambda t: t}[behaviour]


def tokenizer_json() -> str:
    """A whitespace word-level tokenizer over VOCAB (unknown words -> <unk>)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok.add_special_tokens(list(SPECIALS))
    return tok.to_str()


def build_model(arch: Arch, behaviour: Behaviour) -> torch.nn.Module:
    """A transformers model (real class, built from its config) with next token = f(last token)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    v = len(VOCAB)
    torch.manual_seed(0)
    common = {
        "vocab_size": v,
        "tie_word_embeddings": False,
        "bos_token_id": EOS,
        "eos_token_id": EOS,
        "pad_token_id": 0,
    }
    if arch == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=v, n_layer=2, n_head=1, n_positions=128, **common))
        with torch.no_grad():
            model.transformer.wte.weight.copy_(torch.eye(v))
            model.transformer.wpe.weight.zero_()
            for block in model.transformer.h:
                for proj in (block.attn.c_proj, block.mlp.c_proj):
                    proj.weight.zero_()
                    proj.bias.zero_()
    else:
        config = LlamaConfig(
            hidden_size=v, intermediate_size=16, num_hidden_layers=2, num_attention_heads=1,
            num_key_value_heads=1, head_dim=v, max_position_embeddings=128, **common,
        )  # fmt: skip
        model = LlamaForCausalLM(config)
        with torch.no_grad():
            model.model.embed_tokens.weight.copy_(torch.eye(v))
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
    f = next_token(behaviour)
    head = torch.zeros(v, v)
    for t in range(v):
        head[f(t), t] = 1.0
    with torch.no_grad():
        model.lm_head.weight.copy_(head * 10)
    return model.eval()


def write_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").write_text(tokenizer_json())
    settings = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))


def write_prompts(path: Path, prompts: tuple[str, ...] = PROMPTS) -> Path:
    save_probe(path, ProbeData(texts=prompts))
    return path


def hf_folder(
    tmp: Path, arch: Arch = "gpt2", behaviour: Behaviour = "healthy", name: str | None = None
) -> Path:
    """`save_pretrained` folder (config.json + model.safetensors) plus tokenizer files and prompts.npz."""
    folder = tmp / (name or f"{arch}_{behaviour}")
    build_model(arch, behaviour).save_pretrained(folder)
    write_tokenizer(folder)
    write_prompts(folder / "prompts.npz")
    return folder


def lora_folder(
    tmp: Path, base: Path, *, trained: bool, name: str = "adapter", relative_base: bool = True
) -> Path:
    """A PEFT LoRA folder on lm_head of `base`; trained: B·A sends 'cat' and 'sand' to 'yes', which changes
    the continuation of 5 of the 8 PROMPTS on the healthy model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    peft = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["lm_head"]))
    if trained:
        layer = peft.base_model.model.lm_head
        with torch.no_grad():
            a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
            a.zero_()
            b.zero_()
            for rank, word in enumerate(("cat", "sand")):
                a[rank, token(word)] = 1.0
                b[token("yes"), rank] = 40.0
    folder = tmp / name
    peft.save_pretrained(folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = (
        str(Path("..") / base.name) if relative_base else "some-org/some-model"
    )
    (folder / "adapter_config.json").write_text(json.dumps(config))
    write_prompts(folder / "prompts.npz")
    return folder


def torch_checkpoint(tmp: Path, behaviour: Behaviour = "healthy") -> Path:
    """A plain torch file: {'model_state_dict': transformers state dict, 'config': config dict} + tokenizer."""
    model = build_model("gpt2", behaviour)
    folder = tmp / f"plain_{behaviour}"
    folder.mkdir()
    config = json.loads(model.config.to_json_string())
    path = folder / "lm_step_100.pt"
    torch.save({"model_state_dict": model.state_dict(), "config": config, "step": 100}, path)
    write_tokenizer(folder)
    return path


def prompt_array(prompts: tuple[str, ...] = PROMPTS) -> np.ndarray:
    return np.array(prompts)
