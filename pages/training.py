"""Training: a run's logged losses over steps, the events where training went wrong, and the fixes."""

import streamlit as st

from core.io.errors import CollapseExplorerError
from core.plots.training import gap_figure, loss_figure
from ui import cache, router, verdict, widgets
from ui import training as tr

router.require()

OTHER = "Other folder…"
NONE = "(none)"

st.title("Training")
verdict.strip()
st.caption(
    "Reads TensorBoard event files, Lightning metrics.csv, CSV and JSON training logs in a run folder. "
    "Smoothing is TensorBoard's debiased EMA. A spike is a point above median + 6 x 1.4826 x MAD of the "
    "previous 50 points of the same series; a divergence is validation rising over 3 evaluations while "
    "training falls."
)

choices = tr.run_choices()
labels = [c.label for c in choices] + [OTHER]
folder_of = {c.label: c.folder for c in choices}
left, right = st.columns(2)
choice_a = left.selectbox("Run folder", labels, key="tr_run")
choice_b = right.selectbox(
    "Compare with", [NONE, *[x for x in labels if x not in (choice_a, OTHER)], OTHER], key="tr_compare"
)

try:
    if choice_a == OTHER:
        typed = left.text_input("Run folder path", key="tr_path", placeholder="/data/runs/my_run")
        if not typed:
            st.info("Type a run folder (or a single log file) to read its training logs.")
            st.stop()
        folder_a = tr.user_folder(typed)
    else:
        folder_a = folder_of[choice_a]
    folder_b = None
    if choice_b == OTHER:
        typed_b = right.text_input("Second run folder path", key="tr_path_b")
        folder_b = tr.user_folder(typed_b) if typed_b else None
    elif choice_b != NONE:
        folder_b = folder_of[choice_b]
    run_a = tr.analysis(folder_a)
    run_b = tr.analysis(folder_b) if folder_b else None
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

runs = [("A", run_a)] + ([("B", run_b)] if run_b else [])
for label, run in runs:
    for source in run.log.sources:
        for note in source.notes:
            (st.warning if "truncated" in note or "half-written" in note else st.caption)(
                widgets.md(f"{label} · {source.path}: {note}")
            )

if not run_a.log.series_names:
    st.warning("The logs hold no values yet (an empty or unflushed file); nothing to plot.")
    st.stop()

st.subheader("Findings")
for column, (label, run) in zip(st.columns(len(runs)), runs, strict=True):
    with column:
        if len(runs) > 1:
            st.markdown(f"**Run {widgets.md(label)}**")
        for finding in run.findings:
            widgets.finding_card(finding)

options = sorted(set(run_a.log.series_names).union(run_b.log.series_names if run_b else ()))
c1, c2, c3, c4 = st.columns([4, 1, 1, 2])
if st.session_state.get("_tr_series_run", folder_a) != folder_a or "tr_series" not in st.session_state:
    st.session_state["tr_series"] = list(run_a.default_series)  # a new run starts from its own defaults
st.session_state["_tr_series_run"] = folder_a
series = c1.multiselect("Series", options, key="tr_series")
log_y = c2.toggle("Log scale", value=False, key="tr_log")
smoothing = c4.slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="tr_smoothing")
show_events = c3.toggle("Events", value=True, key="tr_events")

if series:
    widgets.chart(
        loss_figure(
            [(label, run.log) for label, run in runs],
            series,
            log_y=log_y,
            smoothing=smoothing,
            events=[run.events for _, run in runs] if show_events else None,
            checkpoint_steps=[run.checkpoints for _, run in runs],
        ),
        key="tr_loss_chart",
    )
else:
    st.info("Pick at least one series to plot.")

st.subheader("Events")
rows = [{"run": label, **event.row()} for label, run in runs for event in run.events]
if rows:
    st.dataframe(rows, hide_index=True, key="tr_event_table")
else:
    st.success("No NaN/Inf, spikes, gradient blow-up or validation divergence detected.")

if run_a.watch:
    st.subheader("Loss components to watch")
    st.caption(
        "Usual ranges from the flow-field and VAE reports (rules of thumb for those setups): contrastive "
        "1-2, divergence < 1, curl < 0.1, identity 0.001-0.01, KL > 50 with free bits."
    )
    st.dataframe(list(run_a.watch), hide_index=True)

pairs = sorted(set(run_a.pairs).union(run_b.pairs if run_b else ()))
if pairs:
    st.subheader("Validation - training gap")
    widgets.chart(
        gap_figure([(label, run.log) for label, run in runs], pairs, smoothing=smoothing), key="tr_gap_chart"
    )

if run_a.checkpoint_files:
    st.subheader("Checkpoint weights")
    path_of = dict(run_a.checkpoint_files)
    chosen = path_of[st.selectbox("Checkpoint", list(path_of), index=len(path_of) - 1, key="tr_ckpt")]
    try:
        health, weight_verdicts = cache.checkpoint_health(chosen)
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
    else:
        widgets.metric_grid(health.cards())
        for finding in weight_verdicts:
            widgets.finding_card(finding)
        st.dataframe(health.rows(), hide_index=True)

with st.expander("Log files read"):
    st.dataframe(
        [
            {"run": label, "file": s.path, "kind": s.kind, "points": s.points, "notes": "; ".join(s.notes)}
            for label, run in runs
            for s in run.log.sources
        ],
        hide_index=True,
    )
