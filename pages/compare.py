"""Compare: checkpoint A (before) and B (after) of one family, every metric with its change."""

import streamlit as st

from core.errors import CollapseExplorerError
from core.metrics import format_value
from core.paths import demo_counterpart
from ui import cache, flow, state, widgets

VERDICT = {1: "▲ better", -1: "▼ worse", 0: "–"}

st.title("Compare")
path_a = state.selected_path("a")
path_b = state.selected_path("b")
if path_a is not None and path_b is None:
    counterpart = demo_counterpart(path_a)
    path_b = str(counterpart) if counterpart is not None else None
if path_a is None or path_b is None:
    st.info("Choose checkpoint A and checkpoint B in the sidebar (two checkpoints of the same family).")
    st.stop()
st.caption(
    f"A: `{widgets.short_name(path_a)}` · B: `{widgets.short_name(path_b)}` · both measured on A's probe data"
)

trust, probe = state.trusted(), state.probe_path()
try:
    report_a, report_b, deltas = cache.comparison(path_a, path_b, probe, trust)
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

only_changed = st.toggle("Only metrics that changed", key="only_changed")
rows = [
    {
        "metric": d.label,
        "A": format_value(d.a),
        "B": format_value(d.b),
        "B − A": "" if d.delta is None else f"{d.delta:+.4g}",
        "B is": VERDICT[d.verdict],
    }
    for d in deltas
    if not only_changed or (d.delta is not None and d.delta != 0)
]
st.subheader("Metrics")
st.dataframe(
    widgets.verdict_styler(rows),
    hide_index=True,
    width="stretch",
)

left, right = st.columns(2)
for column, label, report in ((left, "A", report_a), (right, "B", report_b)):
    with column:
        st.subheader(f"Findings of {label}")
        for finding in report.findings:
            widgets.finding_card(finding)
        for error in report.errors:
            st.warning(error)

if flow.is_flow_checkpoint(path_a) and flow.is_flow_checkpoint(path_b):
    st.subheader("Trajectories, each in its joint frame")
    st.caption(flow.COMPARE_CAPTION)
    try:
        st.plotly_chart(flow.compare_figure(path_a, path_b, probe), key="compare_flow_plot")
    except CollapseExplorerError as exc:
        widgets.show_error(exc)

st.subheader("Export")
widgets.export_buttons(path_a, path_b, probe, trust)
