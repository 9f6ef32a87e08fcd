"""CollapseGuard in a plain loop: stops within one check interval of a collapse, never on a healthy run,
leaves training untouched, logs TensorBoard scalars and a findings file. Each runs on the reference
VQ-VAE (its own adapter) and on models laid out like public repositories' (a VQGAN and a VAE from the
corpus), which the guard reads by role through the live adapter."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from core.adapters.codebook import ReferenceVQVAEAdapter
from core.adapters.live import evaluating
from core.guard import FINDINGS_FILE, CollapseDetected, CollapseGuard, GuardError, subsample
from core.io.logs import scan_run_folder
from core.io.probe import ProbeData, save_probe
from tests import guard_fixtures as fx
from tests.corpus import layouts

STEPS, EVERY, COLLAPSE_FROM = 160, 20, 40
RECIPES = [fx.REFERENCE, fx.TAMING, fx.EXAMPLES_VAE]
by_name = pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])


def train(
    guard: CollapseGuard | None,
    collapse_from: int | None,
    steps: int = STEPS,
    model=None,
    recipe: fx.Recipe = fx.REFERENCE,
):
    """Plain loop with the guard checked after each optimiser step; returns (model, steps, oracle)."""
    model = model or recipe.make_model()
    opt = recipe.optimiser(model)
    x = torch.from_numpy(recipe.data())
    gen = torch.Generator().manual_seed(0)
    probe = recipe.probe_x()
    oracle: list[bool] = []
    step = 0
    while step < steps:
        for batch in torch.randperm(len(x), generator=gen).split(fx.BATCH):
            loss = recipe.loss_at(model, x[batch], step, collapse_from)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            oracle.append(recipe.oracle(model, probe)[0])
            if guard is not None:
                guard.check(model, step)
                if guard.should_stop or step == steps:
                    return model, step, oracle
            elif step == steps:
                return model, step, oracle
    return model, step, oracle


def first_collapse(oracle: list[bool]) -> int | None:
    return next((i + 1 for i, c in enumerate(oracle) if c), None)


@by_name
def test_collapsing_run_stops_at_the_first_check_after_the_collapse(tmp_path, recipe):
    guard = CollapseGuard(recipe.probe_x(), every_n_steps=EVERY, on_collapse="stop", log_dir=tmp_path)
    with pytest.warns(UserWarning, match="collapse at step"):
        model, stopped, oracle = train(guard, COLLAPSE_FROM, recipe=recipe)
    collapse = first_collapse(oracle)
    assert collapse is not None and collapse > COLLAPSE_FROM  # healthy first, then trained into collapse
    assert guard.stopped_at == stopped
    assert collapse <= stopped < collapse + EVERY
    assert stopped % EVERY == 0
    assert [c.step for c in guard.checks] == list(range(EVERY, stopped + 1, EVERY))
    assert [c.collapsed for c in guard.checks] == [oracle[c.step - 1] for c in guard.checks]
    last = guard.checks[-1]
    assert last.action == "stop" and last.adapters == (recipe.adapter,)
    tag = f"collapse/{recipe.kind}/{recipe.metric}"
    assert last.scalars()[f"collapse/{recipe.kind}/severity"] == 3.0
    # The guard's rows: the whole probe for codebooks, its seeded max_rows subset otherwise.
    rows = recipe.probe_x()
    if recipe.kind != "codebook":
        rows = subsample(ProbeData(x=rows), guard.max_rows).x
    assert last.scalars()[tag] == pytest.approx(recipe.oracle(model, rows)[1], rel=1e-5)
    guard.close()

    lines = [json.loads(line) for line in (tmp_path / FINDINGS_FILE).read_text().splitlines()]
    assert [r["step"] for r in lines] == [c.step for c in guard.checks]
    assert lines[-1]["collapsed"] is True and lines[-1]["findings"][0]["kind"] == recipe.kind
    run = scan_run_folder(tmp_path)
    steps, values = run.series(tag)
    assert steps.tolist() == [float(c.step) for c in guard.checks]
    assert values[-1] == pytest.approx(last.findings[0].metrics[recipe.metric])


@by_name
def test_healthy_run_never_stops(recipe):
    guard = CollapseGuard(recipe.probe_x(), every_n_steps=EVERY, on_collapse="stop")
    _, stopped, oracle = train(guard, None, recipe=recipe)
    assert first_collapse(oracle) is None
    assert stopped == STEPS and not guard.should_stop
    assert len(guard.checks) == STEPS // EVERY
    assert all(c.findings[0].severity in ("ok", "warning") and not c.errors for c in guard.checks)
    assert {c.adapters for c in guard.checks} == {(recipe.adapter,)}


@by_name
def test_a_guarded_run_trains_exactly_like_an_unguarded_one(recipe):
    plain, _, _ = train(None, COLLAPSE_FROM, steps=60, recipe=recipe)
    guard = CollapseGuard(recipe.probe_x(), every_n_steps=7, on_collapse="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guarded, _, _ = train(guard, COLLAPSE_FROM, steps=60, recipe=recipe)
    assert len(guard.checks) == 8 and all(c.findings for c in guard.checks)
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
    py_before = random.getstate()
    with pytest.raises(RuntimeError, match="boom"), evaluating(model):
        assert not any(m.training for m in model.modules())
        assert not torch.is_grad_enabled()
        for p in model.parameters():
            p.requires_grad_(True)
        torch.rand(5)
        np.random.rand(5)
        random.random()
        raise RuntimeError("boom")
    assert model.training and model.encoder.training and not model.decoder.training
    assert not frozen.requires_grad and model.encoder.net[2].weight.requires_grad
    assert torch.equal(torch.get_rng_state(), before)
    assert np.array_equal(np.random.get_state()[1], np_before)
    assert random.getstate() == py_before
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
    with pytest.warns(UserWarning, match="decided nothing: VQVAE is a codebook model: it has no posterior"):
        assert CollapseGuard(x, families="posterior").run(fx.make_model(), 1).findings == ()
    wrapped = Unknown()
    check = CollapseGuard(x).run(wrapped, 1)  # the reference model is found inside a wrapper
    assert check.adapters == ("vqvae_digits",)
    own = CollapseGuard(x, adapter=lambda m: ReferenceVQVAEAdapter(m.inner)).run(wrapped, 1)
    assert own.findings[0].metrics == check.findings[0].metrics


def test_the_generic_path_guards_the_families_a_model_has():
    images = layouts.images(0)
    with pytest.warns(UserWarning, match="collapse at step 1: codebook"):
        both = CollapseGuard(images, families=("codebook", "posterior")).run(layouts.taming(True), 1)
    assert both.adapters == ("live_codebook",) and not both.errors
    assert [(f.kind, f.severity) for f in both.findings] == [("codebook", "collapse")]
    with pytest.warns(UserWarning, match="decided nothing: TamingVQGAN has no posterior heads"):
        none = CollapseGuard(images, families="posterior").run(layouts.taming(True), 1)
    assert none.findings == () and not none.collapsed
    with pytest.warns(UserWarning, match="no known part; roles found: nothing"):
        CollapseGuard(images).run(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), 1)


@pytest.mark.parametrize(
    ("build", "probe", "adapter"),
    [
        (fx.make_model, fx.probe_x, "live_codebook"),  # the reference VQ-VAE away from CPU float32
        (lambda: layouts.taming(True), lambda: layouts.images(0), "live_codebook"),
        (lambda: layouts.examples_vae(False), fx.vae_probe, "live_posterior"),
    ],
    ids=["reference", "taming", "examples_vae"],
)
def test_a_float64_model_is_measured_as_in_float32_and_stays_float64(build, probe, adapter):
    model = build().double().train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the collapsed VQGAN's verdict is asserted below
        single = CollapseGuard(probe(), every_n_steps=1).run(build(), 1)
        double = CollapseGuard(probe(), every_n_steps=1).run(model, 1)
    assert double.adapters == (adapter,) and not double.errors
    assert [f.severity for f in double.findings] == [f.severity for f in single.findings]
    for key, value in single.findings[0].metrics.items():
        assert double.findings[0].metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    assert all(p.dtype == torch.float64 for p in model.parameters()) and model.training


def test_a_half_precision_reference_model_is_read_where_its_weights_are():
    model = fx.make_model().to(torch.bfloat16)
    check = CollapseGuard(fx.probe_x(), every_n_steps=1).run(model, 1)
    assert check.adapters == ("live_codebook",) and not check.errors
    with torch.no_grad():
        codes = model.code_indices(torch.from_numpy(fx.probe_x()).to(torch.bfloat16)).numpy()
    ratio, _ = fx.usage(codes, fx.CONFIG.num_embeddings)
    assert check.findings[0].metrics["code_perplexity_ratio"] == pytest.approx(ratio)  # the model's own picks


def test_importing_the_guard_loads_no_trainer_library_or_streamlit():
    code = (
        "import sys, core.guard; "
        "print(sorted(m for m in ('lightning', 'pytorch_lightning', 'transformers', 'streamlit') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_timeline_reads_the_guard_checks_and_skips_what_is_not_one(tmp_path):
    from core.timeline import guard_points, metric_series

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
