"""The shipped language demo (core.demo.language): each folder's verdict, its log and its size."""

from __future__ import annotations

import json

import pytest

from core import DEMO_DIR
from core.diagnosis.checkpoint import diagnose_checkpoint
from core.io.checkpoints import load_checkpoint
from core.io.probe import find_probe, load_probe

ROOT = DEMO_DIR / "language"
EXPECTED = {
    "base": {"mode": "ok", "repetition": "ok"},
    "healthy": {"mode": "ok", "repetition": "ok"},
    "collapsed": {"mode": "collapse", "repetition": "ok"},
    "lora_trained": {"adapter": "ok", "mode": "ok", "repetition": "ok"},
    "lora_untrained": {"adapter": "collapse", "mode": "ok", "repetition": "ok"},
}


@pytest.mark.parametrize("run", sorted(EXPECTED))
def test_each_demo_folder_gets_its_verdict(run):
    folder = ROOT / run
    report = diagnose_checkpoint(load_checkpoint(folder), load_probe(find_probe(folder)))
    severities = {f.kind: f.severity for f in report.findings if f.kind != "training"}
    assert severities == EXPECTED[run]
    assert report.exit_code() == (1 if "collapse" in severities.values() else 0)
    training = [
        f.summary.split(":")[0] for f in report.findings if f.kind == "training" and f.severity != "ok"
    ]
    expected = ["policy entropy collapses", "completion length collapses to a constant"]
    assert training == (expected if run == "collapsed" else [])
    if run == "collapsed":
        mode = next(f for f in report.findings if f.kind == "mode")
        assert mode.metrics["most_common_output"] == "I am not sure about that."
        assert mode.metrics["most_common_share"] >= 0.9


def test_demo_logs_and_size():
    base = json.loads((ROOT / "base" / "trainer_state.json").read_text())["log_history"]
    assert base[-1]["loss"] < base[0]["loss"] / 3
    untrained = json.loads((ROOT / "lora_untrained" / "trainer_state.json").read_text())["log_history"]
    assert [row["step"] for row in untrained] == [0]  # saved before any step
    collapsed = json.loads((ROOT / "collapsed" / "trainer_state.json").read_text())["log_history"]
    assert collapsed[-1]["completions/min_length"] == collapsed[-1]["completions/max_length"]
    size = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    assert size < 10 * 2**20
