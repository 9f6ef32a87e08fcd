"""The collapse guard on a language model: the demo's collapsing fine-tune (core.demo.language), retrained
from the shipped base with the guard in the plain loop and as an HF Trainer callback, stops at the first
check that sees every prompt get the same answer."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from core import DEMO_DIR
from core.demo import language as demo
from core.guard import FINDINGS_FILE, CollapseGuard, GuardError

BASE = DEMO_DIR / "language" / "base"
EVERY = 10


def _base_and_tokenizer():
    from transformers import GPT2LMHeadModel

    torch.manual_seed(demo.SEED)
    model = GPT2LMHeadModel.from_pretrained(BASE, local_files_only=True)
    return model, demo._tokenizer((BASE / "tokenizer.json").read_text())


def _severity(check, kind: str) -> str:
    return next(f.severity for f in check.findings if f.kind == kind)


@pytest.mark.slow
def test_plain_loop_stops_at_the_first_check_that_sees_the_collapse(tmp_path):
    train_texts, _, prompts = demo.demo_data()
    model, tokenizer = _base_and_tokenizer()
    guard = CollapseGuard(
        prompts,
        every_n_steps=EVERY,
        on_collapse="stop",
        tokenizer=tokenizer,
        log_dir=tmp_path,
        tensorboard=False,
    )
    with pytest.warns(UserWarning, match="collapse at step"):
        log = demo.train(
            model,
            tokenizer,
            demo.collapse_data(train_texts),
            demo.COLLAPSE_STEPS,
            demo.COLLAPSE_LR,
            guard=guard,
        )
    steps = [c.step for c in guard.checks]
    assert steps == list(range(EVERY, guard.stopped_at + 1, EVERY))
    assert all(_severity(c, "mode") != "collapse" for c in guard.checks[:-1])
    last = guard.checks[-1]
    assert _severity(last, "mode") == "collapse" and _severity(last, "repetition") == "ok"
    mode = next(f for f in last.findings if f.kind == "mode")
    assert mode.metrics["most_common_output"] == demo.ONE_ANSWER
    assert guard.stopped_at == 20 and log[-1]["step"] == 20  # the loop ended right after that check
    record = json.loads((tmp_path / FINDINGS_FILE).read_text().splitlines()[-1])
    assert record["step"] == guard.stopped_at and record["action"] == "stop"


@pytest.mark.slow
def test_hf_trainer_callback_stops_the_collapsing_fine_tune(tmp_path):
    from transformers import Trainer, TrainingArguments

    train_texts, _, prompts = demo.demo_data()
    model, tokenizer = _base_and_tokenizer()
    ids, labels = demo.encode(tokenizer, demo.collapse_data(train_texts))
    rows = [{"input_ids": i, "labels": la} for i, la in zip(ids, labels, strict=True)]
    guard = CollapseGuard(prompts[:32], every_n_steps=EVERY, on_collapse="stop", tokenizer=tokenizer)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=demo.COLLAPSE_STEPS,
        per_device_train_batch_size=demo.BATCH_SIZE,
        learning_rate=demo.COLLAPSE_LR,
        lr_scheduler_type="constant",
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        seed=demo.SEED,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=rows, callbacks=[guard.hf_callback()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    assert guard.stopped_at is not None and guard.stopped_at < demo.COLLAPSE_STEPS
    assert trainer.state.global_step == guard.stopped_at
    assert _severity(guard.checks[-1], "mode") == "collapse"
    assert any("collapse/mode/severity" in row for row in trainer.state.log_history)


def test_a_language_model_without_its_tokenizer_is_one_clear_refusal():
    model, _ = _base_and_tokenizer()
    guard = CollapseGuard(["The engineer"], every_n_steps=1)
    with pytest.warns(UserWarning, match="give its tokenizer"):
        check = guard.check(model, 1)
    assert check.findings == () and "tokenizer" in check.errors[0]
    with pytest.raises(GuardError):
        from core.guard import live_adapters

        live_adapters(model, guard.probe, None)
