"""Demo zoo for codebook collapse: two seeded VQ-VAE runs on scikit-learn's bundled 8x8 digits.

`collapsing`: classifier loss from step 0, no reseeding; the encoder's early outputs sit near the origin,
so only the few codes nearest it ever win and the rest stay dead. `fixed`: a VQ-only warm-up (no
semantic loss) with dead-code reseeding onto live encoder outputs, then the classifier joins. The fixed
run is saved in the component-dict layout ({encoder, quantizer, decoder, semantic_heads, optimizer, ...})
so that layout ships too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ..metrics.codebook import perplexity
from ..models.codebook import VQVAE, VQVAEConfig

if TYPE_CHECKING:
    from ..guard import CollapseGuard

SEED = 0
FAMILY_DIR = "codebook"
PROBE_SIZE = 360


@dataclass(frozen=True)
class RunRecipe:
    """Training options of one demo run (everything else is shared)."""

    name: str
    warmup_epochs: int
    reseed: bool
    layout: str  # "plain" or "components"
    classification_weight: float = 1.0
    reseed_threshold: float = 0.05


RECIPES = (
    RunRecipe("collapsing", warmup_epochs=0, reseed=False, layout="plain"),
    RunRecipe("fixed", warmup_epochs=8, reseed=True, layout="components"),
)


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_probe, y_probe); x float32 [N, 64] in [0, 1], labels int64."""
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_tr, x_pr, y_tr, y_pr = train_test_split(x, y, test_size=PROBE_SIZE, random_state=SEED, stratify=y)
    return x_tr, y_tr, x_pr, y_pr


def _save(path: Path, model: VQVAE, opt: torch.optim.Optimizer, recipe: RunRecipe, row: dict) -> None:
    config = {**model.config.to_dict(), "run": recipe.name, "warmup_epochs": recipe.warmup_epochs}
    config["reseed_dead_codes"] = recipe.reseed
    if recipe.layout == "components":
        state = {
            name: getattr(model, name).state_dict()
            for name in ("encoder", "quantizer", "decoder", "semantic_heads")
        }
        state.update(optimizer=opt.state_dict(), epoch=row["epoch"], config=config)
    else:
        state = {
            "epoch": row["epoch"],
            "global_step": row["step"],
            "model_state_dict": model.state_dict(),
            "config": config,
            "val_loss": row["val_recon"],
            "val_perplexity": row["val_perplexity"],
        }
    torch.save(state, path)


def train_run(
    recipe: RunRecipe,
    out_dir: Path,
    *,
    epochs: int,
    save_epochs: tuple[int, ...],
    batch_size: int = 64,
    guard: CollapseGuard | None = None,
) -> list[dict]:
    """Train one run, writing checkpoints, `training_log.json` and `probe.npz` into out_dir; returns the log.

    With a `guard`, it is checked after every optimiser step and training ends early when it says stop
    (the last epoch's row then covers the batches trained)."""
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    x_tr, y_tr, x_pr, y_pr = digits_split()
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    xp, yp = torch.from_numpy(x_pr), torch.from_numpy(y_pr)
    model = VQVAE(VQVAEConfig())
    k = model.config.num_embeddings
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    out_dir.mkdir(parents=True, exist_ok=True)
    log: list[dict] = []
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        semantic = epoch > recipe.warmup_epochs
        sums = {"recon": 0.0, "commitment": 0.0, "classification": 0.0}
        counts = np.zeros(k, dtype=np.int64)
        seen = 0
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), batch_size):
            batch = order[start : start + batch_size]
            out = model(xt[batch])
            recon = F.mse_loss(out["recon"], xt[batch])
            cls = F.cross_entropy(out["logits"], yt[batch])
            loss = recon + model.config.commitment_cost * out["commitment"]
            if semantic:
                loss = loss + recipe.classification_weight * cls
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            n = len(batch)
            seen += n
            sums["recon"] += recon.item() * n
            sums["commitment"] += out["commitment"].item() * n
            sums["classification"] += cls.item() * n
            counts += np.bincount(out["indices"].numpy().ravel(), minlength=k)
            if recipe.reseed and step % 5 == 0:
                usage = model.quantizer._ema_cluster_size
                dead = usage < recipe.reseed_threshold * float(usage.mean())
                model.quantizer.reseed(dead, out["z"].detach(), gen)
            if guard is not None and guard.check(model, step, epoch=epoch) and guard.should_stop:
                break
        row = {"epoch": epoch, "step": step, **{key: v / seen for key, v in sums.items()}}
        row["perplexity"] = float(perplexity(counts))
        row["semantic_losses_on"] = semantic
        row.update(_validate(model, xp, yp))
        log.append(row)
        if epoch in save_epochs:
            _save(out_dir / f"vqvae_epoch_{epoch:03d}.pt", model, opt, recipe, row)
        if guard is not None and guard.should_stop:
            break
    (out_dir / "training_log.json").write_text(json.dumps(log, indent=1))
    np.savez_compressed(out_dir / "probe.npz", x=x_pr, labels=y_pr)
    return log


@torch.no_grad()
def _validate(model: VQVAE, xp: torch.Tensor, yp: torch.Tensor) -> dict:
    model.eval()
    out = model(xp)
    counts = np.bincount(out["indices"].numpy().ravel(), minlength=model.config.num_embeddings)
    return {
        "val_recon": F.mse_loss(out["recon"], xp).item(),
        "val_classification": F.cross_entropy(out["logits"], yp).item(),
        "val_accuracy": (out["logits"].argmax(1) == yp).float().mean().item(),
        "val_perplexity": float(perplexity(counts)),
    }


def build(out_dir: Path, *, quick: bool = False) -> None:
    """Write both runs under out_dir/codebook/<run>/ (out_dir is the demo root; quick: 6 epochs, for tests)."""
    torch.set_num_threads(1)
    epochs, save = (6, (2, 4, 6)) if quick else (40, (1, 5, 10, 20, 40))
    for recipe in RECIPES:
        run = Path(out_dir) / FAMILY_DIR / recipe.name
        for old in run.glob("vqvae_epoch_*.pt"):  # a rebuild with other save epochs must not mix runs
            old.unlink()
        if quick and recipe.warmup_epochs:
            recipe = replace(recipe, warmup_epochs=2)
        train_run(recipe, run, epochs=epochs, save_epochs=save)
