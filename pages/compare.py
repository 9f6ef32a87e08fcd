"""Compare: checkpoint A (before) and B (after) of one family: the headline, every metric marked better
or worse from the METRICS table (rows whose good direction depends on context say why), the findings."""

import streamlit as st

from core.io.errors import CollapseExplorerError
from core.io.paths import demo_counterpart
from core.report.compare import headline
from ui import cache, flow, router, state, verdict, widgets

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
verdict.strip(
    b=path_b,
    note="Both measured on A's probe data"
    + ("" if state.selected_path("b") else " · B is the other demo run of A's family"),
)

trust, probe = state.trusted(), state.probe_path()
try:
    report_a, report_b, deltas = cache.comparison(path_a, path_b, probe, trust)
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

st.markdown(f"**{widgets.md(headline(report_a, report_b))}**")
if verdict.picture(path_a, path_b, key="compare_picture", height=360) and verdict.family(path_a) == "flow":
    st.caption(flow.COMPARE_CAPTION)

only_changed = st.toggle("Only metrics that changed", key="cmp_only_changed")
st.subheader("Metrics")
st.dataframe(
    widgets.delta_frame(deltas, only_changed=only_changed),
    hide_index=True,
    width="stretch",
    column_config=widgets.delta_columns(),
)
st.caption(
    "B is ▲ better / ▼ worse by each metric's reading; ◆ depends: the good direction turns on another "
    "metric (see why); – not judged: a count or setting. " + widgets.settings_caption(deltas)
)

left, right = st.columns(2)
for column, label, report in ((left, "A", report_a), (right, "B", report_b)):
    with column:
        st.subheader(f"Findings of {label}")
        widgets.findings_section(report)

st.subheader("Export")
widgets.export_buttons(path_a, path_b, probe, trust)
