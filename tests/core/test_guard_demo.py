"""The demo's collapsing codebook run (core.demo.codebook, its reference VQ-VAE and trainer settings),
retrained with the guard in its own loop, stops at the first check after perplexity / K on the probe
falls below the collapse threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.demo.codebook import RECIPES, SEED, digits_split, train_run
from core.diagnosis.codebook import severity_of
from core.guard import FINDINGS_FILE, CollapseGuard
from core.models.codebook import VQVAE, VQVAEConfig
from tests.guard_fixtures import probe_usage

EVERY = 50


class Watched:
    """The guard, with the probe state recorded after every step before the guard looks."""

    def __init__(self, guard: CollapseGuard, x: np.ndarray) -> None:
        self.guard, self.x, self.states = guard, x, {}

    @property
    def should_stop(self) -> bool:
        return self.guard.should_stop

    def check(self, model, step, *, epoch=None):
        self.states[step] = probe_usage(model, self.x)
        return self.guard.check(model, step, epoch=epoch)


@pytest.mark.slow
def test_demo_collapsing_run_stops_at_the_first_check_after_the_collapse(tmp_path):
    _, _, x_probe, y_probe = digits_split()
    torch.manual_seed(SEED)
    initial = probe_usage(VQVAE(VQVAEConfig()).eval(), x_probe)  # train_run builds the same model
    guard = CollapseGuard(
        {"x": x_probe, "labels": y_probe}, every_n_steps=EVERY, on_collapse="stop", log_dir=tmp_path / "guard"
    )
    watched = Watched(guard, x_probe)
    with pytest.warns(UserWarning, match="collapse at step"):
        log = train_run(RECIPES[0], tmp_path / "run", epochs=40, save_epochs=(), guard=watched)
    states = {0: initial, **watched.states}
    collapsed = [s for s, (ratio, dead) in sorted(states.items()) if severity_of(ratio, dead) == "collapse"]
    first = collapsed[0]
    expected_stop = next(s for s in range(EVERY, 10**6, EVERY) if s >= first and s in collapsed)
    assert guard.stopped_at == expected_stop
    assert log[-1]["step"] == guard.stopped_at  # the loop ended right after that check
    last = guard.checks[-1].findings[0]
    assert last.severity == "collapse"
    assert last.metrics["code_perplexity_ratio"] == pytest.approx(states[guard.stopped_at][0])
    record = json.loads((tmp_path / "guard" / FINDINGS_FILE).read_text().splitlines()[-1])
    assert record["step"] == guard.stopped_at and record["action"] == "stop"
