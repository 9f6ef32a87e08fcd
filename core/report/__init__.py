"""Before/after comparison and exports: compare.py (comparison rules and the sentences that lead a report),
html.py (the offline HTML document and its JSON) and figures.py (each family's pictures for a report). This
file only re-exports.
"""

from __future__ import annotations

from .compare import (
    HEADLINE_METRIC,
    SHARED_INPUT_FAMILIES,
    Judgement,
    MetricDelta,
    check_comparable,
    compare_metrics,
    evidence,
    headline,
    verdict_line,
)
from .html import (
    Entry,
    Picture,
    Table,
    export_both,
    export_text,
    measured,
    product_version,
    report_html,
    report_json,
    run_relative,
    write_atomic,
)

__all__ = [
    "HEADLINE_METRIC",
    "SHARED_INPUT_FAMILIES",
    "Entry",
    "Judgement",
    "MetricDelta",
    "Picture",
    "Table",
    "check_comparable",
    "compare_metrics",
    "evidence",
    "export_both",
    "export_text",
    "headline",
    "measured",
    "product_version",
    "report_html",
    "report_json",
    "run_relative",
    "verdict_line",
    "write_atomic",
]
