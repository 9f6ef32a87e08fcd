"""Training-log rules know which way each logged quantity should go, judge each phase of a logged
schedule on its own, and give fixes that name only parts the model has; no false alarm on the demo."""

import numpy as np
import pytest

from core.diagnosis.training import (
    checkpoint_training_findings,
    detect_events,
    fix_diverged,
    fix_validation,
    training_findings,
)
from core.io.checkpoints import load_checkpoint
from core.io.logs import scan_run_folder
from core.io.paths import DEMO_DIR, demo_checkpoints, demo_runs
from core.metrics.training import (
    model_parts,
    phase_slices,
    phase_switches,
    series_direction,
    val_divergence,
)
from tests.training_fixtures import write_json

HEALTHY_RUNS = ("flow/fixed", "text/fixed", "codebook/fixed", "posterior/fixed")


@pytest.mark.parametrize(
    ("name", "parts", "direction"),
    [
        ("val_loss", frozenset(), "lower"),
        ("train/recon", frozenset(), "lower"),
        ("val_classification", frozenset(), "lower"),
        ("val_accuracy", frozenset(), "higher"),
        ("val_bleu", frozenset(), "higher"),
        ("val_unique_outputs", frozenset(), "higher"),
        ("val_active_units", frozenset(), "higher"),
        ("unique_output_ratio", frozenset(), "higher"),  # a METRICS key keeps its own direction
        ("val_most_common_share", frozenset(), "lower"),
        ("val_perplexity", frozenset({"quantizer"}), "higher"),  # codebook usage
        ("val_perplexity", frozenset({"language_model"}), "lower"),  # a language model's error
        ("val_perplexity", frozenset(), "neither"),
        ("lr/head", frozenset(), "neither"),
        ("grad_norm", frozenset(), "neither"),
        ("val_kl", frozenset(), "neither"),  # a VAE raises its KL while it learns to use z
        ("kl_loss", frozenset(), "lower"),
    ],
)
def test_series_direction(name, parts, direction):
    assert series_direction(name, parts) == direction


def test_model_parts_from_tensor_names_and_series():
    assert model_parts(["quantizer._ema_w", "semantic.weight"]) == {"quantizer", "head"}
    assert model_parts(["val_bleu", "t5.lm_head.weight"]) == {"language_model"}  # lm_head is not an aux head
    assert model_parts(["network.0.weight", "val_loss"]) == frozenset()
    assert model_parts([], family="codebook") == {"quantizer"}


def test_fix_texts_name_only_parts_the_model_has():
    bare, full = fix_diverged(frozenset()), fix_diverged(frozenset({"quantizer", "head"}))
    assert "quantizer" not in bare and "VQ" not in bare and "head" not in bare
    assert "clip" in bare and "peak learning rate" in bare
    assert "quantizer" in full and "VQ part" in full and "heads a lower learning rate" in full
    assert "VQ warm-up" not in fix_validation(frozenset({"head"}))
    assert "VQ warm-up" in fix_validation(frozenset({"head", "quantizer"}))


def test_falling_score_while_training_improves_is_a_divergence():
    steps = np.arange(6, dtype=np.float64)
    accuracy = np.array([0.5, 0.8, 0.9, 0.7, 0.5, 0.4])
    train_loss = np.array([2.0, 1.5, 1.0, 0.8, 0.6, 0.5])
    train_accuracy = np.array([0.5, 0.7, 0.8, 0.9, 0.95, 0.97])
    div = val_divergence(steps, accuracy, steps, train_accuracy, better="higher")
    assert (div.start_step, div.end_step, div.val_start, div.val_end) == (2.0, 3.0, 0.9, 0.7)
    assert val_divergence(steps, np.sort(accuracy), better="higher") is None  # rising accuracy is good
    # Read as a loss, the same curve's early rise is the alarm instead.
    assert val_divergence(steps, accuracy, steps, train_loss).start_step == 0.0


def test_phase_switches_and_slices():
    steps = np.arange(10, dtype=np.float64)
    switches = phase_switches(
        {
            "warmup_done": (steps, np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1], dtype=np.float64)),
            "is_eval_step": (steps, np.tile([0.0, 1.0], 5)),  # flips every step: not a schedule
        }
    )
    assert [(s.series, s.step, s.before, s.after) for s in switches] == [("warmup_done", 4.0, 0.0, 1.0)]
    assert phase_slices(steps, [4.0]) == [slice(0, 4), slice(4, 10)]
    assert phase_slices(steps, []) == [slice(0, 10)]


def test_a_jump_at_a_logged_switch_is_not_instability(tmp_path):
    n = 30
    recon = [0.1 * 0.95**i for i in range(n)]
    recon[15:] = [0.05 * 0.97 ** (i - 15) for i in range(15, n)]  # the new loss raises recon at the switch
    rows = [
        {
            "epoch": i,
            "step": 10 * i,
            "recon": recon[i],
            "val_recon": recon[i] * 1.1,
            "heads_on": i >= 15,
            "commitment": 0.02 if i < 15 else 2.0 * 0.8 ** (i - 15),
        }
        for i in range(n)
    ]
    write_json(tmp_path / "training_log.json", rows)
    log = scan_run_folder(tmp_path)
    (ok,) = training_findings(log)
    assert ok.severity == "ok" and "heads_on 0 -> 1 at step 150" in ok.summary
    # Without the logged switch the same curves raise a spike.
    for row in rows:
        del row["heads_on"]
    write_json(tmp_path / "training_log.json", rows)
    assert {e.kind for e in detect_events(scan_run_folder(tmp_path))} == {"spike"}


def test_a_rising_diversity_metric_is_no_alarm(tmp_path):
    rows = [
        {"epoch": e, "step": 10 * e, "loss": 3.0 / e, "val_unique_outputs": u, "val_bleu": b}
        for e, u, b in ((1, 0.3, 16.0), (2, 0.6, 22.0), (3, 0.97, 27.0), (4, 1.0, 45.0))
    ]
    write_json(tmp_path / "training_log.json", rows)
    (finding,) = training_findings(scan_run_folder(tmp_path))
    assert finding.severity == "ok"
    rows = [dict(r, val_unique_outputs=1.0 / r["epoch"]) for r in rows]  # diversity falling is the alarm
    write_json(tmp_path / "training_log.json", rows)
    (finding,) = training_findings(scan_run_folder(tmp_path))
    assert finding.severity == "warning"
    assert finding.summary.startswith("validation val_unique_outputs falls (higher is better)")
    assert "head" not in finding.fix and "VQ" not in finding.fix


def test_every_shipped_run_log_keeps_its_verdict():
    runs = {run.relative_to(DEMO_DIR).as_posix(): run for run in demo_runs()}
    assert set(HEALTHY_RUNS) <= set(runs)
    for name, run in runs.items():
        findings = training_findings(scan_run_folder(run))
        severities = [f.severity for f in findings]
        if name == "training/exploding_run":
            assert "collapse" in severities
        elif name == "codebook/collapsing":
            # its classifier overfits late in the run (val 0.11 -> 0.14 while training falls)
            assert severities == ["warning"] and "VQ warm-up" in findings[0].fix
        elif name == "language/collapsed":
            # the SFT fine-tune onto one answer: its entropy and completion lengths collapse in the log
            assert severities == ["warning", "warning"]
            assert findings[0].summary.startswith("policy entropy collapses")
            assert findings[1].summary.startswith("completion length collapses to a constant")
        else:
            assert severities == ["ok"], (name, [f.summary for f in findings])


def test_every_checkpoint_of_a_healthy_demo_run_is_ok_and_fixes_fit_the_model():
    checked = 0
    for path in demo_checkpoints():
        run = path.parent.relative_to(DEMO_DIR).as_posix()
        loaded = load_checkpoint(path)
        findings, notes = checkpoint_training_findings(loaded)
        assert notes == []
        if run in HEALTHY_RUNS:
            assert [f.severity for f in findings] == ["ok"] * len(findings), (path.name, findings)
            checked += 1
        parts = model_parts(loaded.state_dict)
        for finding in findings:
            if finding.severity == "ok":
                continue
            names_vq = "quantizer" in finding.fix or "VQ" in finding.fix
            assert not names_vq or "quantizer" in parts, (path.name, finding.fix)
            assert "head" not in finding.fix or "head" in parts, (path.name, finding.fix)
    assert checked == sum(
        1 for p in demo_checkpoints() if p.parent.relative_to(DEMO_DIR).as_posix() in HEALTHY_RUNS
    )
