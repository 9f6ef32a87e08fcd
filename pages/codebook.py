"""Codebook: which codes a VQ model uses, across the checkpoints of a run, per class, and run A vs run B."""

import math
from pathlib import Path

import streamlit as st

from core.diagnosis.codebook import EMA_DEAD_THRESHOLD
from core.io.errors import CollapseExplorerError
from core.metrics import format_value
from core.plots import codebook as plots
from ui import cache, router, state, verdict, widgets
from ui import codebook as cb

router.require()

st.title("Codebook usage")
verdict.strip()
picture_slot = st.container()  # A's (and B's) usage strip, drawn once the controls below are read
st.caption(
    "Perplexity = exp(entropy) of code usage counted over the whole probe pass (1 = one code, K = uniform). "
    "A code is dead when its share is at most threshold / K."
)

choices = cb.run_choices()
if not choices:
    st.info("No codebook runs: pick a VQ checkpoint as A or B in the sidebar, or build the demo.")
    st.stop()
labels = [c.label for c in choices]
by_label = {c.label: c for c in choices}

left, right = st.columns(2)
run_a = by_label[left.selectbox("Run", labels, key="cb_run")]
others = ["(none)", *[label for label in labels if label != run_a.label]]
default_b = next((i for i, label in enumerate(others) if label != "(none)"), 0)
choice_b = right.selectbox("Compare with", others, index=default_b, key="cb_compare")
run_b = by_label.get(choice_b)

try:
    usage_a = cb.usage_of_run(run_a.folder)
    usage_b = cb.usage_of_run(run_b.folder) if run_b else None
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

names = list(usage_a.names)
epoch_of = dict(zip(names, usage_a.epochs, strict=True))
default_name = names[-1]
if run_a.checkpoint is not None and Path(run_a.checkpoint).name in names:
    default_name = Path(run_a.checkpoint).name
if st.session_state.get("cb_epoch") not in names:  # a new run without the checkpoint chosen before
    st.session_state["cb_epoch"] = default_name
# The page follows the sidebar: when checkpoint A changes there, the scrubber moves to it (the scrubber is
# the run view's own control in between).
followed = st.session_state.get("_cb_followed")
if run_a.checkpoint is not None and followed not in (None, run_a.checkpoint):
    st.session_state["cb_epoch"] = default_name
st.session_state["_cb_followed"] = run_a.checkpoint
chosen = st.select_slider(
    "Checkpoint (epoch)", options=names, format_func=lambda n: f"epoch {epoch_of[n]}", key="cb_epoch"
)
ema_only = set(usage_a.sources) == {"ema"}
c2, c3, c4 = st.columns([2, 1, 1])
threshold = c2.slider(
    "Dead threshold (share of uniform 1/K)",
    0.0,
    0.5,
    EMA_DEAD_THRESHOLD if ema_only else 0.0,
    0.01,
    key="cb_threshold",
    help="0: a code is dead when never chosen. EMA sizes never reach 0, so weight-only usage needs > 0.",
)
log = c3.toggle("Log scale", value=True, key="cb_log")
heads = usage_a.counts.shape[1]
if st.session_state.get("cb_head", 0) >= heads:
    st.session_state["cb_head"] = 0
head = int(c4.number_input("Head", 0, heads - 1, key="cb_head")) if heads > 1 else 0

position = names.index(chosen)
epoch = epoch_of[chosen]
path = cb.checkpoint_path(run_a.folder, usage_a.names[position])
counts = usage_a.counts[position]
summary = cb.summary(counts[head], threshold)
source = {
    "data": "model run on probe x",
    "probe codes": "probe codes",
    "ema": "EMA cluster sizes (weights only)",
}
st.subheader(f"{run_a.label} · {usage_a.names[position]}")
widgets.metric_grid(
    {
        "Perplexity": format_value(summary["code_perplexity"], 2),
        "Perplexity / K": format_value(summary["code_perplexity_ratio"], 3),
        "Dead codes": cb.dead_codes_text(summary),
        "Used codes": f"{format_value(summary['used_codes'])} of {summary['codebook_size']:,}",
    }
)
st.caption(f"Usage from {source[usage_a.sources[position]]}.")

probe = cb.probe_for(run_a.folder)
try:
    report = cache.report(path, probe, state.trusted())
except CollapseExplorerError as exc:
    widgets.show_error(exc)
else:
    widgets.findings_section(report, show_errors_as=st.error)

# B's checkpoint: the sidebar's B when the compared run is its run, else the run's last one.
at_b = -1
if run_b is not None and usage_b is not None and run_b.checkpoint is not None:
    at_b = next((i for i, n in enumerate(usage_b.names) if n == Path(run_b.checkpoint).name), -1)
strip_curves = {f"{run_a.label} epoch {epoch}": counts[head]}
if usage_b is not None and run_b is not None and usage_b.counts.shape[1:] == usage_a.counts.shape[1:]:
    strip_curves[f"{run_b.label} epoch {usage_b.epochs[at_b]}"] = usage_b.counts[at_b, head]
with picture_slot:
    st.plotly_chart(plots.usage_rows(strip_curves), key="cb_strip")
    st.caption(
        "One row per checkpoint: the first follows the sidebar's A (or the run and epoch chosen below), the "
        "second the compared run at the sidebar's B (else its last checkpoint)."
    )

tab_run, tab_ab, tab_class, tab_recon = st.tabs(["Run", "A / B", "Per class", "Reconstructions"])
with tab_run:
    st.plotly_chart(plots.usage_heatmap(usage_a, head=head, log=log, title=f"Code usage: {run_a.label}"))
    curves = {f"{run_a.label} epoch {epoch}": counts[head]}
    if usage_b is not None and run_b is not None:
        curves[f"{run_b.label} epoch {usage_b.epochs[at_b]}"] = usage_b.counts[at_b, head]
    # One under the other: side by side they shrink to a few hundred pixels on a laptop screen.
    st.plotly_chart(plots.sorted_usage_figure(curves, log=log))
    st.plotly_chart(plots.lorenz_figure(curves))
    shown = {run_a.label: usage_a} | ({run_b.label: usage_b} if usage_b is not None and run_b else {})
    widgets.csv_download(
        "Download the code usage (CSV)", cb.usage_table(shown), "codebook-usage.csv", key="_cb_csv"
    )
with tab_ab:
    runs = {run_a.label: usage_a}
    if usage_b is not None and run_b is not None:
        runs[run_b.label] = usage_b
    if usage_b is not None and usage_b.counts.shape[1:] != usage_a.counts.shape[1:]:
        st.error("The two runs have different codebook shapes; showing their timelines only.")
    else:
        st.plotly_chart(plots.ab_heatmaps(runs, head=head, log=log))
    logged = {
        label: curve for label in runs if (curve := cb.logged_perplexity(by_label[label].folder)) is not None
    }
    st.plotly_chart(plots.timeline_figure(runs, threshold=threshold, head=head, logged=logged))
with tab_class:
    try:
        usage = cb.usage_of_checkpoint(path, probe)
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
        usage = None
    per_class = cb.class_counts(usage) if usage is not None else None
    if per_class is None:
        st.info(
            "Per-class usage needs code indices (probe x for a rebuildable model, or probe codes) and labels."
        )
    else:
        st.plotly_chart(plots.class_heatmap(per_class, log=log))
with tab_recon:
    shown = [(f"{run_a.label} · epoch {epoch}", path, probe)]
    if usage_b is not None and run_b is not None:
        last_b = cb.checkpoint_path(run_b.folder, usage_b.names[-1])
        shown.append((f"{run_b.label} · epoch {usage_b.epochs[-1]}", last_b, cb.probe_for(run_b.folder)))
    for title, ckpt, ckpt_probe in shown:
        try:
            pair = cb.reconstructions(ckpt, ckpt_probe)
        except CollapseExplorerError as exc:
            widgets.show_error(exc)
            continue
        side = math.isqrt(pair[0].shape[1]) if pair is not None else 0
        if pair is None or side * side != pair[0].shape[1]:
            st.info(f"{title}: reconstructions need a rebuildable model with square-image probe x.")
        else:
            st.plotly_chart(plots.reconstruction_grid(*pair, image_shape=(side, side), title=title))
