"""CollapseGuard in a plain loop: stops within one check interval of a collapse, never on a healthy run,
leaves training untouched, logs TensorBoard scalars and a findings file."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from core.adapters.codebook import ReferenceVQVAEAdapter
from core.guard import FINDINGS_FILE, CollapseDetected, CollapseGuard, GuardError, evaluating
from core.logs import scan_run_folder
from core.probe import ProbeData, save_probe
from tests import guard_fixtures as fx

STEPS, EVERY, COLLAPSE_FROM = 160, 20, 40


def train(guard: CollapseGuard | None, collapse_from: int | None, steps: int = STEPS, model=None):
    """Plain loop with the guard checked after each optimiser step; returns (model, steps, oracle)."""
    model = model or fx.make_model()
    opt = fx.optimiser(model)
    x = torch.from_numpy(fx.data())
    gen = torch.Generator().manual_seed(0)
    probe = fx.probe_x()
    oracle: list[bool] = []
    step = 0
    while step < steps:
        for batch in torch.randperm(len(x), generator=gen).split(fx.BATCH):
            loss = fx.loss_at(model, x[batch], step, collapse_from)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            oracle.append(fx.oracle_collapsed(model, probe)[0])
            if guard is not None:
                guard.check(model, step)
                if guard.should_stop or step == steps:
                    return model, step, oracle
            elif step == steps:
                return model, step, oracle
    return model, step, oracle


def first_collapse(oracle: list[bool]) -> int | None:
    return next((i + 1 for i, c in enumerate(oracle) if c), None)


def test_collapsing_run_stops_at_the_first_check_after_the_collapse(tmp_path):
    guard = CollapseGuard(fx.probe_x(), every_n_steps=EVERY, on_collapse="stop", log_dir=tmp_path)
    with pytest.warns(UserWarning, match="collapse at step"):
        model, stopped, oracle = train(guard, COLLAPSE_FROM)
    collapse = first_collapse(oracle)
    assert collapse is not None and collapse > COLLAPSE_FROM  # healthy first, then trained into collapse
    assert guard.stopped_at == stopped
    assert collapse <= stopped < collapse + EVERY
    assert stopped % EVERY == 0
    assert [c.step for c in guard.checks] == list(range(EVERY, stopped + 1, EVERY))
    assert [c.collapsed for c in guard.checks] == [oracle[c.step - 1] for c in guard.checks]
    last = guard.checks[-1]
    assert last.action == "stop" and last.adapters == ("vqvae_digits",)
    assert last.scalars()["collapse/codebook/severity"] == 3.0
    ratio = last.scalars()["collapse/codebook/code_perplexity_ratio"]
    assert ratio == pytest.approx(fx.oracle_collapsed(model, fx.probe_x())[1])
    guard.close()

    lines = [json.loads(line) for line in (tmp_path / FINDINGS_FILE).read_text().splitlines()]
    assert [r["step"] for r in lines] == [c.step for c in guard.checks]
    assert lines[-1]["collapsed"] is True and lines[-1]["findings"][0]["kind"] == "codebook"
    run = scan_run_folder(tmp_path)
    steps, values = run.series("collapse/codebook/code_perplexity_ratio")
    assert steps.tolist() == [float(c.step) for c in guard.checks]
    assert values[-1] == pytest.approx(last.findings[0].metrics["code_perplexity_ratio"])


def test_healthy_run_never_stops():
    guard = CollapseGuard(fx.probe_x(), every_n_steps=EVERY, on_collapse="stop")
    _, stopped, oracle = train(guard, None)
    assert first_collapse(oracle) is None
    assert stopped == STEPS and not guard.should_stop
    assert len(guard.checks) == STEPS // EVERY
    assert all(c.findings[0].severity in ("ok", "warning") for c in guard.checks)


def test_a_guarded_run_trains_exactly_like_an_unguarded_one():
    plain, _, _ = train(None, COLLAPSE_FROM, steps=60)
    guard = CollapseGuard(fx.probe_x(), every_n_steps=7, on_collapse="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guarded, _, _ = train(guard, COLLAPSE_FROM, steps=60)
    assert len(guard.checks) == 8
    for (name, a), b in zip(plain.state_dict().items(), guarded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_raise_mode_raises_with_the_findings():
    guard = CollapseGuard(fx.probe_x(), every_n_steps=EVERY, on_collapse="raise")
    with pytest.raises(CollapseDetected, match="collapse at step") as caught:
        train(guard, COLLAPSE_FROM)
    assert caught.value.check.collapsed and caught.value.check.step % EVERY == 0


def test_evaluating_restores_every_flag_and_rng_even_after_an_error():
    model = fx.make_model()
    model.train()
    model.decoder.eval()  # a mixed state must come back exactly, not as model.train()
    frozen = model.encoder.net[0].weight
    frozen.requires_grad_(False)
    before = torch.get_rng_state()
    np_before = np.random.get_state()[1].copy()
    with pytest.raises(RuntimeError, match="boom"), evaluating(model):
        assert not any(m.training for m in model.modules())
        assert not torch.is_grad_enabled()
        for p in model.parameters():
            p.requires_grad_(True)
        torch.rand(5)
        np.random.rand(5)
        raise RuntimeError("boom")
    assert model.training and model.encoder.training and not model.decoder.training
    assert not frozen.requires_grad and model.encoder.net[2].weight.requires_grad
    assert torch.equal(torch.get_rng_state(), before)
    assert np.array_equal(np.random.get_state()[1], np_before)
    assert torch.is_grad_enabled()


def test_a_check_runs_once_per_due_step():
    guard = CollapseGuard(fx.probe_x(), every_n_steps=5)
    model = fx.make_model()
    assert guard.check(model, 4) is None
    assert guard.check(model, 0) is None
    assert guard.check(model, 5) is not None
    assert guard.check(model, 5) is None  # gradient accumulation repeats a step
    assert guard.check(model, 10).step == 10


def test_probe_forms(tmp_path):
    x = fx.probe_x()
    save_probe(tmp_path / "probe.npz", ProbeData(x=x))
    model = fx.make_model()
    ratios = set()
    for probe in (x, torch.from_numpy(x), {"x": x}, tmp_path / "probe.npz", ProbeData(x=x)):
        check = CollapseGuard(probe, every_n_steps=1).run(model, 1)
        ratios.add(check.findings[0].metrics["code_perplexity_ratio"])
    assert len(ratios) == 1
    with pytest.raises(GuardError, match="named like ProbeData"):
        CollapseGuard({"inputs": x})
    with pytest.raises(GuardError, match="every_n_steps"):
        CollapseGuard(x, every_n_steps=0)
    with pytest.raises(GuardError, match="on_collapse"):
        CollapseGuard(x, on_collapse="halt")


def test_a_bad_probe_is_an_error_in_the_check_not_a_crash():
    guard = CollapseGuard(np.zeros((8, 3), np.float32), every_n_steps=1)
    with pytest.warns(UserWarning, match="decided nothing"):
        check = guard.run(fx.make_model(), 1)
    assert check.findings == () and "probe x must be [N, 16]" in check.errors[0]
    assert not guard.should_stop


class Unknown(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = fx.make_model()


def test_families_filter_and_own_adapter():
    x = fx.probe_x()
    assert CollapseGuard(x, families="posterior").run(fx.make_model(), 1).findings == ()
    wrapped = Unknown()
    check = CollapseGuard(x).run(wrapped, 1)  # the reference model is found inside a wrapper
    assert check.adapters == ("vqvae_digits",)
    own = CollapseGuard(x, adapter=lambda m: ReferenceVQVAEAdapter(m.inner)).run(wrapped, 1)
    assert own.findings[0].metrics == check.findings[0].metrics


def test_importing_the_guard_loads_no_trainer_library_or_streamlit():
    code = (
        "import sys, core.guard; "
        "print(sorted(m for m in ('lightning', 'pytorch_lightning', 'transformers', 'streamlit') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_timeline_reads_the_guard_checks_and_skips_what_is_not_one(tmp_path):
    from core.runs import guard_points, metric_series

    run = tmp_path / "run" / "lightning_logs" / "version_0"
    guard = CollapseGuard(
        fx.probe_x(), every_n_steps=EVERY, on_collapse="stop", log_dir=run, tensorboard=False
    )
    with pytest.warns(UserWarning):
        train(guard, COLLAPSE_FROM)
    with open(run / FINDINGS_FILE, "a") as handle:
        handle.write('{"format": "other", "step": 3}\n[1, 2]\n{"format": "collapse-explorer-guard/1", "st')
    points, notes = guard_points(tmp_path / "run")
    assert [p.step for p in points] == [c.step for c in guard.checks]
    assert notes == [f"{FINDINGS_FILE}: 3 line(s) that are not guard checks skipped"]
    assert points[-1].report.collapsed and not points[0].report.collapsed
    assert points[-1].report.findings[0].metrics == pytest.approx(guard.checks[-1].findings[0].metrics)
    series = metric_series(points, x="step")
    assert [s for s, _ in series["code_perplexity_ratio"]] == [c.step for c in guard.checks]
    assert guard_points(tmp_path / "elsewhere") == ([], [])


def test_max_rows_cuts_the_probe_except_for_codebooks():
    from core.guard import subsample

    x = fx.data(600, seed=3)
    probe = ProbeData(x=x, labels=np.arange(600) % 7, texts=tuple(str(i) for i in range(600)))
    cut = subsample(probe, 100)
    assert cut.n == 100 and len(cut.texts) == 100
    rows = [int(t) for t in cut.texts]
    assert rows == sorted(set(rows))
    assert np.array_equal(cut.x, x[rows]) and np.array_equal(cut.labels, np.array(rows) % 7)
    assert subsample(probe, 100).texts == cut.texts  # the same rows every time
    assert subsample(probe, None) is probe and subsample(probe, 600) is probe
    check = CollapseGuard(x, max_rows=100).run(fx.make_model(), 1)
    assert check.findings[0].metrics["code_count"] == 600 * fx.CONFIG.num_tokens
