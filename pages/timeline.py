"""Timeline: every checkpoint of a run diagnosed; metrics against epoch show when collapse began."""

import streamlit as st

from core.errors import CollapseExplorerError
from core.metrics import all_metrics, label
from core.paths import demo_runs, display_name, resolve_user_path
from core.plots.runs import timeline_figure
from core.runs import main_family, metric_series
from ui import cache, state, widgets

st.title("Timeline")
runs = demo_runs()
source = st.radio("Run folder", ["Demo run", "Path"], horizontal=True, key="timeline_source")
folder = None
if source == "Demo run":
    names = [display_name(r) for r in runs]
    if not names:
        st.info("No demo runs are shipped; type a run folder path instead.")
        st.stop()
    folder = str(runs[names.index(st.selectbox("Demo run", names, key="timeline_demo"))])
else:
    text = st.text_input("Run folder path", key="timeline_path", placeholder="/data/runs/fclf")
    if not text:
        st.stop()
    try:
        folder = str(resolve_user_path(text))
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
        st.stop()

try:
    points = cache.run_timeline(folder, state.probe_path(), state.trusted())
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

family = main_family(points)
series = metric_series(points)
diagnosed = [p for p in points if p.report is not None]
st.caption(f"{len(diagnosed)} of {len(points)} checkpoints diagnosed · family: {family or 'none'}")
for point in points:
    if point.error:
        st.warning(f"{display_name(point.path)}: {point.error}")
    elif point.family != family:
        st.warning(f"{display_name(point.path)}: a {point.family} checkpoint in a {family} run, left out")

if series:
    default = [k for k in series if k in all_metrics()][:3]
    chosen = st.multiselect(
        "Metrics", list(series), default=default, format_func=label, key="timeline_metrics"
    )
    st.plotly_chart(timeline_figure(series, chosen), width="stretch")

rows = [
    {
        "epoch": p.epoch,
        "checkpoint": display_name(p.path),
        "verdict": ", ".join(f"{f.kind}: {f.severity}" for f in p.report.findings)
        if p.report
        else "unreadable",
        "summary": p.report.findings[0].summary if p.report and p.report.findings else (p.error or ""),
    }
    for p in points
]
st.dataframe(rows, hide_index=True, width="stretch")
