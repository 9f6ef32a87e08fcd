import json

import numpy as np
import pytest

from core import DEMO_DIR
from core.adapters.registry import open_adapter
from core.demo import posterior as demo
from core.diagnosis import diagnose
from core.diagnosis.posterior import analyse, findings, latent_traversal, run_timeline, severity_of
from core.io.errors import AdapterError, ProbeError
from core.io.probe import ProbeData, find_probe, load_probe

RUNS = DEMO_DIR / "posterior"


def _final(run: str) -> str:
    return str(RUNS / run / "vae_epoch_060.pt")


@pytest.fixture(scope="module")
def collapsed():
    return open_adapter(_final("collapsed"))


@pytest.fixture(scope="module")
def fixed():
    return open_adapter(_final("fixed"))


def _probe(run: str) -> ProbeData:
    return load_probe(find_probe(_final(run)))


def test_collapsed_demo_is_collapse_with_evidence(collapsed):
    (finding,) = findings(collapsed, _probe("collapsed"))
    assert finding.kind == "posterior" and finding.severity == "collapse"
    m = finding.metrics
    assert m["active_units"] == 0 and m["latent_dim"] == 8
    assert m["kl_total"] < 0.01 and m["floor_fraction"] == 1.0 and m["diversity_ratio"] < 0.05
    assert "free bits" in finding.fix and "channel-wise" in finding.fix and "cosine" in finding.fix


def test_fixed_demo_is_ok(fixed):
    (finding,) = findings(fixed, _probe("fixed"))
    assert finding.severity == "ok" and finding.fix == ""
    m = finding.metrics
    assert m["active_units"] == 8 and m["free_bits_floor"] == 0.5 and m["floor_fraction"] == 0.0
    assert m["kl_total"] > 5 and m["diversity_ratio"] > 0.6


def test_without_probe_data_the_estimate_says_so(collapsed, fixed):
    (bad,) = findings(collapsed, None)
    (good,) = findings(fixed, None)
    assert bad.summary.startswith("estimate") and good.summary.startswith("estimate")
    assert bad.severity == "collapse" and bad.metrics["estimated_dead_fraction"] == 1.0
    assert good.severity == "ok" and good.metrics["estimated_dead_fraction"] == 0.0


def test_identical_probe_inputs_are_undefined(fixed):
    x = np.tile(_probe("fixed").x[:1], (10, 1))
    (finding,) = findings(fixed, ProbeData(x=x))
    assert finding.severity == "undefined" and "identical" in finding.summary


def test_wrong_probe_width_is_bad_input(fixed):
    with pytest.raises(ProbeError, match="10 values per row"):  # exit 2 in the CLI, never a quiet 0
        diagnose(fixed, ProbeData(x=np.zeros((4, 10), np.float32)), "ckpt")


def test_analysis_of_one_row_has_undefined_activity(fixed):
    result = analyse(fixed, _probe("fixed").x[:1])
    assert "2 rows" in str(result.metrics["active_units"]) and result.active_mask is None
    (finding,) = findings(fixed, ProbeData(x=_probe("fixed").x[:1]))
    assert finding.severity == "undefined"


@pytest.mark.parametrize(
    ("active", "diversity", "expected"),
    [
        (0.0, 0.0, "collapse"),
        (0.125, 0.9, "collapse"),
        (0.5, 0.9, "warning"),
        (6 / 16, 0.9, "warning"),
        (1.0, 0.1, "collapse"),
        (0.625, 0.9, "warning"),
        (1.0, 0.3, "warning"),
        (1.0, 0.8, "ok"),
        (0.75, 0.5, "warning"),
    ],
)
def test_severity_rules(active, diversity, expected):
    assert severity_of(active, diversity) == expected


def test_traversal_moves_the_fixed_decoder_but_not_the_collapsed_one(collapsed, fixed):
    values = [-2.0, 0.0, 2.0]
    for adapter, moves in ((collapsed, False), (fixed, True)):
        out = latent_traversal(adapter, np.zeros(8), [0, 3], values)
        assert out.shape == (2, 3, 64) and out.dtype == np.float32
        spread = np.abs(out[:, -1] - out[:, 0]).max()
        assert (spread > 1.0) if moves else (spread < 0.1)  # pixels in [0, 1] vs standardised units
    with pytest.raises(ProbeError, match="out of range"):
        latent_traversal(fixed, np.zeros(8), [8], values)


def test_quick_demo_build(tmp_path):
    demo.build(tmp_path, quick=True)
    for run in ("collapsed", "fixed"):
        folder = tmp_path / "posterior" / run
        assert sorted(p.name for p in folder.glob("*.pt")) == ["vae_epoch_002.pt", "vae_epoch_004.pt"]
        log = json.loads((folder / "training_log.json").read_text())
        assert [row["epoch"] for row in log] == [1, 2, 3, 4]
        assert {"epoch", "step", "recon", "kl", "total", "val"} <= set(log[0])
        probe = load_probe(folder / "probe.npz")
        assert probe.x.shape == (360, 64) and probe.x.dtype == np.float32 and probe.labels.shape == (360,)
    assert (tmp_path / "posterior" / "fixed" / ".hydra" / "config.yaml").is_file()
    report = diagnose(
        open_adapter(str(tmp_path / "posterior" / "collapsed" / "vae_epoch_004.pt")),
        load_probe(tmp_path / "posterior" / "collapsed" / "probe.npz"),
    )
    assert report.findings[0].severity == "collapse"


def test_demo_assets_fit_the_budget():
    total = sum(p.stat().st_size for p in RUNS.rglob("*") if p.is_file())
    assert total <= 4 * 1024 * 1024


def test_run_timeline_over_the_demo_runs(tmp_path):
    collapsed = run_timeline(RUNS / "collapsed", _probe("collapsed").x)
    fixed = run_timeline(RUNS / "fixed", _probe("fixed").x)
    assert collapsed.epochs == fixed.epochs == (1, 5, 20, 60)
    assert collapsed.kl.shape == (4, 8) and list(collapsed.active) == [0, 0, 0, 0]
    assert list(fixed.active) == [8, 8, 8, 8]
    assert np.all(np.diff(fixed.kl.sum(axis=1)) > 0)  # the fixed run keeps gaining information
    with pytest.raises(AdapterError, match="no checkpoint files"):
        run_timeline(tmp_path, _probe("fixed").x)
