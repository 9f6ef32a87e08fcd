"""Codebook page: defaults to the shipped runs, follows the sidebar's A, reacts to its controls."""

import json
import shutil

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import DEMO_DIR
from core.adapters.codebook import run_usage
from core.io.probe import find_probe, load_probe
from core.metrics import format_value
from core.metrics.codebook import usage_summary
from tests.pages.helpers import plain, run_page

RUNS = DEMO_DIR / "codebook"


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _expected(run: str, checkpoint: str, threshold: float = 0.0) -> dict[str, str]:
    """The page's cards for one demo checkpoint, measured by core/ as the page measures it."""
    usage = run_usage(RUNS / run, load_probe(find_probe(RUNS / run / checkpoint)))
    summary = usage_summary(usage.counts[usage.names.index(checkpoint)][0], threshold)
    return {
        "Perplexity": format_value(summary["code_perplexity"], 2),
        "Used codes": f"{format_value(summary['used_codes'])} of {summary['codebook_size']:,}",
    }


def _titles(at: AppTest) -> list[str]:
    return [plain(s.value) for s in at.subheader]


def _captions(at: AppTest) -> str:
    return " ".join(plain(c.value) for c in at.caption)


def _cards(at: AppTest) -> list[dict[str, str]]:
    """The page's usage cards, four per checkpoint shown, in page order (A's, then B's)."""
    values = [(m.label, m.value) for m in at.metric]
    return [dict(values[i : i + 4]) for i in range(0, len(values), 4)]


def _strip_rows(at: AppTest) -> list[str]:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"]


def _dead(run: str, checkpoint: str, threshold: float) -> str:
    """The page's dead-code card of a demo checkpoint, measured by core/."""
    usage = run_usage(RUNS / run, load_probe(find_probe(RUNS / run / checkpoint)))
    share = usage_summary(usage.counts[usage.names.index(checkpoint)][0], threshold)["dead_code_fraction"]
    return f"{share:.0%} ({round(share * 64)} of 64)"


def test_demo_runs_and_controls(tmp_path):
    (tmp_path / "other.pt").write_bytes(b"not a codebook checkpoint")  # A is not a VQ model: demo runs only
    at = run_page("codebook", timeout=90, checkpoint_a=str(tmp_path / "other.pt"))
    assert at.segmented_control(key="cb_view").value == "run"  # nothing chosen to show: the run view
    assert at.selectbox(key="cb_run").options == ["demo: collapsing", "demo: fixed"]
    assert not at.exception
    assert "scrubs the checkpoints of demo: collapsing" in _captions(at)
    at.selectbox(key="cb_run").select("demo: collapsing").run()
    assert at.selectbox(key="cb_compare").value == "demo: fixed"
    assert at.select_slider(key="cb_epoch").value == "vqvae_epoch_040.pt"
    collapsed = _metrics(at)
    assert (
        collapsed["Used codes"] == _expected("collapsing", "vqvae_epoch_040.pt")["Used codes"] == "10 of 64"
    )
    assert float(collapsed["Perplexity / K"]) < 0.2
    assert any("codebook: collapse" in plain(m.value) for m in at.markdown)

    at.select_slider(key="cb_epoch").set_value("vqvae_epoch_001.pt").run()
    first = _expected("collapsing", "vqvae_epoch_001.pt")
    assert {k: _metrics(at)[k] for k in first} == first
    assert _strip_rows(at) == ["demo: collapsing epoch 1", "demo: fixed epoch 40"]

    at.selectbox(key="cb_run").select("demo: fixed").run()
    assert (
        at.select_slider(key="cb_epoch").value == "vqvae_epoch_001.pt"
    )  # the chosen epoch carries over to the other run
    at.select_slider(key="cb_epoch").set_value("vqvae_epoch_040.pt").run()
    fixed = _metrics(at)
    assert float(fixed["Perplexity / K"]) > 0.5 and fixed["Dead codes"] == "0% (0 of 64)"
    at.slider(key="cb_threshold").set_value(0.5).run()
    share, count = _metrics(at)["Dead codes"].split(" (")
    assert share != "0%" and count.endswith(" of 64)") and count != "0 of 64)"  # rare codes now count as dead
    at.toggle(key="cb_log").set_value(False).run()
    at.selectbox(key="cb_compare").select("(none)").run()
    assert not at.exception and not at.error
    charts = at.get("plotly_chart")
    assert len(charts) >= 4
    (csv,) = at.get("download_button")
    assert csv.proto.label == "Download the code usage (CSV)"
    assert any("demo: fixed (training log)" in chart.proto.spec for chart in charts)

    at.segmented_control(key="cb_view").set_value("chosen").run()  # nothing in the sidebar to show
    assert not at.exception and "Neither checkpoint in the sidebar is a codebook model" in at.info[0].value


def test_the_default_view_shows_the_sidebar_a_and_b_side_by_side():
    a, b = RUNS / "collapsing" / "vqvae_epoch_040.pt", RUNS / "fixed" / "vqvae_epoch_010.pt"
    at = run_page("codebook", timeout=90, checkpoint_a=str(a), checkpoint_b=str(b))
    assert not at.exception and not at.error
    assert at.segmented_control(key="cb_view").value == "chosen"
    assert not at.select_slider and not at.selectbox  # no scrubber, no run picker in this view
    assert _titles(at)[:2] == ["A: collapsing/ · vqvae_epoch_040.pt", "B: fixed/ · vqvae_epoch_010.pt"]
    card_a, card_b = _cards(at)
    assert {k: card_a[k] for k in ("Perplexity", "Used codes")} == _expected("collapsing", a.name)
    assert {k: card_b[k] for k in ("Perplexity", "Used codes")} == _expected("fixed", b.name)
    assert card_a["Dead codes"] == "84% (54 of 64)"
    assert _strip_rows(at) == ["A: collapsing/ epoch 40", "B: fixed/ epoch 10"]
    sorted_usage = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert [t["name"] for t in sorted_usage["data"]][:2] == [
        "A: collapsing/ epoch 40 (54 unused not drawn)",
        "B: fixed/ epoch 10 (23 unused not drawn)",
    ]
    assert sorted_usage["layout"]["yaxis"]["type"] == "log"
    assert at.get("download_button")[0].proto.label == "Download the code usage (CSV)"

    # The shared controls move both checkpoints' numbers and pictures.
    at.slider(key="cb_threshold").set_value(0.5).run()
    assert [c["Dead codes"] for c in _cards(at)] == [
        _dead("collapsing", a.name, 0.5),
        _dead("fixed", b.name, 0.5),
    ]
    assert _cards(at)[1]["Dead codes"] != card_b["Dead codes"]  # B's rare codes now count as dead
    at.toggle(key="cb_log").set_value(False).run()
    assert json.loads(at.get("plotly_chart")[1].proto.spec)["layout"]["yaxis"]["type"] == "linear"

    # The run view scrubs A's run from the sidebar's A, and says so; back in the chosen view, A is as before.
    at.segmented_control(key="cb_view").set_value("run").run()
    assert not at.exception
    assert at.selectbox(key="cb_run").value == "A: collapsing/"
    assert at.select_slider(key="cb_epoch").value == "vqvae_epoch_040.pt"
    assert "scrubs the checkpoints of A: collapsing/ (folder collapsing/)" in _captions(at)
    at.select_slider(key="cb_epoch").set_value("vqvae_epoch_005.pt").run()
    assert _titles(at)[0] == "A: collapsing/ · vqvae_epoch_005.pt"
    assert _metrics(at)["Used codes"] == _expected("collapsing", "vqvae_epoch_005.pt", 0.5)["Used codes"]
    assert _strip_rows(at) == ["A: collapsing/ epoch 5", "B: fixed/ epoch 10"]
    at.segmented_control(key="cb_view").set_value("chosen").run()
    assert _titles(at)[:2] == ["A: collapsing/ · vqvae_epoch_040.pt", "B: fixed/ · vqvae_epoch_010.pt"]


def test_sidebar_checkpoint_a_selects_its_run_and_epoch():
    at = run_page("codebook", timeout=90, checkpoint_a=str(RUNS / "collapsing" / "vqvae_epoch_010.pt"))
    assert not at.exception
    assert _titles(at)[0] == "A: collapsing/ · vqvae_epoch_010.pt"
    assert len(_cards(at)) == 1 and _strip_rows(at) == ["A: collapsing/ epoch 10"]
    at.segmented_control(key="cb_view").set_value("run").run()
    assert at.selectbox(key="cb_run").value == "A: collapsing/"
    assert at.select_slider(key="cb_epoch").value == "vqvae_epoch_010.pt"
    assert "demo: collapsing" not in at.selectbox(key="cb_run").options


def test_a_and_b_in_one_run_are_offered_once():
    at = run_page(
        "codebook",
        timeout=90,
        checkpoint_a=str(RUNS / "fixed" / "vqvae_epoch_005.pt"),
        checkpoint_b=str(RUNS / "fixed" / "vqvae_epoch_040.pt"),
        cb_view="run",
    )
    assert at.selectbox(key="cb_run").options == ["A: fixed/", "demo: collapsing"]
    assert at.select_slider(key="cb_epoch").value == "vqvae_epoch_005.pt"
    assert not at.exception


def test_broken_run_folder_shows_an_error_in_the_run_view_only(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(RUNS / "collapsing" / "vqvae_epoch_005.pt", run / "vqvae_epoch_005.pt")
    shutil.copy(RUNS / "collapsing" / "probe.npz", run / "probe.npz")
    (run / "vqvae_epoch_009.pt").write_bytes(b"PK\x03\x04 truncated")
    at = run_page("codebook", timeout=90, checkpoint_a=str(run / "vqvae_epoch_005.pt"))
    assert not at.exception and not at.error  # A itself reads: its broken neighbour does not hide it
    assert _metrics(at)["Used codes"] == _expected("collapsing", "vqvae_epoch_005.pt")["Used codes"]
    at.segmented_control(key="cb_view").set_value("run").run()
    assert not at.exception
    assert at.error and "vqvae_epoch_009.pt" in plain(at.error[0].value)


@pytest.mark.parametrize("slot", ["checkpoint_a", "checkpoint_b"])
def test_non_codebook_selection_falls_back_to_the_demo(slot, tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    at = run_page("codebook", timeout=90, **{slot: str(tmp_path / "x.pt")})
    assert not at.exception
    assert at.selectbox(key="cb_run").value.startswith("demo:")


def test_usage_table_is_long_format_with_shares():
    from core.adapters.codebook import RunUsage
    from ui.codebook import usage_table

    run = RunUsage(("e1.pt",), (1,), np.array([[[3.0, 1.0, 0.0]]]), ("data",))
    rows = usage_table({"demo: x": run})
    assert [r["code"] for r in rows] == [0, 1, 2] and [r["share"] for r in rows] == [0.75, 0.25, 0.0]
    assert rows[0] | {"count": 3.0} == {
        "run": "demo: x",
        "checkpoint": "e1.pt",
        "epoch": 1,
        "head": 0,
        "code": 0,
        "count": 3.0,
        "share": 0.75,
    }


def test_a_builder_model_whose_quantizer_keeps_no_codebook_is_measured(tmp_path, monkeypatch):
    """An FSQ model (tests/core/test_implicit_codebook.py) opened through the app's builder, files
    trusted: the page finds its implicit codebook by running the probe beside it, in both epochs."""
    from tests.core.test_implicit_codebook import Model, collapse, fsq_probe
    from ui.state import TRUST_KEY, TRUSTED_FILES_KEY, file_identity

    run = tmp_path / "fsq_run"
    run.mkdir()
    for epoch, model in ((1, Model("fsq")), (2, collapse(Model("fsq")))):
        torch.save(
            {"state_dict": model.state_dict(), "config": {"quantizer": "fsq"}}, run / f"fsq_epoch_{epoch}.pt"
        )
    np.savez(run / "probe.npz", x=fsq_probe())
    monkeypatch.setenv("COLLAPSE_EXPLORER_BUILDER", "tests.core.test_implicit_codebook:build")
    last = run / "fsq_epoch_2.pt"
    at = run_page(
        "codebook",
        timeout=90,
        checkpoint_a=str(last),
        **{TRUST_KEY: True, TRUSTED_FILES_KEY: {file_identity(last)}},
    )
    assert not at.exception and not at.error, [plain(e.value) for e in at.error]
    assert _titles(at)[0] == "A: fsq_run/ · fsq_epoch_2.pt" and _metrics(at)["Used codes"] == "1 of 125"
    at.segmented_control(key="cb_view").set_value("run").run()
    assert [plain(e.value) for e in at.error] == [
        "The two runs have different codebook shapes; showing their timelines only."
    ]
    at.selectbox(key="cb_compare").select("(none)").run()  # the shipped runs have K = 64
    assert not at.exception and not at.error, [plain(e.value) for e in at.error]
    assert at.selectbox(key="cb_run").value == "A: fsq_run/"
    assert _metrics(at)["Used codes"] == "1 of 125"
    at.select_slider(key="cb_epoch").set_value("fsq_epoch_1.pt").run()
    assert _metrics(at)["Used codes"] == "100 of 125"

    monkeypatch.delenv("COLLAPSE_EXPLORER_BUILDER")  # without the builder the file is no codebook model
    at = run_page("codebook", timeout=90, checkpoint_a=str(last), cb_view="run")
    assert "A: fsq_run/" not in at.selectbox(key="cb_run").options


def test_both_views_follow_the_sidebar_checkpoints():
    first, last = (
        str(DEMO_DIR / "codebook/collapsing" / n) for n in ("vqvae_epoch_001.pt", "vqvae_epoch_040.pt")
    )
    fixed = str(DEMO_DIR / "codebook/fixed/vqvae_epoch_010.pt")
    at = run_page("codebook", checkpoint_a=last, checkpoint_b=fixed)
    assert _strip_rows(at) == ["A: collapsing/ epoch 40", "B: fixed/ epoch 10"]
    at.session_state["checkpoint_a"] = first  # the sidebar's A moves: the page follows
    at.run()
    assert _strip_rows(at) == ["A: collapsing/ epoch 1", "B: fixed/ epoch 10"]
    at.segmented_control(key="cb_view").set_value("run").run()
    assert at.select_slider(key="cb_epoch").value == "vqvae_epoch_001.pt"
    at.select_slider(key="cb_epoch").set_value("vqvae_epoch_020.pt").run()
    at.session_state["checkpoint_a"] = last  # the scrubber moves to the sidebar's new A
    at.run()
    assert at.select_slider(key="cb_epoch").value == "vqvae_epoch_040.pt"
    assert _strip_rows(at)[1] == "B: fixed/ epoch 10"  # B at the sidebar's B, not its run's last checkpoint
