"""The HTML report draws flow checkpoints in the same joint, aligned frames as the Compare page."""

from core import DEMO_DIR
from core.cli import main
from core.io.paths import demo_checkpoints
from core.plots.palette import SLOT_COLOURS
from core.report.figures import report_figures
from core.timeline import report_for


def _last(run: str):
    return [p for p in demo_checkpoints() if p.parent == DEMO_DIR / "flow" / run][-1]


def test_flow_report_has_the_trajectories_side_by_side(tmp_path):
    a, b = _last("collapsed"), _last("fixed")
    items = [(label, str(path), report_for(str(path), None)[3]) for label, path in (("A", a), ("B", b))]
    frames, steps = report_figures(items, str(a.parent / "probe.npz"))
    # A and B in their own colours under a plain axis title, the endpoints' picture first.
    assert steps.layout.title.text.startswith("How far the inputs move")
    assert steps.layout.yaxis.title.text == "mean distance moved in the step"
    assert [t.line.color for t in steps.data] == [SLOT_COLOURS["A"], SLOT_COLOURS["B"]]
    assert [t.name for t in steps.data] == ["A", "B"] and steps.layout.legend.title.text == "checkpoint"
    assert {t.xaxis for t in frames.data} == {"x", "x2"}
    titles = [t.text for t in frames.layout.annotations]
    assert titles[0].startswith("A: flow/collapsed/") and "trustworthiness" in titles[0]
    assert any(t.name.startswith("endpoint · ") for t in frames.data)
    alone = report_figures(items[:1], str(a.parent / "probe.npz"))
    assert len(alone) == 2 and alone[0].layout.title.text.startswith("A: flow/collapsed/")
    assert main(["report", str(a), "--compare", str(b), "--out", str(tmp_path / "r.html")]) == 1
    page = (tmp_path / "r.html").read_text()
    assert page.count('class="plot"') == 2  # the trajectories side by side, and mean step length
    assert page.count("frame trustworthiness 0.9") == 2 and "endpoint \\u00b7" in page
