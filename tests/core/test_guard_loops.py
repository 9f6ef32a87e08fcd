"""The guard in real trainers: a PyTorch Lightning Callback and a Hugging Face TrainerCallback.

Both run their real Trainer on the CPU in seconds (lightning, transformers and accelerate are pinned; no
downloads), once on the reference VQ-VAE and once on the VQGAN of a public repository's layout from the
corpus, which the guard reads by role through the live adapter.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from transformers import Trainer, TrainerCallback, TrainingArguments

from core.guard import FINDINGS_FILE, CollapseGuard
from tests import guard_fixtures as fx

STEPS, EVERY, COLLAPSE_FROM = 160, 20, 40
by_model = pytest.mark.parametrize("recipe", fx.VQ_RECIPES, ids=[r.name for r in fx.VQ_RECIPES])


# --- PyTorch Lightning ------------------------------------------------------------------------------------


class LitVQ(pl.LightningModule):
    def __init__(self, recipe: fx.Recipe, collapse_from: int | None) -> None:
        super().__init__()
        self.model = recipe.make_model()
        self.recipe, self.collapse_from = recipe, collapse_from

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        (x,) = batch
        return self.recipe.loss_at(self.model, x, self.global_step, self.collapse_from)

    def configure_optimizers(self):
        return self.recipe.optimiser(self.model)


class LitOracle(pl.Callback):
    """Probe-measured collapse after every optimiser step, recorded before the guard runs."""

    def __init__(self, recipe: fx.Recipe) -> None:
        self.recipe = recipe
        self.collapsed: dict[int, bool] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.collapsed[trainer.global_step] = self.recipe.oracle(pl_module.model, self.recipe.probe_x())[0]


def lightning_fit(tmp_path, recipe: fx.Recipe, collapse_from: int | None):
    guard = CollapseGuard(recipe.probe_x(), every_n_steps=EVERY, families=("codebook",), on_collapse="stop")
    oracle = LitOracle(recipe)
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
        TensorDataset(torch.from_numpy(recipe.data())),
        batch_size=fx.BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(LitVQ(recipe, collapse_from), loader)
    return guard, oracle, trainer


@by_model
def test_lightning_stops_within_one_check_of_the_collapse(tmp_path, recipe):
    guard, oracle, trainer = lightning_fit(tmp_path, recipe, COLLAPSE_FROM)
    collapse = min(step for step, c in oracle.collapsed.items() if c)
    assert collapse > COLLAPSE_FROM
    assert guard.stopped_at is not None and collapse <= guard.stopped_at < collapse + EVERY
    assert trainer.global_step == guard.stopped_at  # training ended after the batch of that check
    assert [c.collapsed for c in guard.checks] == [oracle.collapsed[c.step] for c in guard.checks]
    assert {c.adapters for c in guard.checks} == {(recipe.adapter,)}

    log_dir = trainer.logger.log_dir
    with open(f"{log_dir}/metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("collapse/codebook/code_perplexity_ratio")]
    assert [int(r["step"]) for r in rows] == [c.step for c in guard.checks]
    assert float(rows[-1]["collapse/codebook/severity"]) == 3.0
    lines = [json.loads(s) for s in Path(log_dir, FINDINGS_FILE).read_text().splitlines()]
    assert lines[-1]["step"] == guard.stopped_at and lines[-1]["action"] == "stop"


@by_model
def test_lightning_healthy_run_trains_to_the_end(tmp_path, recipe):
    guard, oracle, trainer = lightning_fit(tmp_path, recipe, None)
    assert not any(oracle.collapsed.values())
    assert trainer.global_step == STEPS and not guard.should_stop
    assert len(guard.checks) == STEPS // EVERY and not any(c.errors for c in guard.checks)


def test_lightning_callback_for_the_old_package_name():
    import pytorch_lightning

    callback = CollapseGuard(fx.probe_x()).lightning_callback("pytorch_lightning")
    assert isinstance(callback, pytorch_lightning.Callback)
    assert not isinstance(callback, pl.Callback)


# --- Hugging Face -----------------------------------------------------------------------------------------


class HFVQ(nn.Module):
    """What a Trainer trains: forward(**batch) -> {"loss": ...}; it counts its own training steps."""

    def __init__(self, recipe: fx.Recipe, collapse_from: int | None) -> None:
        super().__init__()
        self.vq = recipe.make_model()
        self.recipe, self.collapse_from = recipe, collapse_from
        self.steps = 0

    def forward(self, x):
        loss = self.recipe.loss_at(self.vq, x, self.steps, self.collapse_from)
        self.steps += int(self.training)
        return {"loss": loss}


class Rows(Dataset):
    def __init__(self, recipe: fx.Recipe) -> None:
        self.x = torch.from_numpy(recipe.data())

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i]}


def hf_train(tmp_path, recipe: fx.Recipe, collapse_from: int | None):
    oracle: dict[int, bool] = {}

    class Oracle(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            oracle[state.global_step] = recipe.oracle(model.vq, recipe.probe_x())[0]

    guard = CollapseGuard(recipe.probe_x(), every_n_steps=EVERY, on_collapse="stop")
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=STEPS,
        per_device_train_batch_size=fx.BATCH,
        lr_scheduler_type="constant",
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        seed=0,
    )
    model = HFVQ(recipe, collapse_from)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Rows(recipe),
        callbacks=[Oracle(), guard.hf_callback()],
        optimizers=(recipe.optimiser(model), None),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()
    return guard, oracle, trainer


@by_model
def test_hf_trainer_stops_within_one_check_of_the_collapse(tmp_path, recipe):
    guard, oracle, trainer = hf_train(tmp_path, recipe, COLLAPSE_FROM)
    collapse = min((s for s, c in oracle.items() if c), default=None)
    assert collapse is not None and collapse > COLLAPSE_FROM
    assert guard.stopped_at is not None and collapse <= guard.stopped_at < collapse + EVERY
    assert trainer.state.global_step == guard.stopped_at
    assert [c.collapsed for c in guard.checks] == [oracle[c.step] for c in guard.checks]
    assert {c.adapters for c in guard.checks} == {(recipe.adapter,)}
    logged = [r for r in trainer.state.log_history if "collapse/codebook/severity" in r]
    assert [r["step"] for r in logged] == [c.step for c in guard.checks]
    assert logged[-1]["collapse/codebook/severity"] == 3.0
    folder = Path(guard.log_dir)
    lines = [json.loads(s) for s in (folder / FINDINGS_FILE).read_text().splitlines()]
    assert lines[-1]["step"] == guard.stopped_at and lines[-1]["action"] == "stop"
    assert any(p.name.startswith("events.out.tfevents.") for p in folder.iterdir())


@by_model
def test_hf_trainer_healthy_run_trains_to_the_end(tmp_path, recipe):
    guard, oracle, trainer = hf_train(tmp_path, recipe, None)
    assert not any(oracle.values())
    assert trainer.state.global_step == STEPS and not guard.should_stop
    assert len(guard.checks) == STEPS // EVERY and not any(c.errors for c in guard.checks)
