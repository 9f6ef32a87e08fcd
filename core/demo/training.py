"""Demo of a training run that blows up: a tiny VQ autoencoder on 8x8 digits with two semantic heads
(classification, and regression onto class embeddings) trained by plain SGD at a far too high learning
rate, no gradient clipping, and a semantic loss weight ramped up from 0: the seed problem's recipe. Stable
while the weight is small, the regression head then diverges, its gradients flood the encoder and the
losses go NaN. It really trains (seeded, CPU, seconds); the explosion is real.

`build(out_dir)` writes `training/exploding_run/` under the demo root `out_dir` (assets/demo):
- `tb/events.out.tfevents.<fixed time>.demo.0`: per-step scalars (train/*, grad_norm, lr, epoch);
- `metrics.csv`: Lightning-style sparse rows (per-epoch training means on one row, validation on another);
- `ckpt_epoch_XXX.pt`: small checkpoints (the last one holds NaN weights) for the Training page's markers
  and for weight health.
"""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

FAMILY_DIR = "training"
RUN_NAME = "exploding_run"
SEED = 0
BASE_LR = 1e-3
HEAD_LR = 30.0  # the mistake: plain SGD on the heads at a rate only stable while the semantic weight is low
SEMANTIC_DIM = 16
QUICK_HEAD_LR = 120.0
RAMP_STEPS = 300  # the semantic loss weight ramps 0 -> 1; the effective head step grows with it
WALL_START = 1_767_225_600.0  # fixed wall times keep the event file identical between builds


class TinyVQ(nn.Module):
    """Encoder -> nearest-code quantizer (straight-through) -> decoder, plus a classifier and a semantic
    regression head reading the encoder output."""

    def __init__(self, in_dim: int = 64, hidden: int = 32, dim: int = 8, codes: int = 16, classes: int = 10):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.codebook = nn.Embedding(codes, dim)
        self.decoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, in_dim))
        self.classifier = nn.Linear(dim, classes)
        self.semantic = nn.Linear(dim, SEMANTIC_DIM)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        idx = torch.cdist(z, self.codebook.weight).argmin(dim=1)
        q = self.codebook(idx)
        z_q = z + (q - z).detach()
        return {
            "recon": F.mse_loss(self.decoder(z_q), x),
            "commitment": F.mse_loss(z, q.detach()) + F.mse_loss(q, z.detach()),
            "logits": self.classifier(z),
            "semantic": self.semantic(z),
        }


def _grad_norm(model: nn.Module) -> float:
    norms = [p.grad.detach().norm() for p in model.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED))
    train, val = perm[:1400], perm[1400:]
    return x[train], y[train], x[val], y[val]


def train_exploding(
    out_dir: Path, *, epochs: int = 12, head_lr: float = HEAD_LR, batch_size: int = 50
) -> dict[str, float]:
    """Train until the run goes NaN (or `epochs` end); write logs and checkpoints into `out_dir`.
    Returns {"first_nan_step", "epochs"} (first_nan_step NaN when it never diverged)."""
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    xt, yt, xv, yv = _data()
    targets = torch.randn(10, SEMANTIC_DIM, generator=torch.Generator().manual_seed(SEED))
    model = TinyVQ()
    heads = ("semantic.", "classifier.")
    head = [p for n, p in model.named_parameters() if n.startswith(heads)]
    rest = [p for n, p in model.named_parameters() if not n.startswith(heads)]
    opt_rest = torch.optim.Adam(rest, lr=BASE_LR)
    opt_head = torch.optim.SGD(head, lr=head_lr)
    tb_dir = out_dir / "tb"
    shutil.rmtree(tb_dir, ignore_errors=True)
    writer = SummaryWriter(str(tb_dir))
    rows: list[dict[str, object]] = []
    step, first_nan = 0, math.nan
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        sums = dict.fromkeys(("recon", "commitment", "classification", "semantic"), 0.0)
        batches = 0
        for idx in torch.randperm(len(xt), generator=gen).split(batch_size):
            out = model(xt[idx])
            losses = {
                "recon": out["recon"],
                "commitment": out["commitment"],
                "classification": F.cross_entropy(out["logits"], yt[idx]),
                "semantic": F.mse_loss(out["semantic"], targets[yt[idx]]),
            }
            weight = min(1.0, step / RAMP_STEPS)
            loss = losses["recon"] + 0.25 * losses["commitment"] + losses["classification"]
            loss = loss + weight * losses["semantic"]
            opt_rest.zero_grad()
            opt_head.zero_grad()
            loss.backward()
            gnorm = _grad_norm(model)
            opt_rest.step()
            opt_head.step()
            values = {f"train/{k}": v.item() for k, v in losses.items()}
            values.update(
                {
                    "train/loss": loss.item(),
                    "grad_norm": gnorm,
                    "lr/head": head_lr,
                    "semantic_weight": weight,
                    "epoch": float(epoch),
                }
            )
            for tag, value in values.items():
                writer.add_scalar(tag, value, step, walltime=WALL_START + step)
            for key in sums:
                sums[key] += values[f"train/{key}"]
            batches += 1
            if math.isnan(first_nan) and not math.isfinite(values["train/loss"]):
                first_nan = float(step)
            step += 1
        val = _validate(model, xv, yv, targets)
        rows.append(
            {"epoch": epoch, "step": step - 1, **{f"train_{k}_epoch": v / batches for k, v in sums.items()}}
        )
        rows.append({"epoch": epoch, "step": step - 1, **val})
        _save_checkpoint(out_dir / f"ckpt_epoch_{epoch:03d}.pt", model, epoch, step - 1, val, head_lr)
        if not math.isnan(first_nan):
            break
    writer.close()
    _rename_event_file(tb_dir)
    _write_metrics_csv(out_dir / "metrics.csv", rows)
    return {"first_nan_step": first_nan, "epochs": float(epoch + 1)}


@torch.no_grad()
def _validate(model: TinyVQ, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    out = model(x)
    return {
        "val_recon": out["recon"].item(),
        "val_classification": F.cross_entropy(out["logits"], y).item(),
        "val_semantic": F.mse_loss(out["semantic"], targets[y]).item(),
        "val_accuracy": (out["logits"].argmax(1) == y).float().mean().item(),
    }


def _save_checkpoint(
    path: Path, model: TinyVQ, epoch: int, step: int, val: dict[str, float], head_lr: float
) -> None:
    state = {
        "epoch": epoch,
        "global_step": step,
        "model_state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "val_loss": val["val_classification"],
        "config": {"model": "TinyVQ", "base_lr": BASE_LR, "head_lr": head_lr, "seed": SEED},
    }
    torch.save(state, path)


def _rename_event_file(tb_dir: Path) -> None:
    """The writer names files after host, pid and clock; one stable name keeps rebuilds comparable."""
    for i, f in enumerate(sorted(tb_dir.glob("events.out.tfevents.*"))):
        f.rename(tb_dir / f"events.out.tfevents.{int(WALL_START)}.demo.{i}")


def _write_metrics_csv(path: Path, rows: list[dict[str, object]]) -> None:
    """Lightning writes one CSV with the union of all keys; each row fills only the keys it logged."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})


def _cell(value: object) -> object:
    return repr(float(value)) if isinstance(value, float) and not math.isfinite(value) else value


def build(out_dir: Path, *, quick: bool = False) -> None:
    """Write `training/exploding_run/` under `out_dir` (the demo root). `quick` trains the same recipe
    with an even higher head rate, so it blows up within a few epochs (for tests)."""
    run = Path(out_dir) / FAMILY_DIR / RUN_NAME
    for old in run.glob("ckpt_epoch_*.pt"):  # a rebuild that stops at another epoch must not mix runs
        old.unlink()
    if quick:
        train_exploding(run, epochs=6, head_lr=QUICK_HEAD_LR)
    else:
        train_exploding(run)
