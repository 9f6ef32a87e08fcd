import numpy as np
import pytest

from core.adapters.base import AdapterSpec
from core.adapters.registry import open_adapter
from core.config import SamplingConfig
from core.diagnosis import diagnose
from core.diagnosis.text import FIX, decode_probe, findings, probe_sample, sampling_noise
from core.io.errors import ProbeError
from core.io.probe import ProbeData, find_probe, load_probe
from tests.adapters.cases_text import seed_checkpoint
from tests.fakes import Unregistered

REFS = tuple(f"sentence {w} about thing {v}" for w in "abcdefgh" for v in range(10))


class _Fake(Unregistered):
    """Writes `outputs(i)` for probe row i; row index is read back from the first embedding column."""

    name = "fake-text"
    family = "text"

    def __init__(self, outputs):
        self.outputs = outputs

    def spec(self):
        return AdapterSpec(family="text", latent_dim=2, supports_generation=True)

    def generate(self, embeddings: np.ndarray, config: SamplingConfig) -> list[str]:
        assert not config.sampling
        return [self.outputs(int(row)) for row in embeddings[:, 0]]


def _probe(n: int = len(REFS)) -> ProbeData:
    x = np.stack([np.arange(n), np.ones(n)], axis=1).astype(np.float32)
    return ProbeData(embeddings=x, texts=REFS[:n])


def test_constant_output_is_collapse_with_the_fix():
    (finding,) = findings(_Fake(lambda i: "the same sentence"), _probe())
    assert finding.kind == "mode" and finding.severity == "collapse"
    assert finding.fix == FIX and "attention" in finding.fix and "repetition penalty" in finding.fix
    assert finding.metrics["unique_output_ratio"] == pytest.approx(1 / 64)
    assert finding.metrics["most_common_share"] == 1.0
    assert finding.metrics["bleu"] == pytest.approx(finding.metrics["bleu_constant_baseline"])
    assert "1 distinct outputs for 64 inputs" in finding.summary
    assert "'the same sentence'" in finding.summary


def test_outputs_that_follow_the_references_are_ok():
    (finding,) = findings(_Fake(lambda i: REFS[i]), _probe())
    assert finding.severity == "ok"
    assert finding.metrics["unique_output_ratio"] == 1.0
    assert finding.metrics["bleu"] == pytest.approx(100.0)
    assert finding.fix == ""


def test_few_distinct_outputs_warn():
    (finding,) = findings(_Fake(lambda i: REFS[i % 20]), _probe())
    assert finding.severity == "warning"


def test_subsample_is_seeded_and_bounded():
    probe = _probe()
    rows = probe_sample(probe)
    assert len(rows) == 64 and len(set(rows)) == 64
    np.testing.assert_array_equal(rows, probe_sample(probe))
    assert len(probe_sample(_probe(10))) == 10


def test_missing_probe_embeddings_is_a_clear_error():
    with pytest.raises(ProbeError, match="needs probe embeddings"):
        findings(_Fake(lambda i: "x"), None)
    with pytest.raises(ProbeError, match="needs probe embeddings"):
        findings(_Fake(lambda i: "x"), ProbeData(texts=("a",)))


def test_real_adapter_through_diagnose_reports_bridge_similarity(tmp_path):
    path = seed_checkpoint(tmp_path, "additive")
    report = diagnose(open_adapter(str(path)), load_probe(find_probe(path)), str(path))
    assert report.errors == ()
    (finding,) = report.findings
    assert finding.kind == "mode"
    assert 0.0 < finding.metrics["bridge_similarity"] <= 1.0
    assert finding.to_json()["metrics"]["inputs"] == 8


@pytest.mark.parametrize(("run", "severity"), [("collapsed", "collapse"), ("fixed", "ok")])
def test_shipped_demo_runs(run, severity):
    from core import DEMO_DIR

    path = sorted(
        (DEMO_DIR / "text" / run).glob("bridge_epoch_*.pt"), key=lambda p: int(p.stem.split("_")[-1])
    )[-1]
    (finding,) = diagnose(open_adapter(str(path)), load_probe(find_probe(path)), str(path)).findings
    assert finding.severity == severity, finding.summary
    assert ("nearly the same input for every embedding" in finding.summary) == (run == "collapsed")


class _Noisy(_Fake):
    """Writes one sentence for every input when greedy; sampling picks a random suffix per row."""

    def generate(self, embeddings: np.ndarray, config: SamplingConfig) -> list[str]:
        if not config.sampling:
            return ["the same sentence"] * len(embeddings)
        rng = np.random.default_rng(config.seed)
        return [f"the same sentence {rng.integers(10**6)}" for _ in embeddings]

    def bridge_outputs(self, embeddings: np.ndarray) -> np.ndarray:
        return np.ones((len(embeddings), 4), np.float32)


def test_sampling_noise_is_told_apart_from_diversity_that_follows_the_inputs():
    sampled = SamplingConfig(do_sample=True, temperature=0.7)
    noisy = decode_probe(_Noisy(None), _probe(), sampled, 32).metrics
    assert noisy["unique_output_ratio"] == 1.0 and noisy["greedy_unique_output_ratio"] == 1 / 32
    note = sampling_noise(noisy)
    assert note.startswith("32 distinct outputs for 32 inputs under sampling, but greedy decoding writes 1")
    assert "cosine 1.000" in note
    faithful = decode_probe(_Fake(lambda i: REFS[i]), _probe(), SamplingConfig(), 32).metrics
    assert "greedy_unique_output_ratio" not in faithful and sampling_noise(faithful) is None
    (finding,) = findings(_Noisy(None), _probe())
    assert finding.severity == "collapse" and "judged with greedy decoding" in finding.summary
