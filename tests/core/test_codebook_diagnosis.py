"""Codebook diagnosis: the shipped runs, weight-only fallback, undefined and degenerate cases."""

import numpy as np
import pytest
import torch

from core import DEMO_DIR
from core.adapters.registry import open_adapter
from core.cli import main
from core.diagnosis import diagnose
from core.diagnosis.codebook import findings, severity_of
from core.io.errors import ProbeError
from core.io.probe import ProbeData, load_probe
from core.metrics import Undefined
from tests.adapters import cases_codebook as cases

RUNS = DEMO_DIR / "codebook"


def _last(run: str) -> str:
    return str(sorted((RUNS / run).glob("vqvae_epoch_*.pt"))[-1])


@pytest.mark.parametrize(("run", "expected"), [("collapsing", "collapse"), ("fixed", "ok")])
def test_shipped_runs_diagnose_as_intended(run, expected):
    probe = load_probe(RUNS / run / "probe.npz")
    (finding,) = findings(open_adapter(_last(run)), probe)
    assert finding.kind == "codebook" and finding.severity == expected
    assert "tokens of probe x" in finding.summary
    if expected == "collapse":
        assert finding.metrics["code_perplexity_ratio"] < 0.2 and finding.metrics["dead_code_fraction"] > 0.5
        assert "warm-up" in finding.fix and "reseed" in finding.fix and "tanh" in finding.fix
    else:
        assert finding.metrics["code_perplexity_ratio"] > 0.5 and finding.fix == ""


def test_without_probe_data_weight_only_usage_is_said():
    (finding,) = findings(open_adapter(_last("collapsing")), None)
    assert finding.severity == "collapse" and "EMA" in finding.summary
    assert finding.metrics["dead_threshold"] == 0.01


def test_cli_exit_codes_follow_the_verdict():
    assert main(["diagnose", _last("collapsing")]) == 1
    assert main(["diagnose", _last("fixed")]) == 0


def test_no_ema_and_no_probe_is_undefined_and_says_what_to_give(tmp_path):
    adapter = open_adapter(str(cases.embedding_codebook(tmp_path)))
    (finding,) = findings(adapter, None)
    assert finding.severity == "undefined" and "give probe codes" in finding.summary
    assert "weight-only estimate" in finding.summary and "cannot show usage" in finding.summary


def test_single_code_codebook_is_undefined(tmp_path):
    path = tmp_path / "one.pt"
    torch.save(
        {
            "_embedding.weight": torch.ones(1, 3),
            "_ema_cluster_size": torch.ones(1),
            "_ema_w": torch.ones(1, 3),
        },
        path,
    )
    (finding,) = findings(open_adapter(str(path)), None)
    assert finding.severity == "undefined" and "single code" in finding.summary


def test_too_few_probe_tokens_cap_the_verdict_at_warning(tmp_path):
    adapter = open_adapter(str(cases.reference_vqvae(tmp_path)))  # K = 16, 2 tokens per input
    (finding,) = findings(adapter, ProbeData(x=np.zeros((3, 64), dtype=np.float32)))
    assert finding.metrics["code_count"] == 6
    assert finding.severity == "warning" and "fewer tokens than codes" in finding.summary


def test_bad_probe_is_bad_input_not_a_report(tmp_path):
    adapter = open_adapter(str(cases.reference_vqvae(tmp_path)))
    with pytest.raises(ProbeError, match=r"\[N, 64\]"):  # exit 2 in the CLI, never a quiet 0
        diagnose(adapter, ProbeData(x=np.zeros((3, 5), dtype=np.float32)))


@pytest.mark.parametrize(
    ("ratio", "dead", "expected"),
    [
        (0.1, 0.0, "collapse"),
        (0.3, 0.6, "collapse"),
        (0.3, 0.1, "warning"),
        (0.8, 0.3, "warning"),
        (0.8, 0.0, "ok"),
    ],
)
def test_severity_rules(ratio, dead, expected):
    assert severity_of(ratio, dead) == expected
    assert severity_of(Undefined("x"), dead) == "undefined"
