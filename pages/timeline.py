"""Timeline: every checkpoint of a run diagnosed; metrics against epoch show when collapse began. Checks
the collapse guard logged during training (collapse_guard.jsonl) show against step below them.

The run is checkpoint A's folder (or the one the Runs page chose) unless another is picked here; the
default charts are the metrics that change over the run."""

from pathlib import Path

import streamlit as st

from core.io.errors import CollapseExplorerError
from core.io.paths import demo_runs, display_name, resolve_user_path
from core.metrics import label
from core.plots.timeline import timeline_figure
from core.timeline import changing_metrics, main_family, metric_series
from ui import cache, router, state, verdict, widgets

router.require()

SOURCES = {"selected": "Checkpoint A's run", "demo": "Demo run", "path": "Path"}


def guard_section(guard_points: list, notes: list[str]) -> None:
    """The checks the collapse guard logged while the run trained, against step."""
    st.subheader("Guard checks during training")
    stopped = [p.step for p in guard_points if p.report and p.report.collapsed]
    st.caption(
        f"{len(guard_points)} checks by the collapse guard, steps {guard_points[0].step:,}–"
        f"{guard_points[-1].step:,}; "
        + (f"first collapse at step {stopped[0]:,}" if stopped else "no collapse")
    )
    for note in notes:
        st.warning(note)
    guard_series = metric_series(guard_points, x="step")
    if guard_series:
        chosen = st.multiselect(
            "Guard metrics",
            list(guard_series),
            default=changing_metrics(guard_series)[:3],
            format_func=lambda k: label(k, with_unit=True),
            key="timeline_guard_metrics",
        )
        st.plotly_chart(timeline_figure(guard_series, chosen, x_title="step"), width="stretch")
    guard_rows = [
        {
            "step": p.step,
            "epoch": p.epoch,
            "verdict": ", ".join(f"{f.kind}: {f.severity}" for f in p.report.findings) or "nothing decided",
            "summary": p.report.findings[0].summary if p.report.findings else "; ".join(p.report.errors),
        }
        for p in guard_points
        if p.report is not None
    ]
    st.dataframe(guard_rows, hide_index=True, width="stretch")


def run_of_b(folder: str, family: str | None) -> dict | None:
    """B's run (the sidebar's checkpoint B's folder) as metric series to overlay on A's, when it is
    another run of the same family; None otherwise (its problems are said in a caption)."""
    path_b = state.selected_path("b")
    if path_b is None or Path(path_b).parent.resolve() == Path(folder).resolve():
        return None
    try:
        points_b = cache.run_timeline(str(Path(path_b).parent), state.probe_path(), state.trusted())
    except CollapseExplorerError as exc:
        st.caption(f"B's run is not drawn: {' '.join(str(exc).split())}")
        return None
    if main_family(points_b) != family:
        st.caption("B's run is of another family: not drawn beside A's.")
        return None
    st.caption(
        f"B's run ({verdict.plain(display_name(Path(path_b).parent))}) is drawn beside A's, in B's colour."
    )
    return metric_series(points_b)


st.title("Timeline")
verdict.strip()
try:
    own, origin = state.timeline_folder()
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    own, origin = None, "a link whose run folder was refused"
if st.session_state.get(state.TIMELINE_RUN_KEY):
    SOURCES["selected"] = "Run from the Runs page"
options = list(SOURCES) if own else ["demo", "path"]
if st.session_state.get("timeline_source") not in options:
    st.session_state["timeline_source"] = options[0]
source = st.radio("Run folder", options, format_func=SOURCES.get, horizontal=True, key="timeline_source")
folder = None
if source == "selected":
    folder = own
    st.caption(f"{display_name(folder)} · {origin}")
    if st.session_state.get(state.TIMELINE_RUN_KEY):
        st.button("Use checkpoint A's run instead", on_click=state.clear_timeline_run, key="_timeline_clear")
elif source == "demo":
    runs = demo_runs()
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

guard_points, guard_notes = cache.guard_checks(folder)
try:
    points = cache.run_timeline(folder, state.probe_path(), state.trusted())
except CollapseExplorerError as exc:
    if guard_points:  # a run the guard watched may hold its checks but no checkpoint (yet)
        st.caption(f"No checkpoint timeline: {exc}")
        guard_section(guard_points, guard_notes)
    else:
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
    moving = changing_metrics(series)
    if st.session_state.get("_timeline_folder") not in (None, folder):  # a new run: its own default charts
        st.session_state["timeline_metrics"] = moving[:3]
    st.session_state["_timeline_folder"] = folder
    chosen = st.multiselect(
        "Metrics",
        list(series),
        default=moving[:3],
        format_func=lambda k: label(k, with_unit=True),
        key="timeline_metrics",
        help="By default the metrics that change over the run; constants (codebook size, probe rows) say "
        "nothing over time.",
    )
    if not moving:
        st.caption("No metric changes across these checkpoints.")
    if chosen:
        overlay = run_of_b(folder, family)
        st.plotly_chart(timeline_figure(series, chosen, overlay=overlay), width="stretch")

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
if guard_points:
    guard_section(guard_points, guard_notes)
