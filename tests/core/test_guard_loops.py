"""The guard in real trainers: a PyTorch Lightning Callback and a Hugging Face TrainerCallback.

Lightning runs its real Trainer (CPU, no logger downloads, seconds). The Hugging Face Trainer needs the
`accelerate` package, which the pinned environment lacks (even TrainingArguments refuses to build
without it), so the callback is driven through transformers' own CallbackHandler, TrainerState and
TrainerControl in the loop order the Trainer uses; the full Trainer run is there too and runs wherever
accelerate is installed.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from core.guard import FINDINGS_FILE, CollapseGuard
from tests import guard_fixtures as fx

STEPS, EVERY, COLLAPSE_FROM = 160, 20, 40


# --- PyTorch Lightning ------------------------------------------------------------------------------------

pl = pytest.importorskip("lightning.pytorch")


class LitVQ(pl.LightningModule):
    def __init__(self, collapse_from: int | None) -> None:
        super().__init__()
        self.model = fx.make_model()
        self.collapse_from = collapse_from

    def training_step(self, batch, batch_idx):
        (x,) = batch
        return fx.loss_at(self.model, x, self.global_step, self.collapse_from)

    def configure_optimizers(self):
        return fx.optimiser(self.model)


class LitOracle(pl.Callback):
    """Probe-measured collapse after every optimiser step, recorded before the guard runs."""

    def __init__(self) -> None:
        self.collapsed: dict[int, bool] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.collapsed[trainer.global_step] = fx.oracle_collapsed(pl_module.model, fx.probe_x())[0]


def lightning_fit(tmp_path, collapse_from: int | None):
    from lightning.pytorch.loggers import CSVLogger

    guard = CollapseGuard(fx.probe_x(), every_n_steps=EVERY, families=("codebook",), on_collapse="stop")
    oracle = LitOracle()
    trainer = pl.Trainer(
        max_steps=STEPS,
        accelerator="cpu",
        devices=1,
        logger=CSVLogger(str(tmp_path)),
        callbacks=[oracle, guard.lightning_callback()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    loader = DataLoader(
        TensorDataset(torch.from_numpy(fx.data())),
        batch_size=fx.BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(LitVQ(collapse_from), loader)
    return guard, oracle, trainer


def test_lightning_stops_within_one_check_of_the_collapse(tmp_path):
    guard, oracle, trainer = lightning_fit(tmp_path, COLLAPSE_FROM)
    collapse = min(step for step, c in oracle.collapsed.items() if c)
    assert collapse > COLLAPSE_FROM
    assert guard.stopped_at is not None and collapse <= guard.stopped_at < collapse + EVERY
    assert trainer.global_step == guard.stopped_at  # training ended after the batch of that check
    assert [c.collapsed for c in guard.checks] == [oracle.collapsed[c.step] for c in guard.checks]

    log_dir = trainer.logger.log_dir
    with open(f"{log_dir}/metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("collapse/codebook/code_perplexity_ratio")]
    assert [int(r["step"]) for r in rows] == [c.step for c in guard.checks]
    assert float(rows[-1]["collapse/codebook/severity"]) == 3.0
    lines = [json.loads(s) for s in Path(log_dir, FINDINGS_FILE).read_text().splitlines()]
    assert lines[-1]["step"] == guard.stopped_at and lines[-1]["action"] == "stop"


def test_lightning_healthy_run_trains_to_the_end(tmp_path):
    guard, oracle, trainer = lightning_fit(tmp_path, None)
    assert not any(oracle.collapsed.values())
    assert trainer.global_step == STEPS and not guard.should_stop
    assert len(guard.checks) == STEPS // EVERY


def test_lightning_callback_for_the_old_package_name():
    pytorch_lightning = pytest.importorskip("pytorch_lightning")
    callback = CollapseGuard(fx.probe_x()).lightning_callback("pytorch_lightning")
    assert isinstance(callback, pytorch_lightning.Callback)
    assert not isinstance(callback, pl.Callback)


# --- Hugging Face -----------------------------------------------------------------------------------------


class HFVQ(nn.Module):
    """What a Trainer trains: forward(**batch) -> {"loss": ...}; it counts its own training steps."""

    def __init__(self, collapse_from: int | None) -> None:
        super().__init__()
        self.vq = fx.make_model()
        self.collapse_from = collapse_from
        self.steps = 0

    def forward(self, x):
        loss = fx.loss_at(self.vq, x, self.steps, self.collapse_from)
        self.steps += int(self.training)
        return {"loss": loss}


def hf_loop(tmp_path, collapse_from: int | None):
    """Trainer's inner loop order: forward, backward, optimiser step, global_step += 1, on_step_end."""
    from transformers import TrainerControl, TrainerState
    from transformers.trainer_callback import CallbackHandler

    guard = CollapseGuard(fx.probe_x(), every_n_steps=EVERY, on_collapse="stop")
    model = HFVQ(collapse_from)
    opt = fx.optimiser(model)
    args = SimpleNamespace(output_dir=str(tmp_path), logging_dir=None)
    handler = CallbackHandler([guard.hf_callback()], model, None, opt, None)
    state, control = TrainerState(max_steps=STEPS), TrainerControl()
    control = handler.on_train_begin(args, state, control)
    x = torch.from_numpy(fx.data())
    gen = torch.Generator().manual_seed(0)
    oracle: dict[int, bool] = {}
    while state.global_step < STEPS and not control.should_training_stop:
        for batch in torch.randperm(len(x), generator=gen).split(fx.BATCH):
            model.train()
            model(x[batch])["loss"].backward()
            opt.step()
            opt.zero_grad()
            state.global_step += 1
            state.epoch = state.global_step * fx.BATCH / len(x)
            oracle[state.global_step] = fx.oracle_collapsed(model.vq, fx.probe_x())[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                control = handler.on_step_end(args, state, control)
            if control.should_training_stop or state.global_step == STEPS:
                break
    handler.on_train_end(args, state, control)
    return guard, oracle, state


def test_hf_callback_stops_within_one_check_of_the_collapse(tmp_path):
    guard, oracle, state = hf_loop(tmp_path, COLLAPSE_FROM)
    collapse = min(step for step, c in oracle.items() if c)
    assert collapse > COLLAPSE_FROM
    assert guard.stopped_at is not None and collapse <= guard.stopped_at < collapse + EVERY
    assert state.global_step == guard.stopped_at
    logged = [r for r in state.log_history if "collapse/codebook/severity" in r]
    assert [r["step"] for r in logged] == [c.step for c in guard.checks]
    assert logged[-1]["collapse/codebook/severity"] == 3.0
    assert (tmp_path / FINDINGS_FILE).is_file()
    assert any(p.name.startswith("events.out.tfevents.") for p in tmp_path.iterdir())


def test_hf_callback_healthy_run_trains_to_the_end(tmp_path):
    guard, oracle, state = hf_loop(tmp_path, None)
    assert not any(oracle.values())
    assert state.global_step == STEPS and not guard.should_stop


class Rows(Dataset):
    def __init__(self) -> None:
        self.x = torch.from_numpy(fx.data())

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i]}


@pytest.mark.parametrize("collapse_from", [COLLAPSE_FROM, None])
def test_hf_trainer_end_to_end(tmp_path, collapse_from):
    pytest.importorskip("accelerate", reason="the Hugging Face Trainer needs accelerate (not pinned)")
    from transformers import Trainer, TrainerCallback, TrainingArguments

    oracle: dict[int, bool] = {}

    class Oracle(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            oracle[state.global_step] = fx.oracle_collapsed(model.vq, fx.probe_x())[0]

    guard = CollapseGuard(fx.probe_x(), every_n_steps=EVERY, on_collapse="stop")
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=STEPS,
        per_device_train_batch_size=fx.BATCH,
        learning_rate=1e-2,
        lr_scheduler_type="constant",
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        seed=0,
    )
    trainer = Trainer(
        model=HFVQ(collapse_from), args=args, train_dataset=Rows(), callbacks=[Oracle(), guard.hf_callback()]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    collapse = min((s for s, c in oracle.items() if c), default=None)
    if collapse_from is None:
        assert collapse is None and trainer.state.global_step == STEPS and not guard.should_stop
    else:
        assert collapse is not None and collapse <= guard.stopped_at < collapse + EVERY
        assert trainer.state.global_step == guard.stopped_at
