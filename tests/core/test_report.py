import json

import pytest
import torch

from core.adapters.base import AdapterSpec
from core.cli import main
from core.diagnosis import Finding, Report
from core.errors import CollapseExplorerError
from core.metrics import METRICS, MetricInfo, Undefined, register_metrics
from core.paths import DEMO_DIR, demo_checkpoints
from core.report import check_comparable, compare_metrics, export_text, write_atomic
from core.runs import main_family, metric_series, timeline
from tests.conftest import folder_snapshot

register_metrics(
    MetricInfo("test_alive", "Alive", "higher", "test metric", "test"),
    MetricInfo("test_loss", "Loss", "lower", "test metric", "test"),
)


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
    assert "<script src=" not in page and "Plotly" in page and "fix it" in page and "▲" not in page
    data = json.loads(export_text([a, b], deltas, "json"))
    assert data["reports"][0]["findings"][0]["metrics"]["test_alive"] == 0.1
    assert {row["metric"]: row["b_is"] for row in data["comparison"]} == {
        "test_alive": "better",
        "test_loss": "better",
    }
    out = write_atomic(tmp_path / "r.html", page)
    assert out.read_text() == page and [p.name for p in tmp_path.iterdir()] == ["r.html"]
    ckpt_dir = tmp_path / "ckpts"
    ckpt_dir.mkdir()
    (ckpt_dir / "m.pt").write_bytes(b"x")
    with pytest.raises(CollapseExplorerError, match="beside the checkpoint"):
        write_atomic(ckpt_dir / "r.html", page, forbidden=[ckpt_dir / "m.pt"])
    assert [p.name for p in ckpt_dir.iterdir()] == ["m.pt"]


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


def test_report_cli_writes_html_and_refuses_checkpoint_folder(tmp_path, capsys):
    a = [p for p in demo_checkpoints() if p.parent == DEMO_DIR / "codebook" / "collapsing"][-1]
    b = [p for p in demo_checkpoints() if p.parent == DEMO_DIR / "codebook" / "fixed"][-1]
    code = main(["report", str(a), "--compare", str(b), "--out", str(tmp_path / "r.html")])
    assert code == 1  # A collapsed
    page = (tmp_path / "r.html").read_text()
    assert "<h1>Collapse Explorer report</h1>" in page and page.count('class="plotly-graph-div"') == 1
    assert "<script src=" not in page  # plotly.js is inline: the report works offline
    assert main(["report", str(a), "--out", str(a.parent / "r.json")]) == 2
    assert "beside the checkpoint" in capsys.readouterr().err
    assert not (a.parent / "r.json").exists()
    post = [p for p in demo_checkpoints() if p.parent == DEMO_DIR / "posterior" / "collapsed"][-1]
    assert main(["report", str(a), "--compare", str(post)]) == 2
    assert "same family" in capsys.readouterr().err
