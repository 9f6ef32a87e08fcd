"""Runs: the leaderboard of a sweep (`python -m core sweep ROOT`): which runs collapsed, when, and the evidence."""

import streamlit as st

from core.io.errors import CollapseExplorerError
from core.io.paths import ROOTS_ENV
from core.sweep import SEVERITIES
from ui import router, runs, widgets

router.require()

st.title("Runs")
st.caption(
    "A sweep diagnoses every checkpoint of every run folder under a root: `python -m core sweep ROOT "
    "[--jobs N] [--backend loky|dask|ray]`. This page reads the table it writes. First collapse = the "
    "earliest epoch with a collapse finding; evidence = the metric that shows the worst finding there."
)

recent = runs.recent_sweeps()
source = st.radio("Sweep table", ["Recent sweep", "Path"], horizontal=True, key="runs_source")
if source == "Recent sweep":
    if not recent:
        st.info(
            "No sweep has been run on this machine yet: run `python -m core sweep ROOT`, or type a table path."
        )
        st.stop()
    labels = [f"{c.label} (swept {c.when})" for c in recent]
    path = recent[labels.index(st.selectbox("Sweep", labels, key="runs_recent"))].path
else:
    text = st.text_input("Table path (.parquet)", key="runs_path", placeholder="/data/sweeps/table.parquet")
    if not text:
        st.stop()
    try:
        path = runs.typed_table(text)
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
        st.stop()

try:
    table, board = runs.tables(path)
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

collapsed = int((board["status"] == "collapse").sum())
st.caption(f"{len(board):,} runs, {len(table):,} checkpoints, collapsed: {collapsed:,}")
chosen = st.multiselect("Severity", list(SEVERITIES), default=list(SEVERITIES), key="runs_severity")
shown = runs.filter_runs(board, chosen)
st.dataframe(
    shown.drop(columns=["folder"]),
    hide_index=True,
    width="stretch",
    column_config={
        "first_collapsed_epoch": st.column_config.NumberColumn("First collapse (epoch)"),
        "first_collapsed_checkpoint": "First collapse (file)",
        "last_severity": "Last checkpoint",
    },
)
if shown.empty:
    st.info("No run has a status among the chosen severities.")
    st.stop()

run = st.selectbox("Run", shown["run"].tolist(), key="runs_pick")
folder = shown.loc[shown["run"] == run, "folder"].iloc[0]
if runs.openable(folder):
    st.button(
        "Open in Timeline",
        key="_runs_open",
        icon=":material/show_chart:",
        on_click=runs.request_timeline,
        args=(folder,),
    )
    runs.follow_request()
else:
    st.warning(
        f"{run} lies outside the folders this server may read, so Timeline cannot open it; its operator can "
        f"allow more with {ROOTS_ENV}."
    )
st.dataframe(runs.checkpoints_of(table, run), hide_index=True, width="stretch")
