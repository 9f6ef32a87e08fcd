"""Guard cost on the demo language model (core.demo.language): one check (greedy continuations of the
probe's prompts, `mode` + `repetition`) against one training step and one epoch of the collapsing
fine-tune (batch 32 on the SFT examples), all in this process, on the shipped base and collapsed models.
Prompts per check: the guard's default (all 64 of the probe) and 16. Best of 5; torch on one thread.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch
from timing import best_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import DEMO_DIR  # noqa: E402
from core.demo import language as demo  # noqa: E402
from core.guard import CollapseGuard  # noqa: E402


def main() -> None:
    from transformers import GPT2LMHeadModel

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    train_texts, _, prompts = demo.demo_data()
    tokenizer = demo._tokenizer((DEMO_DIR / "language" / "base" / "tokenizer.json").read_text())
    ids, labels = demo.encode(tokenizer, demo.collapse_data(train_texts))
    steps_per_epoch = len(ids) // demo.BATCH_SIZE
    for name in ("base", "collapsed"):
        model = GPT2LMHeadModel.from_pretrained(DEMO_DIR / "language" / name, local_files_only=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-9)
        model.train()

        def step(model=model, optimizer=optimizer) -> None:
            width = int((labels[: demo.BATCH_SIZE] != -100).sum(1).max())
            out = model(input_ids=ids[: demo.BATCH_SIZE, :width], labels=labels[: demo.BATCH_SIZE, :width])
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()

        step_s = best_of(step, 5)
        for rows in (len(prompts), 16):
            guard = CollapseGuard(prompts[:rows], every_n_steps=1, tokenizer=tokenizer, tensorboard=False)
            check_s = best_of(lambda guard=guard, model=model: guard.run(model, 1), 5)
            print(
                f"{name:9s} {rows:3d} prompts: check {check_s * 1e3:7.1f} ms, training step {step_s * 1e3:6.1f} ms "
                f"-> {check_s / step_s:5.1f} steps, {check_s / (step_s * steps_per_epoch):.3f} of an epoch "
                f"({steps_per_epoch} steps)"
            )


if __name__ == "__main__":
    main()
