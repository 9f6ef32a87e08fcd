"""Demo text-bridge runs on the MiniLM corpus: one generator that writes one sentence for every input, one that
does not.

Both runs train `TextBridge` (a small T5 behind a bridge of 32 learned queries) to write a sentence back from
its MiniLM embedding, with the same data, tokenizer, T5 size, optimiser and schedule:
- `collapsed`: the additive bridge. The queries (unit scale per dimension) swamp the unit-norm embedding
  added to them, the decoder learns the corpus' language model and writes the same sentence for every input.
- `fixed`: the attention bridge. The same queries attend to the embedding, so every bridge token is a learned
  function of it, and the generator reconstructs the sentence.

`build(out_dir)` writes `out_dir/text/<run>/bridge_epoch_<k>.pt` in the seed layout
`{epoch, model_state_dict, val_bleu, args}` (args is a plain dict holding the T5 size and the tokenizer JSON),
`training_log.json` and `probe.npz` (held-out embeddings with their sentences as references) per run.
Weights are saved as float16 to fit the asset budget; the adapter loads them into float32 parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from ..io.probe import ProbeData, save_probe
from ..metrics.text import corpus_bleu
from ..models.text import (
    T5_CONFIG_FIELDS,
    Bridge,
    TextBridge,
    encode_targets,
    export_state_dict,
    load_tokenizer,
    small_t5_config,
    train_tokenizer,
)
from .corpus import demo_corpus, split_corpus

SEED = 0
PROBE_ROWS = 256
D_MODEL = 128
LAYERS = 2
NUM_QUERIES = 32
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
MAX_TOKENS = 24


@dataclass(frozen=True)
class RunSettings:
    """What distinguishes the two demo runs (only the bridge) and the shared schedule."""

    name: str
    bridge: Bridge
    epochs: int
    checkpoint_epochs: tuple[int, ...]


RUNS: tuple[RunSettings, ...] = (
    RunSettings("collapsed", "additive", 7, (1, 3, 7)),
    RunSettings("fixed", "attention", 7, (1, 3, 7)),
)


@torch.no_grad()
def greedy_texts(
    model: TextBridge, tokenizer: PreTrainedTokenizerFast, embeddings: torch.Tensor, batch_size: int = 128
) -> list[str]:
    """Greedy decoding of `embeddings` [N, E] (used for validation BLEU while training)."""
    was_training = model.training
    model.eval()
    texts: list[str] = []
    for start in range(0, len(embeddings), batch_size):
        ids = model.t5.generate(
            **model.t5_inputs(embeddings[start : start + batch_size]),
            max_new_tokens=MAX_TOKENS,
            do_sample=False,
            num_beams=1,
        )
        texts += [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]
    model.train(was_training)
    return texts


def train_run(
    settings: RunSettings,
    texts: list[str],
    embeddings: np.ndarray,
    tokenizer_json: str,
    run_dir: Path,
    validation: tuple[np.ndarray, list[str]],
) -> list[dict]:
    """Train one run, writing checkpoints and `training_log.json` into `run_dir`; returns the log rows."""
    torch.manual_seed(SEED)
    tokenizer = load_tokenizer(tokenizer_json)
    config = small_t5_config(len(tokenizer), d_model=D_MODEL, layers=LAYERS)
    model = TextBridge(embeddings.shape[1], config, settings.bridge, num_queries=NUM_QUERIES)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    x = torch.from_numpy(embeddings)
    labels = encode_targets(tokenizer, texts, MAX_TOKENS)
    val_x = torch.from_numpy(validation[0])
    generator = torch.Generator().manual_seed(SEED)
    args = {
        "bridge": settings.bridge,
        "embed_dim": int(embeddings.shape[1]),
        "num_queries": NUM_QUERIES,
        "feed": model.feed,
        "t5_config": {k: getattr(config, k) for k in T5_CONFIG_FIELDS},
        "tokenizer_json": tokenizer_json,
        "weights_dtype": "float16",
        "epochs": settings.epochs,
        "batch_size": BATCH_SIZE,
        "lr": LEARNING_RATE,
        "seed": SEED,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    log: list[dict] = []
    step = 0
    model.train()
    for epoch in range(1, settings.epochs + 1):
        order = torch.randperm(len(x), generator=generator)
        losses = []
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            batch_labels = labels[idx]
            batch_labels = batch_labels[:, : int((batch_labels != -100).sum(1).max())].contiguous()
            loss = model(x[idx], batch_labels)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            step += 1
        row: dict = {"epoch": epoch, "step": step, "loss": float(np.mean(losses))}
        if epoch in settings.checkpoint_epochs:
            hyps = greedy_texts(model, tokenizer, val_x)
            val_bleu = float(corpus_bleu(hyps, validation[1]))
            row["val_bleu"] = val_bleu
            row["val_unique_outputs"] = len(set(hyps)) / len(hyps)
            torch.save(
                {
                    "epoch": epoch,
                    "model_state_dict": export_state_dict(model),
                    "val_bleu": val_bleu,
                    "args": args,
                },
                run_dir / f"bridge_epoch_{epoch}.pt",
            )
        log.append(row)
    (run_dir / "training_log.json").write_text(json.dumps(log, indent=1))
    return log


def build(out_dir: Path, *, quick: bool = False) -> None:
    """Write both demo runs under `out_dir/text/` (corpus at `out_dir/corpus.npz`, built if missing).

    `quick` trains one epoch per checkpoint (for smoke tests); the shipped assets use the full schedule.
    """
    torch.set_num_threads(1)
    texts, embeddings, _, _ = demo_corpus(Path(out_dir))
    train, held_out = split_corpus(len(texts), PROBE_ROWS, SEED)
    train_texts = [texts[i] for i in train]
    probe_texts = [texts[i] for i in held_out]
    tokenizer_json = train_tokenizer(train_texts)
    # float16 halves the shipped size; load_probe casts back to float32.
    probe = ProbeData(embeddings=embeddings[held_out].astype(np.float16), texts=tuple(probe_texts))
    for settings in RUNS:
        if quick:
            settings = replace(settings, epochs=2, checkpoint_epochs=(1, 2))
        run_dir = Path(out_dir) / "text" / settings.name
        train_run(
            settings,
            train_texts,
            embeddings[train],
            tokenizer_json,
            run_dir,
            (embeddings[held_out], probe_texts),
        )
        save_probe(run_dir / "probe.npz", probe)
