import json

import torch
from streamlit.testing.v1 import AppTest

from core.io.paths import DEMO_DIR, demo_checkpoints
from tests.conftest import ROOT
from ui import flow

COMPARE = str(ROOT / "pages" / "compare.py")
TIMELINE = str(ROOT / "pages" / "timeline.py")


def _last(run: str) -> str:
    return str([p for p in demo_checkpoints() if p.parent == DEMO_DIR / run][-1])


def test_compare_collapsed_and_fixed_codebook_runs():
    at = AppTest.from_file(COMPARE, default_timeout=180)
    at.session_state["checkpoint_a"] = _last("codebook/collapsing")
    at.session_state["checkpoint_b"] = _last("codebook/fixed")
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    row = table[table["metric"] == "Perplexity / K (share 0-1)"].iloc[0]
    assert row["B is"] == "▲ better"
    assert float(row["B"]) > float(row["A"])
    headings = [h.value for h in at.subheader]
    lead = [m.value for m in at.markdown if m.value.startswith("**B fixes")]
    assert lead[0].startswith("**B fixes A's codebook collapse: used codes 10 -> 64")
    assert headings[1:3] == ["Findings of A", "Findings of B"]
    # Every family gets its picture: the codebook's usage strip of A and B.
    charts = at.get("plotly_chart")
    assert charts and json.loads(charts[0].proto.spec)["data"][0]["y"] == ["A", "B"]
    n_rows = len(table)
    at.toggle(key="cmp_only_changed").set_value(True).run()
    assert len(at.dataframe[0].value) <= n_rows
    assert not at.get("download_button")
    at.toggle(key="export_prepare").set_value(True).run()
    assert len(at.get("download_button")) == 2  # the HTML document and its JSON
    assert not at.exception


def test_compare_refuses_different_families():
    at = AppTest.from_file(COMPARE, default_timeout=180)
    at.session_state["checkpoint_a"] = _last("codebook/collapsing")
    at.session_state["checkpoint_b"] = _last("posterior/collapsed")
    at.run()
    assert not at.exception
    assert "same family" in at.error[0].value


def _diagnosed(at: AppTest) -> str:
    """The Timeline's "N of M checkpoints diagnosed" caption (the verdict strip's captions come first)."""
    return next(c.value for c in at.caption if "checkpoints diagnosed" in c.value)


def test_timeline_follows_checkpoint_a_and_charts_what_changes(tmp_path, monkeypatch):
    at = AppTest.from_file(TIMELINE, default_timeout=240)
    at.session_state["checkpoint_a"] = _last("codebook/fixed")
    at.run()
    assert not at.exception
    assert at.radio(key="timeline_source").value == "selected"
    assert "codebook/fixed · checkpoint A's run folder" in [c.value for c in at.caption]
    n = len([p for p in demo_checkpoints() if p.parent == DEMO_DIR / "codebook" / "fixed"])
    assert _diagnosed(at).startswith(
        f"{n} of {n} checkpoints diagnosed"
    ) and "family: codebook" in _diagnosed(at)
    charted = at.multiselect(key="timeline_metrics").value
    assert charted and not {"codebook_size", "code_count", "dead_threshold"} & set(charted)  # constants
    assert charted[0] == "used_codes"
    assert len(at.get("plotly_chart")) == 1 and len(at.dataframe[0].value) == n

    at.radio(key="timeline_source").set_value("demo").run()
    at.selectbox(key="timeline_demo").set_value("flow/collapsed").run()
    assert not at.exception
    assert "family: flow" in _diagnosed(at)
    # A new run brings its own default charts.
    assert "distinct_endpoints" in at.multiselect(key="timeline_metrics").value

    mixed = tmp_path / "run"
    mixed.mkdir()
    (mixed / "broken_epoch_3.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8))
    torch.save({"w": torch.zeros(2, 2)}, mixed / "unknown_epoch_2.pt")
    monkeypatch.setenv("COLLAPSE_EXPLORER_ROOTS", str(tmp_path))
    at.radio(key="timeline_source").set_value("path").run()
    at.text_input(key="timeline_path").input(str(mixed)).run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "broken_epoch_3.pt" in warnings and "PNG image" in warnings and "no adapter recognises" in warnings
    assert _diagnosed(at).startswith("0 of 2 checkpoints diagnosed")


def test_timeline_opens_the_run_another_page_chose():
    at = AppTest.from_file(TIMELINE, default_timeout=240)
    at.session_state["checkpoint_a"] = _last("codebook/fixed")
    at.session_state["timeline_run"] = str(DEMO_DIR / "posterior" / "collapsed")
    at.run()
    assert not at.exception
    assert "posterior/collapsed · the run chosen on the Runs page" in [c.value for c in at.caption]
    assert any("family: posterior" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Use checkpoint A's run instead").click().run()
    assert "timeline_run" not in at.session_state
    assert "codebook/fixed · checkpoint A's run folder" in [c.value for c in at.caption]


def test_compare_flow_runs_side_by_side_in_joint_frames():
    at = AppTest.from_file(COMPARE, default_timeout=180)
    at.session_state["checkpoint_a"] = _last("flow/collapsed")
    at.session_state["checkpoint_b"] = _last("flow/fixed")
    at.run()
    assert not at.exception and not at.error
    assert flow.COMPARE_CAPTION in [c.value for c in at.caption]  # the picture says what it draws
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert {t.get("xaxis") for t in spec["data"]} == {"x", "x2"}
    assert any("endpoint" in t["name"] for t in spec["data"] if t.get("xaxis") == "x2")
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles[0].startswith("A: flow/collapsed/") and titles[1].startswith("B: flow/fixed/")
    # The collapsed run lands on far fewer distinct endpoints than the fixed one; both frames are faithful.
    distinct = [int(t.split("<br>")[1].split()[0].replace(",", "")) for t in titles]
    assert distinct[0] * 4 < distinct[1]
    assert all(float(t.split("trustworthiness ")[1]) >= 0.93 for t in titles)


def test_timeline_overlays_b_run_in_b_colour():
    from core.plots.palette import SLOT_COLOURS

    at = AppTest.from_file(TIMELINE, default_timeout=240)
    at.session_state["checkpoint_a"] = _last("codebook/collapsing")
    at.session_state["checkpoint_b"] = _last("codebook/fixed")
    at.run()
    assert not at.exception
    assert any(c.value.startswith("B's run (codebook/fixed) is drawn beside A's") for c in at.caption)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    drawn = {(t["name"], t["line"]["color"]) for t in spec["data"]}
    assert drawn == {("A's run", SLOT_COLOURS["A"]), ("B's run", SLOT_COLOURS["B"])}
