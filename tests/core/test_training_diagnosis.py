"""Training findings from logs and from weights; the exploding demo really explodes."""

import math
from types import SimpleNamespace

import pytest
import torch

from core.demo.training import build
from core.diagnosis.training import (
    checkpoint_training_findings,
    detect_events,
    training_findings,
    watch_table,
    weight_findings,
)
from core.io.checkpoints import load_checkpoint
from core.io.logs import checkpoint_epochs, find_run_folder, scan_run_folder
from core.metrics.health import weight_health
from tests.training_fixtures import exploding_run, healthy_run, write_json


def _health(state: dict, epoch: int = 7):
    return weight_health(SimpleNamespace(path="x.pt", state_dict=state, tied={}, metadata={}, epoch=epoch))


def test_exploding_run_events_in_step_order(tmp_path):
    events = detect_events(scan_run_folder(exploding_run(tmp_path)))
    first = {}
    for e in events:
        first.setdefault((e.kind, e.series), e)
    assert first[("spike", "train/loss")].step == 60
    assert first[("grad_blowup", "grad_norm")].step == 80
    assert first[("nonfinite", "train/loss")].step == 90 and first[("nonfinite", "grad_norm")].step == 90
    divergence = first[("divergence", "val_loss")]
    assert divergence.step == 39 and divergence.epoch == 3  # val best 1.45 at epoch 3, then 1.5, 5.0
    assert "train_loss_epoch" in divergence.detail
    assert [e.step for e in events] == sorted(e.step for e in events)


def test_exploding_run_findings_name_the_start_and_the_fixes(tmp_path):
    findings = training_findings(scan_run_folder(exploding_run(tmp_path)))
    assert [f.severity for f in findings] == ["collapse", "warning"]
    collapse, val = findings
    assert collapse.kind == "training"
    assert collapse.metrics == {
        "first_nonfinite_step": 90,
        "nonfinite_series": 2,
        "trouble_start_step": 39,
        "grad_blowup_step": 80,
        "grad_norm_ratio": pytest.approx(50.0, rel=0.1),
        "loss_spikes": 1,
        "first_spike_step": 60,
    }
    assert "first NaN/Inf at step 90 (epoch 9)" in collapse.summary
    assert "trouble began at step 39 (epoch 3) (divergence in val_loss)" in collapse.summary
    assert "1 loss spike(s) in train/loss from step 60 (epoch 6)" in collapse.summary
    assert (
        "unscale_" in collapse.fix
        and "warm" in collapse.fix
        and "lower the peak learning rate" in collapse.fix
    )
    # The run logs no quantizer or head, so the fix names neither.
    assert not {"quantizer", "VQ", "head"} & set(collapse.fix.replace("(", " ").split())
    assert val.summary.startswith(
        "validation val_loss rises while training falls (lower is better): val_loss 1.45 -> 5"
    )
    assert "early stopping" in val.fix and val.metrics["divergence_step"] == 39
    assert all(f.to_json()["kind"] == "training" for f in findings)


def test_instability_without_nan_is_one_warning(tmp_path):
    log = scan_run_folder(exploding_run(tmp_path, nan_from=100))  # never reaches NaN within 100 steps
    (unstable, _) = training_findings(log)
    assert unstable.severity == "warning" and unstable.summary.startswith("training unstable: gradient norm")
    assert unstable.metrics["grad_blowup_step"] == 80 and unstable.metrics["first_spike_step"] == 60


def test_healthy_run_is_one_ok_finding_with_the_gap(tmp_path):
    (finding,) = training_findings(scan_run_folder(healthy_run(tmp_path)))
    assert finding.severity == "ok" and "in 2 series (steps 50-600)" in finding.summary
    t_last = 2.0 * math.exp(-11 / 4) + 0.2
    assert finding.metrics["val_train_gap[val_loss]"] == pytest.approx(0.1 * t_last)  # val = 1.1 x train


def test_watch_table_compares_components_with_their_usual_range(tmp_path):
    rows = [
        {"step": s, "contrastive_loss": 0.05, "curl": 0.01, "kl": 80.0, "val_curl": 5.0} for s in range(20)
    ]
    write_json(tmp_path / "training_log.json", rows)
    log = scan_run_folder(tmp_path)
    table = {r["series"]: (r["ends at"], r["usual"], r["status"]) for r in watch_table(log)}
    assert table == {
        "contrastive_loss": (0.05, "1-2", "below"),
        "curl": (0.01, "< 0.1", "inside"),
        "kl": (80.0, "> 50", "inside"),
    }
    assert [f.severity for f in training_findings(log)] == ["ok"]  # ranges inform, they are not verdicts


def test_weight_findings():
    nan_state = {"a.weight": torch.tensor([math.nan, 1.0]), "b.weight": torch.tensor([math.inf])}
    (bad,) = weight_findings(_health(nan_state))
    assert bad.severity == "collapse" and "1 NaN and 1 Inf" in bad.summary and "epoch 7" in bad.summary
    assert bad.metrics == {"nonfinite_weights": 2, "nonfinite_tensors": 2}
    (huge,) = weight_findings(_health({"w": torch.tensor([3e5, 1.0])}))
    assert huge.severity == "warning" and "3e+05" in huge.summary
    (bn,) = weight_findings(_health({"bn.running_var": torch.tensor([0.0, 1.0]), "w": torch.ones(1)}))
    assert bn.severity == "warning" and "BatchNorm" in bn.summary
    (ok,) = weight_findings(_health({"w": torch.tensor([0.5, -2.0])}))
    assert ok.severity == "ok" and ok.metrics["max_abs_weight"] == 2.0


def test_training_findings_append_weight_findings(tmp_path):
    health = _health({"w": torch.tensor([math.nan])})
    findings = training_findings(scan_run_folder(healthy_run(tmp_path)), health)
    assert [f.severity for f in findings] == ["ok", "collapse"]


def test_demo_build_really_goes_nan(tmp_path):
    build(tmp_path, quick=True)
    run = tmp_path / "training" / "exploding_run"
    log = scan_run_folder(run)
    assert {s.kind for s in log.sources} == {"tensorboard", "lightning-csv"}
    findings = training_findings(log)
    assert findings[0].severity == "collapse"
    assert findings[0].metrics["trouble_start_step"] < findings[0].metrics["first_nonfinite_step"]
    epochs = checkpoint_epochs(run, log)
    last = torch.load(run / f"ckpt_epoch_{epochs[-1][0]:03d}.pt", weights_only=True)
    first = torch.load(run / "ckpt_epoch_000.pt", weights_only=True)
    assert any(torch.isnan(t).any() for t in last["model_state_dict"].values())
    assert all(torch.isfinite(t).all() for t in first["model_state_dict"].values())
    assert sum(p.stat().st_size for p in run.rglob("*") if p.is_file()) < 1_000_000


def test_checkpoint_findings_only_count_logs_up_to_the_checkpoint(tmp_path):
    exploding_run(tmp_path)
    early, notes = checkpoint_training_findings(load_checkpoint(tmp_path / "model_epoch_002.pt"))
    assert notes == [] and [f.severity for f in early] == ["ok", "ok", "ok"]
    assert (
        "predates the run's divergence" in early[2].summary and early[2].metrics["first_nonfinite_step"] == 90
    )
    assert "(steps 0-29)" in early[1].summary  # epoch 2 ended at step 29
    later, _ = checkpoint_training_findings(load_checkpoint(tmp_path / "model_epoch_005.pt"))
    assert [f.severity for f in later] == ["ok", "warning"] and later[1].metrics["divergence_step"] == 39


def test_run_folder_of_a_checkpoint_in_a_subfolder(tmp_path):
    healthy_run(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    torch.save({"model_state_dict": {"w": torch.ones(1)}}, tmp_path / "checkpoints" / "last.pt")
    assert find_run_folder(tmp_path / "checkpoints" / "last.pt") == tmp_path
    findings, _ = checkpoint_training_findings(load_checkpoint(tmp_path / "checkpoints" / "last.pt"))
    assert [f.severity for f in findings] == ["ok", "ok"]  # no epoch or step: the whole log counts
    assert find_run_folder(tmp_path / "a" / "b" / "x.pt") is None  # neither b/ nor a/ holds a log


def test_a_sibling_runs_logs_are_not_borrowed(tmp_path):
    healthy_run(tmp_path)  # logs of some run in the parent folder
    (tmp_path / "other_run").mkdir()
    torch.save({"model_state_dict": {"w": torch.ones(1)}}, tmp_path / "other_run" / "last.pt")
    assert find_run_folder(tmp_path / "other_run" / "last.pt") is None
    findings, notes = checkpoint_training_findings(load_checkpoint(tmp_path / "other_run" / "last.pt"))
    assert [f.kind for f in findings] == ["training"] and len(findings) == 1 and notes == []
