"""Codebook: which codes a VQ model uses. By default the sidebar's A (and B beside it); the "run" view scrubs
the checkpoints of one run folder epoch by epoch and sets runs side by side."""

from pathlib import Path

import streamlit as st

from core.diagnosis.codebook import EMA_DEAD_THRESHOLD
from core.io.errors import CollapseExplorerError
from core.plots import codebook as plots
from ui import codebook as cb
from ui import router, verdict, widgets

router.require()

st.title("Codebook usage")
verdict.strip()
picture_slot = (
    st.container()
)  # the usage strip of what the view shows, drawn once the controls below are read
st.caption(
    "Perplexity = exp(entropy) of code usage counted over the whole probe pass (1 = one code, K = uniform). "
    "A code is dead when its share is at most threshold / K."
)

sidebar = cb.sidebar_codebooks()
choices = cb.run_choices()
if not choices:
    st.info("No codebook runs: pick a VQ checkpoint as A or B in the sidebar, or build the demo.")
    st.stop()
view = st.segmented_control(
    "View",
    list(cb.VIEWS),
    format_func=cb.VIEWS.get,
    default="chosen" if sidebar else "run",
    required=True,
    key="cb_view",
    help="Chosen checkpoints: the sidebar's A and B, side by side. Across a run: one run folder's "
    "checkpoints, scrubbed epoch by epoch (the sidebar's choice is not changed by it).",
)


def controls(sources: set[str], heads: int) -> tuple[float, bool, int]:
    """The dead threshold, log scale and head controls both views share."""
    c2, c3, c4 = st.columns([2, 1, 1])
    threshold = c2.slider(
        "Dead threshold (share of uniform 1/K)",
        0.0,
        0.5,
        EMA_DEAD_THRESHOLD if sources == {"ema"} else 0.0,
        0.01,
        key="cb_threshold",
        help="0: a code is dead when never chosen. EMA sizes never reach 0, so weight-only usage needs > 0.",
    )
    log = c3.toggle("Log scale", value=True, key="cb_log")
    if st.session_state.get("cb_head", 0) >= heads:
        st.session_state["cb_head"] = 0
    head = int(c4.number_input("Head", 0, heads - 1, key="cb_head")) if heads > 1 else 0
    return threshold, log, head


def usage_plots(shown: list[cb.Shown], head: int, log: bool) -> None:
    curves = {one.row: one.at(head) for one in shown}
    # One under the other: side by side they shrink to a few hundred pixels on a laptop screen.
    widgets.chart(plots.sorted_usage_figure(curves, log=log))
    widgets.chart(plots.lorenz_figure(curves))


def strip(shown: list[cb.Shown], head: int, caption: str) -> None:
    same = [one for one in shown if one.counts.shape == shown[0].counts.shape]
    with picture_slot:
        widgets.chart(plots.usage_rows({one.row: one.at(head) for one in same}), key="cb_strip")
        st.caption(caption)


def chosen_view() -> None:
    """The sidebar's A, and B beside it, at their own checkpoints."""
    if not sidebar:
        st.info(
            "Neither checkpoint in the sidebar is a codebook model: choose one there (the demo run "
            "codebook · collapsing, say), or look through the shipped runs with 'Across a run' above."
        )
        return
    try:
        shown = [cb.measured(slot, path) for slot, path in sidebar]
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
        verdict.probe_uploader(key="cb_probe")
        return
    threshold, log, head = controls({one.source for one in shown}, shown[0].counts.shape[0])
    strip(shown, head, "One row per checkpoint chosen in the sidebar: A, and B when chosen.")
    if len({one.counts.shape for one in shown}) > 1:
        st.error("A and B have different codebook shapes: their usage is shown apart, not in one picture.")
    for column, one in zip(st.columns(len(shown)), shown, strict=True):
        with column:
            cb.cards(one, head, threshold, per_row=1 if len(shown) > 1 else 2)
    tab_usage, tab_class, tab_recon = st.tabs(["Usage", "Per class", "Reconstructions"])
    with tab_usage:
        usage_plots(shown, head, log)
        widgets.csv_download(
            "Download the code usage (CSV)",
            cb.usage_table({one.run: cb.as_run(one) for one in shown}),
            "codebook-usage.csv",
            key="_cb_csv",
        )
    with tab_class:
        cb.class_section(shown, log=log)
    with tab_recon:
        cb.reconstruction_section(shown)


def run_view() -> None:
    """One run folder's checkpoints scrubbed by epoch, another run beside it."""
    labels = [c.label for c in choices]
    by_label = {c.label: c for c in choices}
    left, right = st.columns(2)
    run_a = by_label[left.selectbox("Run to scrub", labels, key="cb_run")]
    others = ["(none)", *[label for label in labels if label != run_a.label]]
    default_b = next((i for i, label in enumerate(others) if label != "(none)"), 0)
    choice_b = right.selectbox("Compare with", others, index=default_b, key="cb_compare")
    run_b = by_label.get(choice_b)
    st.caption(
        widgets.md(
            f"This view scrubs the checkpoints of {run_a.label} (folder {Path(run_a.folder).name}/) epoch by "
            "epoch; the sidebar's A and B stay as they are."
        )
    )

    try:
        usage_a = cb.usage_of_run(run_a.folder)
        usage_b = cb.usage_of_run(run_b.folder) if run_b else None
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
        return

    names = list(usage_a.names)
    epoch_of = dict(zip(names, usage_a.epochs, strict=True))
    default_name = names[-1]
    if run_a.checkpoint is not None and Path(run_a.checkpoint).name in names:
        default_name = Path(run_a.checkpoint).name
    if st.session_state.get("cb_epoch") not in names:  # a new run without the checkpoint chosen before
        st.session_state["cb_epoch"] = default_name
    # The scrubber starts at the sidebar's A, and moves to it when A changes there (in between it is this
    # view's own control).
    followed = st.session_state.get("_cb_followed")
    if run_a.checkpoint is not None and followed not in (None, run_a.checkpoint):
        st.session_state["cb_epoch"] = default_name
    st.session_state["_cb_followed"] = run_a.checkpoint
    chosen = st.select_slider(
        "Checkpoint (epoch)", options=names, format_func=lambda n: f"epoch {epoch_of[n]}", key="cb_epoch"
    )
    threshold, log, head = controls(set(usage_a.sources), usage_a.counts.shape[1])

    scrubbed = cb.in_run(run_a.label, run_a.folder, usage_a, names.index(chosen))
    cb.cards(scrubbed, head, threshold)

    # B's checkpoint: the sidebar's B when the compared run is its run, else the run's last one.
    shown = [scrubbed]
    if usage_b is not None and run_b is not None:
        at_b = len(usage_b.names) - 1
        if run_b.checkpoint is not None:
            at_b = next((i for i, n in enumerate(usage_b.names) if n == Path(run_b.checkpoint).name), at_b)
        shown.append(cb.in_run(run_b.label, run_b.folder, usage_b, at_b))
    strip(
        shown,
        head,
        "One row per checkpoint: the epoch scrubbed below, then the compared run at the sidebar's B (else its "
        "last checkpoint).",
    )

    tab_run, tab_runs, tab_class, tab_recon = st.tabs(
        ["Run", "Runs side by side", "Per class", "Reconstructions"]
    )
    with tab_run:
        widgets.chart(plots.usage_heatmap(usage_a, head=head, log=log, title=f"Code usage: {run_a.label}"))
        usage_plots(shown, head, log)
        runs = {run_a.label: usage_a} | ({run_b.label: usage_b} if usage_b is not None and run_b else {})
        widgets.csv_download(
            "Download the code usage (CSV)", cb.usage_table(runs), "codebook-usage.csv", key="_cb_csv"
        )
    with tab_runs:
        if usage_b is not None and usage_b.counts.shape[1:] != usage_a.counts.shape[1:]:
            st.error("The two runs have different codebook shapes; showing their timelines only.")
        else:
            widgets.chart(plots.ab_heatmaps(runs, head=head, log=log))
        logged = {
            label: curve
            for label in runs
            if (curve := cb.logged_perplexity(by_label[label].folder)) is not None
        }
        widgets.chart(plots.timeline_figure(runs, threshold=threshold, head=head, logged=logged))
    with tab_class:
        cb.class_section(shown, log=log)
    with tab_recon:
        cb.reconstruction_section(shown)


if view == "chosen":
    chosen_view()
else:
    run_view()
