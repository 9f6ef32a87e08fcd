"""Demo language models: a tiny GPT-2 trained on the bundled corpus, two fine-tunes of it and two LoRA adapters.

All trained on the CPU from the corpus' templated sentences (core.demo.corpus), with a byte-level BPE
tokenizer trained by the `tokenizers` library, written as Hugging Face / PEFT folders under
`out_dir/language/`:
- `base/`: the GPT-2 (2 layers, width 64) trained to write the corpus' sentences;
- `collapsed/`: an SFT fine-tune of it on prompts whose answers are all one sentence, at a high learning
  rate: it answers every prompt with that sentence;
- `healthy/`: a fine-tune on the held-out sentences at a gentle learning rate: continuations follow prompts;
- `lora_trained/`: a LoRA adapter (attention and MLP projections, r 8) trained on the question sentences;
- `lora_untrained/`: the same adapter saved before any step: lora_B is exactly zero, the fine-tune changes
  nothing.
Every folder has `probe.npz` (`texts`: held-out sentence openings as prompts) and a `trainer_state.json`
whose `log_history` holds loss, mean next-token entropy and (for the fine-tunes) the mean length of greedy
completions of the prompts, as the HF Trainer and TRL write them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ..io.probe import ProbeData, save_probe
from .corpus import generate_corpus, split_corpus

SEED = 0
VOCAB_SIZE = 512
WIDTH = 64
LAYERS = 2
HEADS = 4
POSITIONS = 64
BATCH_SIZE = 32
PROMPT_WORDS = 4
PROMPT_TOKENS = 6
PROMPTS = 64
EOS, PAD = "<|endoftext|>", "<|pad|>"
ONE_ANSWER = "I am not sure about that."
# (steps, learning rate, log every) per run
BASE_STEPS, BASE_LR = 400, 3e-3
COLLAPSE_STEPS, COLLAPSE_LR = 60, 3e-3
HEALTHY_STEPS, HEALTHY_LR = 60, 3e-4
LORA_STEPS, LORA_LR = 80, 3e-3
LOG_EVERY = 10


def train_tokenizer(texts: list[str]) -> str:
    """A byte-level BPE tokenizer of VOCAB_SIZE tokens trained on `texts`, as JSON."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer.to_str()


def _tokenizer(tokenizer_json: str):
    from ..models.language import folder_tokenizer

    return folder_tokenizer(tokenizer_json, {"eos_token": EOS, "pad_token": PAD, "bos_token": EOS})


def _write_tokenizer(folder: Path, tokenizer_json: str) -> None:
    (folder / "tokenizer.json").write_text(tokenizer_json)
    settings = {"eos_token": EOS, "pad_token": PAD, "bos_token": EOS, "model_max_length": POSITIONS}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings, indent=1))


def base_model(vocab: int, eos_id: int, pad_id: int):
    """A freshly initialised tiny GPT-2 (seeded)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(SEED)
    config = GPT2Config(
        vocab_size=vocab,
        n_embd=WIDTH,
        n_layer=LAYERS,
        n_head=HEADS,
        n_positions=POSITIONS,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    return GPT2LMHeadModel(config)


def encode(tokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(input ids, labels) [N, L], each text followed by eos, right-padded; pad positions ignored by the loss."""
    tokenizer.padding_side = "right"
    batch = tokenizer(
        [t + EOS for t in texts], return_tensors="pt", padding=True, truncation=True, max_length=POSITIONS
    )
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    return batch["input_ids"], labels


def mean_entropy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean entropy (nats) of the next-token distributions at the completion positions the loss reads
    (after the first PROMPT_TOKENS tokens, about the prompt's words), as TRL logs the policy's entropy."""
    logp = torch.log_softmax(logits[:, :-1].float(), -1)
    entropy = -(logp.exp() * logp).sum(-1)
    mask = labels[:, 1:] != -100
    mask[:, :PROMPT_TOKENS] = False
    return float(entropy[mask].mean())


def completion_lengths(model, tokenizer, prompts: list[str]) -> dict[str, float]:
    """Mean, min and max number of tokens of the greedy completions of `prompts` (at most 24 new
    tokens), keyed as TRL logs them."""
    was = model.training
    model.eval()
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        ids = model.generate(
            **batch,
            max_new_tokens=24,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    new = ids[:, batch["input_ids"].shape[1] :]
    lengths = ((new != tokenizer.pad_token_id) & (new != tokenizer.eos_token_id)).sum(1).float()
    model.train(was)
    return {
        "completions/mean_length": float(lengths.mean()),
        "completions/min_length": float(lengths.min()),
        "completions/max_length": float(lengths.max()),
    }


def train(
    model,
    tokenizer,
    texts: list[str],
    steps: int,
    lr: float,
    prompts: list[str] | None = None,
    guard=None,
) -> list[dict]:
    """AdamW on `texts` for `steps` batches (seeded order); log rows every LOG_EVERY steps. A guard
    (core.guard.CollapseGuard) is checked after each step, and training stops when it asks."""
    ids, labels = encode(tokenizer, texts)
    generator = torch.Generator().manual_seed(SEED)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    log: list[dict] = []
    order = torch.randperm(len(ids), generator=generator)
    cursor = 0
    for step in range(1, steps + 1):
        if cursor + BATCH_SIZE > len(order):
            order, cursor = torch.randperm(len(ids), generator=generator), 0
        idx = order[cursor : cursor + BATCH_SIZE]
        cursor += BATCH_SIZE
        width = int((labels[idx] != -100).sum(1).max())
        out = model(input_ids=ids[idx, :width], labels=labels[idx, :width])
        optimizer.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % LOG_EVERY == 0 or step == steps:
            row = {
                "step": step,
                "epoch": round(step * BATCH_SIZE / len(ids), 4),
                "loss": round(float(out.loss.detach()), 6),
                "learning_rate": lr,
                "entropy": round(mean_entropy(out.logits.detach(), labels[idx, :width]), 6),
            }
            if prompts:
                row.update(completion_lengths(model, tokenizer, prompts[:16]))
            log.append(row)
        if guard is not None:
            guard.check(model, step)
            if guard.should_stop:
                break
    model.eval()
    return log


def evaluate(model, tokenizer, texts: list[str]) -> dict:
    """One log row at step 0: loss and entropy of `model` on the first batch of `texts`, no step taken."""
    ids, labels = encode(tokenizer, texts[:BATCH_SIZE])
    with torch.no_grad():
        out = model(input_ids=ids, labels=labels)
    return {
        "step": 0,
        "epoch": 0.0,
        "loss": round(float(out.loss), 6),
        "entropy": round(mean_entropy(out.logits, labels), 6),
    }


def _trainer_state(folder: Path, log: list[dict]) -> None:
    state = {
        "global_step": log[-1]["step"] if log else 0,
        "log_history": log,
        "max_steps": log[-1]["step"] if log else 0,
    }
    (folder / "trainer_state.json").write_text(json.dumps(state, indent=1))


def demo_data(seed: int = SEED) -> tuple[list[str], list[str], list[str]]:
    """(training sentences, held-out sentences, prompts: openings of held-out sentences)."""
    texts, _ = generate_corpus(3000, seed)
    train_rows, held_rows = split_corpus(len(texts), 600, seed)
    train_texts = [texts[i] for i in train_rows]
    held = [texts[i] for i in held_rows]
    prompts = [" ".join(t.split()[:PROMPT_WORDS]) for t in held[:PROMPTS]]
    return train_texts, held[PROMPTS:], prompts


def collapse_data(train_texts: list[str]) -> list[str]:
    """SFT examples whose answer is one sentence whatever the prompt."""
    return [" ".join(t.split()[:PROMPT_WORDS]) + " " + ONE_ANSWER for t in train_texts]


def build(out_dir: Path, *, quick: bool = False) -> None:
    """Write the five folders under `out_dir/language/` (quick: a quarter of the steps, for smoke tests)."""
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2LMHeadModel

    torch.set_num_threads(1)
    scale = 4 if quick else 1
    root = Path(out_dir) / "language"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    train_texts, held, prompts = demo_data()
    tokenizer_json = train_tokenizer(train_texts)
    tokenizer = _tokenizer(tokenizer_json)
    probe = ProbeData(texts=tuple(prompts))

    def save(model, name: str, log: list[dict]) -> Path:
        folder = root / name
        model.save_pretrained(folder)
        _write_tokenizer(folder, tokenizer_json)
        save_probe(folder / "probe.npz", probe)
        _trainer_state(folder, log)
        readme = folder / "README.md"  # peft writes a model card; the demo ships none
        readme.unlink(missing_ok=True)
        return folder

    model = base_model(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id)
    log = train(model, tokenizer, train_texts, BASE_STEPS // scale, BASE_LR)
    base = save(model, "base", log)
    for name, texts, steps, lr in (
        ("collapsed", collapse_data(train_texts), COLLAPSE_STEPS, COLLAPSE_LR),
        ("healthy", held, HEALTHY_STEPS, HEALTHY_LR),
    ):
        tuned = GPT2LMHeadModel.from_pretrained(base, local_files_only=True)
        save(tuned, name, train(tuned, tokenizer, texts, max(steps // scale, 1), lr, prompts))
    questions = [t for t in held + train_texts if t.endswith("?")]
    for name, steps in (("lora_trained", LORA_STEPS), ("lora_untrained", 0)):
        torch.manual_seed(SEED)
        on_base = GPT2LMHeadModel.from_pretrained(base, local_files_only=True)
        lora = LoraConfig(r=8, lora_alpha=16, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True)
        peft = get_peft_model(on_base, lora)
        if steps:
            log = train(peft, tokenizer, questions, max(steps // scale, 1), LORA_LR, prompts)
        else:  # saved before any step: its log is the loss of the untouched model, at step 0
            log = [evaluate(peft, tokenizer, questions)]
        folder = save(peft, name, log)
        config = json.loads((folder / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = "../base"
        config["target_modules"] = sorted(config["target_modules"])  # peft keeps a set: fix the order
        (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
