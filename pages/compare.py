"""Compare: checkpoint A (before) and B (after) of one family: the headline, every metric marked better
or worse from the METRICS table (rows whose good direction depends on context say why), the findings."""

import streamlit as st

from core.io.errors import CollapseExplorerError
from core.io.paths import demo_counterpart
from core.report import headline, verdict_line
from ui import cache, flow, router, state, widgets

router.require()

st.title("Compare")
path_a = state.selected_path("a")
path_b = state.selected_path("b")
if path_a is not None and path_b is None and state.problem("b") is None:
    counterpart = demo_counterpart(path_a)
    path_b = str(counterpart) if counterpart is not None else None
if path_a is None or path_b is None:
    st.info("Choose checkpoint A and checkpoint B in the sidebar (two checkpoints of the same family).")
    st.stop()
st.caption(
    f"A: `{widgets.short_name(path_a)}` · B: `{widgets.short_name(path_b)}` · both measured on A's probe data"
    + ("" if state.selected_path("b") else " · B is the other demo run of A's family")
)

trust, probe = state.trusted(), state.probe_path()
try:
    report_a, report_b, deltas = cache.comparison(path_a, path_b, probe, trust)
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

st.subheader(headline(report_a, report_b))
for label, report in (("A", report_a), ("B", report_b)):
    st.markdown(widgets.verdict_markdown(label, report, verdict_line(report)))

only_changed = st.toggle("Only metrics that changed", key="cmp_only_changed")
st.subheader("Metrics")
st.dataframe(widgets.delta_frame(deltas, only_changed=only_changed), hide_index=True, width="stretch")
st.caption(
    "B is ▲ better / ▼ worse by each metric's direction in the METRICS table; ◆ depends: the good "
    "direction turns on another metric (see why). " + widgets.settings_caption(deltas)
)

left, right = st.columns(2)
for column, label, report in ((left, "A", report_a), (right, "B", report_b)):
    with column:
        st.subheader(f"Findings of {label}")
        widgets.findings_section(report)

if flow.is_flow_checkpoint(path_a) and flow.is_flow_checkpoint(path_b):
    st.subheader("Trajectories, each in its joint frame")
    st.caption(flow.COMPARE_CAPTION)
    try:
        st.plotly_chart(flow.compare_figure(path_a, path_b, probe), key="compare_flow_plot")
    except CollapseExplorerError as exc:
        widgets.show_error(exc)

st.subheader("Export")
widgets.export_buttons(path_a, path_b, probe, trust)
