"""Runs: the leaderboard of a sweep (`python -m core sweep ROOT`): which runs collapsed, when, and the evidence."""

import streamlit as st

from core.io.errors import CollapseExplorerError
from core.io.paths import ROOTS_ENV
from core.sweep import SEVERITIES
from ui import router, runs, verdict, widgets

router.require()

st.title("Runs")
verdict.strip()
st.caption(
    "A sweep diagnoses every checkpoint of every run folder under a root: `python -m core sweep ROOT "
    "[--jobs N] [--backend loky|dask|ray]`, or the Sweep button below. A run's status is that of its latest "
    "checkpoint, its history says how it got there; first collapse = the earliest epoch with a collapse "
    "finding; evidence = the metric that shows the latest checkpoint's worst finding."
)

with st.expander("Sweep from here", expanded=not runs.recent_sweeps(), icon=":material/play_arrow:"):
    target = st.radio(
        "What to sweep", [runs.DEMO_CHOICE, runs.FOLDER_CHOICE], horizontal=True, key="runs_sweep_target"
    )
    typed = ""
    if target == runs.FOLDER_CHOICE:
        typed = st.text_input("Folder", key="runs_sweep_root", placeholder="/data/runs")
    if st.button("Sweep", key="_runs_sweep", icon=":material/play_arrow:"):
        try:
            swept = runs.run_sweep(runs.sweep_root(target, typed))
        except CollapseExplorerError as exc:
            widgets.show_error(exc)
        else:
            st.session_state["runs_source"] = "Recent sweep"
            made = [c for c in runs.recent_sweeps() if c.path == swept]
            if made:
                st.session_state["runs_recent"] = runs.choice_label(made[0])

recent = runs.recent_sweeps()
source = st.radio("Sweep table", ["Recent sweep", "Path"], horizontal=True, key="runs_source")
if source == "Recent sweep":
    if not recent:
        st.info(
            "No sweep has been run on this machine yet: sweep the shipped demo or a folder above, run "
            "`python -m core sweep ROOT` in a terminal, or type a table path."
        )
        st.stop()
    labels = [runs.choice_label(c) for c in recent]
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
st.caption(f"{len(board):,} runs, {len(table):,} checkpoints, collapsed now: {collapsed:,}")
chosen = st.multiselect("Severity", list(SEVERITIES), default=list(SEVERITIES), key="runs_severity")
shown = runs.filter_runs(board, chosen)
st.dataframe(
    shown.drop(columns=["folder"]),
    hide_index=True,
    width="stretch",
    column_config={
        "first_collapsed_epoch": st.column_config.NumberColumn("First collapse (epoch)"),
        "status": st.column_config.TextColumn("Status (latest checkpoint)"),
        "history": st.column_config.TextColumn("History", width="large"),
        "worst": "Worst ever",
        "first_collapsed_checkpoint": "First collapse (file)",
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
