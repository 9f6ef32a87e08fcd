"""Demo vector-field runs on the MiniLM corpus: one that collapses onto prototypes and one that does not.

Both runs train `VectorFieldNetwork` (10 Euler steps of 0.1 on the sphere) with the same prototype loss
on the flowed endpoints z_T: per batch, each target attribute combination has a prototype, the
normalised mean of its members' z_T; the loss is an InfoNCE of z_T against all prototypes (temperature
`TEMPERATURE`) plus an attraction 1 - cos(z_T, own prototype) (weight `ATTRACTION_WEIGHT`).

- `collapsed`: prototypes keep their gradient, targets are random attribute vectors, no identity term.
  Nothing asks the flow to keep where a sentence started, so every target combination ends on one point
  within a few epochs.
- `fixed`: prototypes detached, an identity loss ||z_T - z_0||^2 (weight 5) on rows whose target equals
  their original attributes, and targets = originals with 1-2 attributes flipped on every other batch
  (the other batches keep the originals, so the identity loss applies).

Measured ablation (same seed, 20 epochs): the collapsed recipe with detached prototypes alone still
collapses (32 distinct endpoints for 32 target groups); the fixed recipe without the detach stays
healthy. The identity loss and the 1-2 attribute flips are what prevent the collapse here; the attraction
gradient to a batch mean is the same with or without the detach.

`build(out_dir)` writes `out_dir/flow/<run>/fclf_epoch_<k>.pt` (learning-to-flow layout, no optimizer
state to keep the assets small), `training_log.json` and `probe.npz` (1,000 held-out sentences) per run;
the corpus `out_dir/corpus.npz` is built first if missing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..io.probe import ProbeData, save_probe
from ..models.flow import VectorFieldNetwork, flow
from .corpus import demo_corpus, split_corpus

SEED = 0
HIDDEN_DIM = 128
STEPS = 10
ALPHA = 0.1
TEMPERATURE = 0.1
BATCH_SIZE = 250
PROBE_ROWS = 1000
LEARNING_RATE = 2e-3
ATTRACTION_WEIGHT = 1.0


@dataclass(frozen=True)
class RunSettings:
    """What distinguishes the two demo runs."""

    name: str
    detach_prototypes: bool
    identity_weight: float
    flip_targets: bool
    epochs: int
    checkpoint_epochs: tuple[int, ...]


RUNS: tuple[RunSettings, ...] = (
    RunSettings("collapsed", False, 0.0, False, 20, (1, 3, 8, 20)),
    RunSettings("fixed", True, 5.0, True, 20, (1, 3, 8, 20)),
)


def _targets(y0: torch.Tensor, settings: RunSettings, batch_index: int, gen: torch.Generator) -> torch.Tensor:
    """Target attributes [B, A] for one batch (float 0/1)."""
    if not settings.flip_targets:
        return torch.randint(0, 2, y0.shape, generator=gen).float()
    if batch_index % 2 == 0:
        return y0.clone()
    n, a = y0.shape
    # Flip one attribute per row, and a second one on a random half of the rows.
    first = torch.randint(0, a, (n,), generator=gen)
    second = (first + torch.randint(1, a, (n,), generator=gen)) % a
    flips = nn.functional.one_hot(first, a).float()
    two = torch.rand(n, generator=gen) < 0.5
    flips[two] += nn.functional.one_hot(second[two], a).float()
    return (y0 + flips) % 2


def _prototype_losses(
    z_end: torch.Tensor, y: torch.Tensor, detach: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(InfoNCE of each endpoint against the batch's target-combination prototypes, 1 - cos to its own)."""
    codes = (y * (2 ** torch.arange(y.shape[1], dtype=y.dtype))).sum(1).long()
    classes, label = torch.unique(codes, return_inverse=True)
    onehot = nn.functional.one_hot(label, len(classes)).to(z_end.dtype)
    prototypes = nn.functional.normalize(onehot.T @ z_end, dim=-1)
    if detach:
        prototypes = prototypes.detach()
    logits = z_end @ prototypes.T
    attraction = 1 - logits.gather(1, label[:, None]).mean()
    return nn.functional.cross_entropy(logits / TEMPERATURE, label), attraction


def _losses(
    model: VectorFieldNetwork, z0: torch.Tensor, y0: torch.Tensor, y: torch.Tensor, settings: RunSettings
) -> dict[str, torch.Tensor]:
    z_end = flow(model, z0, y, STEPS, ALPHA)[-1]
    contrastive, attraction = _prototype_losses(z_end, y, settings.detach_prototypes)
    same = (y == y0).all(1)
    identity = ((z_end - z0) ** 2).sum(1)[same].mean() if same.any() else z0.new_zeros(())
    total = contrastive + ATTRACTION_WEIGHT * attraction + settings.identity_weight * identity
    return {"contrastive": contrastive, "attraction": attraction, "identity": identity, "total": total}


def train_run(
    settings: RunSettings,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    attribute_names: tuple[str, ...],
    run_dir: Path,
    val: tuple[np.ndarray, np.ndarray],
) -> list[dict]:
    """Train one run, writing checkpoints and `training_log.json` into `run_dir`; returns the log rows."""
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    d, a = embeddings.shape[1], attributes.shape[1]
    model = VectorFieldNetwork(d, a, HIDDEN_DIM)
    # The last layer starts at zero so every run begins as the identity flow.
    nn.init.zeros_(model.network[8].weight)
    nn.init.zeros_(model.network[8].bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    z_all = torch.from_numpy(embeddings)
    y_all = torch.from_numpy(attributes.astype(np.float32))
    z_val, y_val = torch.from_numpy(val[0]), torch.from_numpy(val[1].astype(np.float32))
    val_gen = torch.Generator()
    config = {
        "embedding_dim": d,
        "num_attributes": a,
        "hidden_dim": HIDDEN_DIM,
        "attribute_names": list(attribute_names),
        "steps": STEPS,
        "alpha": ALPHA,
        "temperature": TEMPERATURE,
        "attraction_weight": ATTRACTION_WEIGHT,
        "learning_rate": LEARNING_RATE,
        "batch_size": BATCH_SIZE,
        "seed": SEED,
        **{k: v for k, v in asdict(settings).items() if k not in ("name", "checkpoint_epochs")},
        "run": settings.name,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob("fclf_epoch_*.pt"):
        stale.unlink()
    log: list[dict] = []
    step = 0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = torch.randperm(len(z_all), generator=gen)
        sums: dict[str, float] = {}
        batches = 0
        for b, start in enumerate(range(0, len(order), BATCH_SIZE)):
            idx = order[start : start + BATCH_SIZE]
            z0, y0 = z_all[idx], y_all[idx]
            losses = _losses(model, z0, y0, _targets(y0, settings, b, gen), settings)
            optimizer.zero_grad()
            losses["total"].backward()
            optimizer.step()
            step += 1
            batches += 1
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
        model.eval()
        val_gen.manual_seed(SEED + 1)
        with torch.no_grad():
            val_losses = _losses(model, z_val, y_val, _targets(y_val, settings, 1, val_gen), settings)
        row = {"epoch": epoch, "step": step, **{k: v / batches for k, v in sums.items()}}
        row["val_loss"] = float(val_losses["total"])
        log.append(row)
        if epoch in settings.checkpoint_epochs:
            torch.save(
                {
                    "epoch": epoch,
                    "model_state_dict": {k: v.clone() for k, v in model.state_dict().items()},
                    "train_loss": row["total"],
                    "val_loss": row["val_loss"],
                    "config": config,
                },
                run_dir / f"fclf_epoch_{epoch:03d}.pt",
            )
    (run_dir / "training_log.json").write_text(json.dumps(log, indent=1))
    return log


def build(out_dir: Path, *, quick: bool = False) -> None:
    """Write both demo runs under `out_dir/flow/` (corpus at `out_dir/corpus.npz`, built if missing).

    `quick` trains a few epochs only (for smoke tests); the shipped assets use the full schedule.
    """
    torch.set_num_threads(1)
    texts, embeddings, attributes, names = demo_corpus(Path(out_dir))
    train, held_out = split_corpus(len(embeddings), PROBE_ROWS, SEED)
    probe = ProbeData(
        # float16 halves the shipped size; load_probe casts back to float32.
        embeddings=embeddings[held_out].astype(np.float16),
        attributes=attributes[held_out],
        attribute_names=names,
        texts=tuple(texts[i] for i in held_out),
    )
    for settings in RUNS:
        if quick:
            settings = replace(settings, epochs=2, checkpoint_epochs=(1, 2))
        run_dir = Path(out_dir) / "flow" / settings.name
        train_run(
            settings,
            embeddings[train],
            attributes[train],
            names,
            run_dir,
            (embeddings[held_out], attributes[held_out]),
        )
        save_probe(run_dir / "probe.npz", probe)
