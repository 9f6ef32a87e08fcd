import base64
import gzip
import json

import plotly.graph_objects as go
import pytest
import torch

from core.adapters.base import AdapterSpec
from core.cli import main
from core.diagnosis import Finding, Report
from core.io.errors import CollapseExplorerError
from core.io.paths import DEMO_DIR, demo_checkpoints
from core.metrics import METRICS, MetricInfo, Undefined, label, register_metrics
from core.report.compare import check_comparable, compare_metrics, headline, verdict_line
from core.report.html import export_text, run_relative, write_atomic
from core.timeline import main_family, metric_series, timeline
from tests.conftest import folder_snapshot

_TEST_METRICS = (
    MetricInfo("test_alive", "Alive", "higher", "test metric", "test"),
    MetricInfo("test_loss", "Loss", "lower", "test metric", "test"),
)


@pytest.fixture(autouse=True)
def _test_metrics():
    """Two made-up metrics for this module only: the METRICS table others read stays the product's own."""
    register_metrics(*_TEST_METRICS)
    yield
    for info in _TEST_METRICS:
        METRICS.pop(info.key, None)


def _report(alive, loss, severity="collapse") -> Report:
    finding = Finding("codebook", severity, "s", {"test_alive": alive, "test_loss": loss}, "fix it")
    return Report("ckpt.pt", "x", (finding,))


def test_compare_metrics_direction_aware():
    rows = {d.key: d for d in compare_metrics(_report(0.1, 2.0), _report(0.6, 3.0, "ok"))}
    assert rows["test_alive"].delta == pytest.approx(0.5) and rows["test_alive"].verdict == 1
    assert rows["test_loss"].delta == pytest.approx(1.0) and rows["test_loss"].verdict == -1
    undefined = {d.key: d for d in compare_metrics(_report(Undefined("one code"), 1.0), _report(0.5, 1.0))}
    assert undefined["test_alive"].delta is None and undefined["test_alive"].verdict == 0
    assert undefined["test_loss"].verdict == 0
    assert METRICS["test_alive"].label == "Alive"


def test_check_comparable_says_why():
    flow = AdapterSpec("flow", latent_dim=384)
    with pytest.raises(CollapseExplorerError, match="same family"):
        check_comparable(flow, AdapterSpec("codebook"))
    with pytest.raises(CollapseExplorerError, match="384-d embeddings and B 512-d"):
        check_comparable(flow, AdapterSpec("flow", latent_dim=512))
    check_comparable(AdapterSpec("codebook", codebook_size=64), AdapterSpec("codebook", codebook_size=128))


def test_exports_are_self_contained_and_atomic(tmp_path):
    a, b = _report(0.1, 2.0), _report(0.6, 1.0, "ok")
    deltas = compare_metrics(a, b)
    page = export_text([a, b], deltas, "html")
    assert "<script src=" not in page and "fix it" in page and "plotly-gz" not in page  # no figure, no plotly
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    drawn = export_text([a, b], deltas, "html", [figure])
    assert "<script src=" not in drawn and drawn.count('id="plotly-gz"') == 1 and 'data-spec="fig-0"' in drawn
    packed = drawn.split('id="plotly-gz">', 1)[1].split("</script>", 1)[0]
    assert b"Plotly" in gzip.decompress(base64.b64decode(packed))[:20000]  # plotly.js itself, inline
    data = json.loads(export_text([a, b], deltas, "json"))
    assert data["reports"][0]["findings"][0]["metrics"]["test_alive"] == 0.1
    assert {row["metric"]: row["b_is"] for row in data["comparison"]} == {
        "test_alive": "better",
        "test_loss": "better",
    }
    embedded = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    assert embedded["verdicts"] == data["verdicts"] == {"A": "codebook collapse - s", "B": "ok - s"}
    out = write_atomic(tmp_path / "r.html", page)
    assert out.read_text() == page and [p.name for p in tmp_path.iterdir()] == ["r.html"]
    ckpt_dir = tmp_path / "ckpts"
    ckpt_dir.mkdir()
    (ckpt_dir / "m.pt").write_bytes(b"x")
    with pytest.raises(CollapseExplorerError, match="beside the checkpoint"):
        write_atomic(ckpt_dir / "r.html", page, forbidden=[ckpt_dir / "m.pt"])
    assert [p.name for p in ckpt_dir.iterdir()] == ["m.pt"]


def _flow(severity: str, distinct: int, purity: float, silhouette: float) -> Report:
    metrics = {
        "distinct_endpoints": distinct,
        "distinct_inputs": 1000,
        "purity": purity,
        "silhouette_target": silhouette,
        "rows": 1000,
        "steps": 10,
    }
    return Report(
        f"/srv/x/runs/{severity}/fclf_epoch_020.pt",
        "fclf",
        (Finding("prototype", severity, "s", metrics, "detach"),),
    )


def test_headline_verdicts_and_context_dependent_rows():
    a, b = _flow("collapse", 32, 1.0, 0.996), _flow("ok", 988, 0.82, 0.275)
    assert verdict_line(a) == "prototype collapse - 32 distinct endpoints of 1,000"
    assert verdict_line(b) == "ok - 988 distinct endpoints of 1,000"
    assert headline(a, b) == "B fixes A's prototype collapse: distinct endpoints 32 -> 988"
    assert headline(b, a).startswith("B shows prototype collapse where A is ok")
    assert headline(a, a) == "Both show prototype collapse: distinct endpoints 32 -> 32"
    rows = {d.key: d for d in compare_metrics(a, b)}
    assert rows["distinct_endpoints"].judgement == "better" and rows["distinct_endpoints"].verdict == 1
    for key in ("purity", "silhouette_target"):  # their good direction turns on distinct endpoints
        assert rows[key].judgement == "depends" and rows[key].verdict == 0
        assert rows[key].note.endswith("(Distinct endpoints: A 32, B 988)")
    assert "purity 1 with few endpoints" in rows["purity"].note
    assert rows["rows"].judgement == rows["steps"].judgement == "setting"


def test_every_metric_says_in_words_what_is_good():
    """A good direction in words and with its unit; 'depends' only with its reason, 'not judged' with why."""
    shown = {k: info for k, info in METRICS.items() if info.family != "test"}
    assert len(shown) >= 80
    for key, info in shown.items():
        text = info.direction
        assert info.good and text not in ("depends on context", "no good direction", "not judged"), key
        if "depends" in text:
            assert text.startswith("depends: ") and len(text.removeprefix("depends: ").split()) >= 6, key
        if info.context:
            assert text.startswith("depends: "), key
        elif info.better == "neither":
            assert text.startswith(("depends: ", "not judged: ")), key
        else:
            assert text.startswith(f"{info.better} is better: ") and text.endswith(f" · {info.unit}"), key
    # Without words of its own a metric still says its direction, and a 'depends' still says why.
    bare = MetricInfo(
        "x", "X", "higher", "help", "test", unit="codes", context="it turns on y", context_key="y"
    )
    assert bare.direction == "depends: it turns on y"
    assert MetricInfo("x", "X", "lower", "help", "test", unit="nats").direction == "lower is better · nats"


def test_labels_carry_units_and_parameters():
    assert label("kl_total", with_unit=True) == "KL total (nats)"  # not "(nats) (nats)"
    assert label("bleu", with_unit=True) == "BLEU (0-100)"
    assert label("val_train_gap[val_kl]") == "Validation - training gap [val_kl]"
    assert METRICS["purity"].direction == (
        "depends: 1 is good only with many distinct endpoints (few endpoints at purity 1 is collapse)"
    )
    assert (
        METRICS["dead_code_fraction"].direction
        == "lower is better: fewer codes never (or barely) chosen · share 0-1"
    )
    missing = [k for k, info in METRICS.items() if not info.unit and info.family not in ("test", "setting")]
    assert missing == [], "every metric names its unit"


def test_report_names_files_relative_to_their_run(tmp_path):
    a, b = _flow("collapse", 32, 1.0, 0.996), _flow("ok", 988, 0.82, 0.275)
    a = Report(
        a.checkpoint, a.adapter, a.findings, ("training logs in /srv/x/runs/collapse/logs: unreadable",)
    )
    page = export_text([a, b], compare_metrics(a, b), "html")
    assert "/srv/" not in page and "collapse/fclf_epoch_020.pt" in page and "collapse/logs" in page
    assert run_relative(DEMO_DIR / "flow" / "fixed" / "fclf_epoch_020.pt") == "flow/fixed/fclf_epoch_020.pt"


def test_timeline_lists_unreadable_files_and_keeps_the_rest(tmp_path):
    run = DEMO_DIR / "codebook" / "collapsing"
    files = [p for p in demo_checkpoints() if p.parent == run]
    points = timeline(run)
    assert [p.epoch for p in points] == sorted(p.epoch for p in points) and len(points) == len(files)
    assert main_family(points) == "codebook" and all(p.error is None for p in points)
    series = metric_series(points)
    assert len(series["code_perplexity"]) == len(files)

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for p in files[:2]:
        (mixed / p.name).write_bytes(p.read_bytes())
    (mixed / "probe.npz").write_bytes((run / "probe.npz").read_bytes())
    (mixed / "zz_epoch_99.pt").write_bytes(b"")
    torch.save({"w": torch.zeros(2)}, mixed / "other_epoch_50.pt")
    before = folder_snapshot(mixed)
    points = timeline(mixed)
    assert folder_snapshot(mixed) == before
    errors = {p.epoch: p.error for p in points if p.error}
    assert set(errors) == {50, 99} and "empty" in errors[99] and "no adapter" in errors[50]
    assert sum(p.report is not None for p in points) == 2


def test_report_cli_writes_a_document_and_its_json_and_refuses_checkpoint_folder(tmp_path, capsys):
    a = [p for p in demo_checkpoints() if p.parent == DEMO_DIR / "codebook" / "collapsing"][-1]
    b = [p for p in demo_checkpoints() if p.parent == DEMO_DIR / "codebook" / "fixed"][-1]
    code = main(["report", str(a), "--compare", str(b), "--out", str(tmp_path / "r.html")])
    assert code == 1  # A collapsed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json"]
    page = (tmp_path / "r.html").read_text()
    sections = [h.split("</h2>")[0] for h in page.split("<h2>")[1:]]
    assert sections == [
        "Verdict",
        "Pictures (A and B)",
        "A vs B, metric by metric",
        "Findings",
        "How this was measured",
    ]
    assert "<h1>Collapse report: A vs B</h1>" in page
    assert "B fixes A&#x27;s codebook collapse: used codes 10 -&gt; 64" in page
    assert "codebook collapse - 10 codes used of 64" in page
    assert page.count('class="plot"') == 2  # code-usage rows and sorted usage, A and B in each
    assert "Codebook perplexity (codes (1 to K))" in page
    assert (
        "higher is better: usage spread over more codes (K when all are used evenly) · codes (1 to K)" in page
    )
    assert "Collapse Explorer 0.1.0" in page and "probe data</td><td>codebook/collapsing/probe.npz" in page
    assert str(DEMO_DIR) not in page and str(tmp_path) not in page  # no absolute server paths
    assert "<script src=" not in page and len(page.encode()) < 2_300_000  # offline, plotly.js packed once
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["headline"].startswith("B fixes A's codebook collapse")
    assert data["reports"][0]["checkpoint"] == "codebook/collapsing/vqvae_epoch_040.pt"
    assert main(["report", str(a), "--out", str(a.parent / "r.json")]) == 2
    assert "beside the checkpoint" in capsys.readouterr().err
    assert not (a.parent / "r.json").exists()
    post = [p for p in demo_checkpoints() if p.parent == DEMO_DIR / "posterior" / "collapsed"][-1]
    assert main(["report", str(a), "--compare", str(post)]) == 2
    assert "same family" in capsys.readouterr().err
