from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.adapters.flow import FlowNetworkAdapter
from core.adapters.registry import open_adapter
from core.diagnosis import diagnose
from core.diagnosis.flow import findings, probe_targets, severity_of
from core.io.errors import ProbeError
from core.io.probe import ProbeData, find_probe, load_probe
from core.metrics import Undefined
from core.models.flow import VectorFieldNetwork

D, A = 16, 3
DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo" / "flow"


class FixedPointField(nn.Module):
    """v(z, y) = 10 (p[y] - z): with alpha 0.1 one Euler step lands exactly on the target's prototype."""

    def __init__(self, d: int, a: int) -> None:
        super().__init__()
        self.embedding_dim = d
        self.bits = 2 ** torch.arange(a)
        self.prototypes = nn.functional.normalize(
            torch.randn(2**a, d, generator=torch.Generator().manual_seed(3))
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 10 * (self.prototypes[(y.long() * self.bits).sum(1)] - z)


def _names(a: int = A) -> tuple[str, ...]:
    return tuple(f"attr_{i}" for i in range(a))


def _probe(n: int = 200, d: int = D, a: int = A, seed: int = 0) -> ProbeData:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d)).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return ProbeData(embeddings=z, attributes=rng.integers(0, 2, size=(n, a)).astype(np.int8))


def _zero_field() -> FlowNetworkAdapter:
    model = VectorFieldNetwork(D, A, 8)
    nn.init.zeros_(model.network[8].weight)
    nn.init.zeros_(model.network[8].bias)
    return FlowNetworkAdapter(model, _names())


def test_probe_targets_flip_one_attribute_per_row():
    original = np.array([[0, 0, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0]], dtype=np.int8)
    assert probe_targets(original).tolist() == [[1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 1, 0]]


def test_fixed_point_field_is_collapse():
    finding, dimensional = findings(FlowNetworkAdapter(FixedPointField(D, A), _names()), _probe())
    assert finding.kind == "prototype" and finding.severity == "collapse"
    assert finding.metrics["distinct_endpoints"] == finding.metrics["n_clusters"]
    assert finding.metrics["spread_ratio"] == pytest.approx(0.0, abs=1e-5)
    assert finding.metrics["silhouette_target"] == pytest.approx(1.0)
    assert "detach" in finding.fix and "identity loss" in finding.fix and "1-2 attributes" in finding.fix
    assert (
        dimensional.kind == "dimensional"
        and dimensional.metrics["rankme_end"] <= finding.metrics["n_clusters"]
    )


def test_zero_field_is_not_collapse():
    finding, dimensional = findings(_zero_field(), _probe())
    assert finding.severity == "ok" and finding.fix == ""
    assert finding.metrics["distinct_endpoints"] == finding.metrics["distinct_inputs"] == 200
    assert finding.metrics["spread_ratio"] == pytest.approx(1.0)
    assert "barely moves" in finding.summary
    assert dimensional.severity == "ok" and dimensional.metrics["rankme_ratio"] == pytest.approx(1.0)


def test_half_contracted_field_is_a_warning():
    # One step of alpha 0.08 gives normalize(0.2 z + 0.8 p): groups keep about a quarter of their spread.
    adapter = FlowNetworkAdapter(FixedPointField(D, A), _names(), steps=1, alpha=0.08)
    finding, _ = findings(adapter, _probe())
    assert finding.severity == "warning"
    assert 0.2 < finding.metrics["spread_ratio"] < 0.35


@pytest.mark.parametrize(
    ("distinct", "spread", "expected"),
    [
        (8, 0.01, "collapse"),
        (16, 0.15, "collapse"),
        (900, 0.03, "collapse"),
        (900, 0.15, "warning"),
        (400, 0.9, "warning"),
        (950, 0.8, "ok"),
        (Undefined("endpoints contain NaN or inf"), 0.5, "undefined"),
    ],
)
def test_severity_bands(distinct, spread, expected):
    metrics = {
        "distinct_endpoints": distinct,
        "distinct_inputs": 1000,
        "spread_ratio": spread,
        "n_clusters": 8,
    }
    assert severity_of(metrics) == expected


def test_missing_probe_says_what_is_needed():
    for probe in (None, ProbeData(embeddings=_probe().embeddings)):
        (finding,) = findings(_zero_field(), probe)
        assert finding.severity == "undefined"
        assert "embeddings" in finding.summary and "attributes" in finding.summary


def test_one_target_group_is_undefined():
    probe = _probe(a=1)
    attributes = (np.arange(200) % 1).astype(np.int8)[:, None]
    probe = ProbeData(embeddings=probe.embeddings, attributes=attributes)
    model = VectorFieldNetwork(D, 1, 8)
    (finding,) = findings(FlowNetworkAdapter(model, ("only",)), probe)
    assert finding.severity == "undefined" and "same target combination" in finding.summary


def test_identical_inputs_and_tiny_probes_are_undefined():
    probe = _probe()
    same = ProbeData(embeddings=np.repeat(probe.embeddings[:1], 200, axis=0), attributes=probe.attributes)
    (finding,) = findings(_zero_field(), same)
    assert finding.severity == "undefined" and "identical" in finding.summary
    tiny = ProbeData(embeddings=probe.embeddings[:5], attributes=probe.attributes[:5])
    (finding,) = findings(_zero_field(), tiny)
    assert finding.severity == "undefined" and "5 rows" in finding.summary


def test_dimension_mismatch_is_bad_input():
    with pytest.raises(ProbeError, match=f"embedding dim {D + 4} does not match the model's {D}"):
        diagnose(_zero_field(), _probe(d=D + 4), "x.pt")  # exit 2 in the CLI, never a quiet 0


@pytest.mark.skipif(not DEMO.is_dir(), reason="demo assets not built")
@pytest.mark.parametrize(("run", "expected"), [("collapsed", "collapse"), ("fixed", "ok")])
def test_demo_runs(run, expected):
    path = sorted((DEMO / run).glob("fclf_epoch_*.pt"))[-1]
    adapter = open_adapter(str(path))
    finding, dimensional = findings(adapter, load_probe(find_probe(path)))
    assert finding.severity == expected, finding.summary
    assert dimensional.severity == expected, dimensional.summary


def test_dimensional_finding_from_rank_kept():
    from core.diagnosis.flow import dimensional_finding

    start = np.eye(8, dtype=np.float32)  # RankMe 8: eight orthogonal rows of equal norm
    kept = dimensional_finding(start, start)
    assert kept.severity == "ok" and kept.metrics["rankme_ratio"] == pytest.approx(1.0, abs=1e-6)
    three = np.repeat(np.eye(8, dtype=np.float32)[:3], [3, 3, 2], axis=0)  # 3 directions, unequal counts
    assert dimensional_finding(start, three).severity == "warning"
    one = np.tile(np.eye(8, dtype=np.float32)[:1], (8, 1))  # every endpoint on one point: RankMe 1
    collapsed = dimensional_finding(start, one)
    assert collapsed.severity == "collapse" and collapsed.metrics["rankme_ratio"] == pytest.approx(
        1 / 8, abs=1e-6
    )
    assert collapsed.summary.startswith("dimensional collapse: endpoints keep 13% ")  # 1/8 rounds to 13%
    nan = dimensional_finding(start, np.full_like(start, np.nan))
    assert nan.severity == "undefined" and "cannot judge" in nan.summary


def test_input_statistics_are_measured_once_per_probe_content(monkeypatch):
    """A guard or a timeline measures many checkpoints on one probe: the inputs' scale, distinct count
    and RankMe are computed once per probe content, and again for other content."""
    import core.diagnosis.flow as prototype

    calls = []
    real = prototype.median_nn_distance
    monkeypatch.setattr(prototype, "median_nn_distance", lambda z: calls.append(len(z)) or real(z))
    adapter, probe = _zero_field(), _probe(seed=11)
    first = findings(adapter, probe)
    again = findings(adapter, _probe(seed=11))  # same content, another array
    assert calls == [200]
    assert [f.metrics for f in first] == [f.metrics for f in again]
    findings(adapter, _probe(seed=12))
    assert calls == [200, 200]
