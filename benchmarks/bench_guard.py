"""Guard overhead target: one check on a demo model costs at most 5% of an epoch of that model's demo
training, so checking every few hundred steps is cheap. Baseline in the same process: the demo trainer
itself (core.demo.<family>.train_run), one epoch taken as (time of 3 epochs - time of 1 epoch) / 2 so the
set-up and file writes cancel. The check runs on the shipped last-epoch checkpoints (collapsed and fixed)
in train mode, as the guard meets them during training, with the shipped probe cut to the guard's
default rows (and, for reference, 128 rows and all of it; codebook checks always use the whole probe);
best of 5 each. Torch and BLAS run on one thread.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits
from timing import best_of, timed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import DEMO_DIR  # noqa: E402
from core.checkpoints import load_checkpoint  # noqa: E402
from core.guard import CollapseGuard  # noqa: E402
from core.paths import demo_checkpoints  # noqa: E402
from core.probe import load_probe  # noqa: E402

TARGET_RATIO = 0.05
DEFAULT_ROWS = CollapseGuard.max_rows  # the target is checked for the default; 128 and all rows for reference


def epoch_seconds(train: Callable[[int, Path], object]) -> float:
    """One epoch of a demo trainer: (3 epochs - 1 epoch) / 2, each in a fresh temp folder."""
    with tempfile.TemporaryDirectory() as tmp:
        train(1, Path(tmp) / "warm-up")  # imports, data loading and first-call costs
        one = min(timed(lambda: train(1, Path(tmp) / "a"))[1] for _ in range(3))
        three = min(timed(lambda: train(3, Path(tmp) / "b"))[1] for _ in range(3))
    return (three - one) / 2


def codebook_trainer(epochs: int, out: Path) -> object:
    from core.demo.codebook import RECIPES, train_run

    return train_run(RECIPES[0], out, epochs=epochs, save_epochs=())


def posterior_trainer(epochs: int, out: Path) -> object:
    from core.demo.posterior import RECIPES, train_run

    return train_run(RECIPES[0], out, epochs=epochs, save_epochs=())


def flow_trainer(epochs: int, out: Path) -> object:
    from dataclasses import replace

    from core.demo.corpus import demo_corpus, split_corpus
    from core.demo.flow import PROBE_ROWS, RUNS, SEED, train_run

    _, embeddings, attributes, names = demo_corpus(DEMO_DIR)
    train, held = split_corpus(len(embeddings), PROBE_ROWS, SEED)
    settings = replace(RUNS[0], epochs=epochs, checkpoint_epochs=())
    return train_run(
        settings, embeddings[train], attributes[train], names, out, (embeddings[held], attributes[held])
    )


def live_model(path: Path) -> torch.nn.Module:
    """The demo checkpoint rebuilt as the nn.Module its trainer trains, in train mode."""
    from core.adapters.registry import build_adapter
    from core.models.vectorfield import VectorFieldNetwork
    from core.models.vqvae import build_vqvae

    loaded = load_checkpoint(path)
    family = build_adapter(loaded).family
    if family == "codebook":
        model = build_vqvae(loaded.state_dict, loaded.config)
    elif family == "posterior":
        model = build_adapter(loaded).model
    else:
        c = loaded.config
        model = VectorFieldNetwork(c["embedding_dim"], c["num_attributes"], c["hidden_dim"])
        model.load_state_dict(loaded.state_dict)
    return model.train()


def check_seconds(path: Path, max_rows: int | None) -> float:
    probe = load_probe(path.parent / "probe.npz")
    model = live_model(path)
    guard = CollapseGuard(probe, every_n_steps=1, max_rows=max_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guard.run(model, 1)  # first call imports the family modules
        return best_of(lambda: guard.run(model, 1), 5)


def main() -> int:
    # One thread for torch and BLAS alike, as the demo builders train: on a shared machine a second
    # BLAS thread makes the spectrum's eigvalsh several times slower and the figures meaningless.
    torch.set_num_threads(1)
    with threadpool_limits(1):
        return measure()


def measure() -> int:
    ok = True
    for family, trainer in (
        ("codebook", codebook_trainer),
        ("posterior", posterior_trainer),
        ("flow", flow_trainer),
    ):
        epoch = epoch_seconds(trainer)
        for run in sorted((DEMO_DIR / family).iterdir()):
            files = [p for p in demo_checkpoints() if p.parent == run]
            if not files:
                continue
            for max_rows in (DEFAULT_ROWS, 128, None):
                check = check_seconds(files[-1], max_rows)
                ratio = check / epoch
                if max_rows == DEFAULT_ROWS:
                    ok &= ratio <= TARGET_RATIO
                rows = f"{max_rows} rows" if max_rows else "all rows"
                print(
                    f"{family:9s} {run.name:10s} {rows:9s} check {check * 1000:7.1f} ms  "
                    f"epoch {epoch * 1000:7.1f} ms  ratio {ratio:6.3f}  (target <= {TARGET_RATIO})"
                )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
