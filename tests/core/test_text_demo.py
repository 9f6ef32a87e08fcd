import json

import numpy as np
import torch

from core.adapters.registry import open_adapter
from core.config import SamplingConfig
from core.demo.corpus import split_corpus
from core.demo.text import PROBE_ROWS, RUNS, SEED, RunSettings, train_run
from core.models.text import train_tokenizer
from tests.adapters.cases_text import TEXTS


def test_split_is_seeded_disjoint_and_complete():
    train, held_out = split_corpus(1000, PROBE_ROWS, SEED)
    assert len(held_out) == 256 and not set(train) & set(held_out)
    assert sorted([*train, *held_out]) == list(range(1000))
    np.testing.assert_array_equal(held_out, split_corpus(1000, PROBE_ROWS, SEED)[1])


def test_runs_differ_only_in_the_bridge():
    collapsed, fixed = RUNS
    assert (collapsed.bridge, fixed.bridge) == ("additive", "attention")
    assert (collapsed.epochs, collapsed.checkpoint_epochs) == (fixed.epochs, fixed.checkpoint_epochs)


def test_train_run_writes_seed_layout_checkpoints_and_log(tmp_path):
    texts = list(TEXTS) * 4
    x = np.random.default_rng(0).normal(size=(len(texts), 384)).astype(np.float32)
    settings = RunSettings("tiny", "attention", 2, (2,))
    log = train_run(settings, texts, x, train_tokenizer(texts), tmp_path, (x[:4], texts[:4]))
    assert [row["epoch"] for row in log] == [1, 2] and "val_bleu" in log[1]
    assert json.loads((tmp_path / "training_log.json").read_text()) == log
    checkpoint = torch.load(tmp_path / "bridge_epoch_2.pt", weights_only=True)
    assert set(checkpoint) == {"epoch", "model_state_dict", "val_bleu", "args"}
    assert checkpoint["model_state_dict"]["expander"].dtype == torch.float16
    assert "t5.lm_head.weight" not in checkpoint["model_state_dict"]  # tied copy not stored twice
    adapter = open_adapter(str(tmp_path / "bridge_epoch_2.pt"))
    assert adapter.name == "textbridge-attention"
    assert len(adapter.generate(x[:3], SamplingConfig(max_new_tokens=5))) == 3
