"""The family pictures an exported report shows for A and B (figures and tables)."""

import plotly.graph_objects as go

from core.diagnosis import Report
from core.plots.palette import SLOT_COLOURS
from core.report.figures import report_figures
from core.report.html import Table
from core.timeline import changing_metrics
from tests.adapters.cases_text import seed_checkpoint


def test_text_reports_lead_with_what_each_model_wrote_then_diversity_bars(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = seed_checkpoint(tmp_path / "a", "additive"), seed_checkpoint(tmp_path / "b", "attention")
    items = [("A", str(a), Report(str(a), "x")), ("B", str(b), Report(str(b), "x"))]
    table, bars = report_figures(items)
    assert isinstance(bars, go.Figure) and {t.name for t in bars.data} == {"A", "B"}
    assert [t.marker.color for t in bars.data] == [SLOT_COLOURS["A"], SLOT_COLOURS["B"]]
    assert isinstance(table, Table) and table.columns == ("input", "reference", "A", "B")
    assert len(table.rows) == 8 and all(len(row) == 4 for row in table.rows)  # the probe has 8 rows
    assert "greedy" in table.title


def test_changing_metrics_leave_constants_out_and_lead_with_directed_ones():
    series = {
        "codebook_size": [(1, 64), (5, 64)],
        "code_count": [(1, 1440), (5, 1440)],
        "max_abs_weight": [(1, 3.0), (5, 9.0)],
        "used_codes": [(1, 10), (5, 60)],
        "rows": [(1, 10), (5, 12)],
    }
    assert changing_metrics(series) == ["used_codes", "max_abs_weight", "rows"]
