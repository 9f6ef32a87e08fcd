"""Guard overhead target: one check on a demo model costs at most 5% of an epoch of that model's demo
training, so checking every few hundred steps is cheap. Baseline in the same process: the demo trainer
itself (core.demo.<family>.train_run), one epoch taken as (time of 3 epochs - time of 1 epoch) / 2 so the
set-up and file writes cancel. The check runs on the shipped last-epoch checkpoints (collapsed and fixed)
in train mode, as the guard meets them during training, with the shipped probe cut to the guard's
default rows (and, for reference, 128 rows and all of it; codebook checks always use the whole probe);
best of 5 each. Torch and BLAS run on one thread.

Then the generic path: the same reference VQ-VAE read through the role-based live adapter instead of
its own (ratio live / reference, same model, same probe), and each runnable model of the corpus of
public layouts (tests/corpus/layouts.py, healthy and collapsed) guarded on its corpus probe, against
one training step of that model on the same rows (forward + backward of its first output) in the same
process: a check costing R steps adds R / every_n_steps to training.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from timing import best_of, timed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import DEMO_DIR  # noqa: E402
from core.guard import CollapseGuard  # noqa: E402
from core.io.checkpoints import load_checkpoint  # noqa: E402
from core.io.paths import demo_checkpoints  # noqa: E402
from core.io.probe import load_probe  # noqa: E402

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
    from core.models.codebook import build_vqvae
    from core.models.flow import VectorFieldNetwork

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


def generic_path() -> None:
    """Reference vs live adapter on the demo's VQ-VAE, then the corpus models through the live adapter."""
    from core.adapters.live import adapter_from_module
    from tests.corpus.layouts import CORPUS

    path = [p for p in demo_checkpoints() if p.parent.parent.name == "codebook"][-1]
    probe = load_probe(path.parent / "probe.npz")
    model = live_model(path)
    seconds = {}
    for name, factory in (("reference", None), ("live", adapter_from_module)):
        guard = CollapseGuard(probe, every_n_steps=1, adapter=factory)
        guard.run(model, 1)
        seconds[name] = best_of(lambda g=guard: g.run(model, 1), 5)
    print(
        f"codebook  {path.parent.name:10s} reference adapter {seconds['reference'] * 1000:7.1f} ms  "
        f"live adapter {seconds['live'] * 1000:7.1f} ms  ratio {seconds['live'] / seconds['reference']:5.2f}"
    )
    for entry in CORPUS:
        if entry.builder_probe is None:
            continue
        for collapsed in (True, False):
            model = entry.build(collapsed).train()
            fields = entry.builder_probe()
            guard = CollapseGuard(fields, every_n_steps=1)
            check = guard.run(model, 1)
            seconds = best_of(lambda g=guard, m=model: g.run(m, 1), 5)
            step = best_of(lambda m=model, f=fields: training_step(m, f), 5)
            verdict = ", ".join(f"{f.kind} {f.severity}" for f in check.findings) or "; ".join(check.errors)
            rows = len(next(iter(fields.values())))
            print(
                f"{entry.project[:34]:34s} {'collapsed' if collapsed else 'healthy':9s} {rows:4d} rows  "
                f"check {seconds * 1000:7.1f} ms  step {step * 1000:6.1f} ms  ratio {seconds / step:6.1f}  "
                f"{check.adapters[0] if check.adapters else '-'}: {verdict}"
            )


def training_step(model: torch.nn.Module, fields: dict) -> None:
    """Forward and backward of the model's first floating output on the probe rows (a flow field on
    [embeddings, attributes]); gradients are dropped, the weights left as they were."""
    if "x" in fields:
        x = torch.from_numpy(fields["x"])
    else:
        x = torch.from_numpy(np.concatenate([fields["embeddings"], fields["attributes"]], axis=1)).float()
    out = model(x)
    first = out if isinstance(out, torch.Tensor) else next(t for t in out if isinstance(t, torch.Tensor))
    first.float().sum().backward()
    model.zero_grad(set_to_none=True)


def main() -> int:
    # One thread for torch and BLAS alike, as the demo builders train: on a shared machine a second
    # BLAS thread makes the spectrum's eigvalsh several times slower and the figures meaningless.
    torch.set_num_threads(1)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = measure()
        generic_path()
    return status


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
