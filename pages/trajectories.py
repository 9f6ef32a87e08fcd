"""Trajectories: flow the probe sentences toward edited attributes and see where they end."""

import streamlit as st

from core.config import FlowConfig
from core.io.encode import csv_frame
from core.io.errors import CollapseExplorerError
from core.metrics.flow.trajectories import ENDPOINT_KEYS
from core.plots import flow as plots
from core.plots.flow.targets import CONTROLS
from core.plots.flow.text import DECODE_ROWS
from core.plots.flow.view import MAX_DRAWN
from ui import flow, router, verdict, widgets

router.require()

st.title("Trajectories")
verdict.strip(note=verdict.FLOW_TARGETS_NOTE)
st.caption(
    "Each probe sentence embedding is flowed toward target attributes (Euler steps on the sphere). Faint "
    "grey: the inputs; dots: where the flows end, one per distinct endpoint, as large as the rows that end "
    "there; a collapse shows as a few heavy dots, a healthy flow as a cloud. The frame is UMAP fitted on "
    "inputs and endpoints together. Metrics use every row; paths are drawn for a stratified sample."
)
top = st.container()  # the answer (headline and picture) above the settings that make it


@st.fragment
def picture(setup, view, sample, config, pair) -> None:
    """The trajectory picture (A beside B when B is a flow model) and the rows selected on it: a
    selection reruns only this part of the page."""
    if pair is None:
        figure = plots.flow_figure(sample, background=view.background)
    else:
        figure = plots.compare_flow_figure(
            sample, pair.sample, backgrounds=(view.background, pair.view.background), titles=pair.titles
        )
    event = widgets.chart(
        figure, key="traj_plot", on_select="rerun", selection_mode=("box", "lasso", "points")
    )
    selected = flow.selected(event)
    if not selected:
        st.caption(
            "Select start points or endpoint dots on the plot (drag a box, or the lasso in its toolbar, or "
            "click a dot) to list their sentences, attributes and decoded endpoints here."
        )
        return
    table, note = flow.selection_table(setup, view, selected, config)
    st.caption(
        f"{len(selected):,} rows selected on the plot"
        + (" (the table shows the flow of the left panel's checkpoint)" if pair is not None else "")
        + f". {widgets.md(note)}"
    )
    st.dataframe(table, hide_index=True, width="stretch", key="traj_selection")
    st.download_button(
        "Download the selection (CSV)",
        csv_frame(table).to_csv(index=False),
        file_name="trajectories_selection.csv",
        mime="text/csv",
        key="_traj_download_selection",
        on_click="ignore",
    )


@st.fragment
def field_section(setup, controls) -> None:
    """Divergence and curl of the field, computed only when asked for; the toggle reruns only this."""
    if not st.toggle("Divergence and curl of the field at the inputs", key="traj_field"):
        return
    try:
        stats = flow.field(setup, controls)
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
        return
    cards, helps, notes = flow.metric_cards(
        {"field_divergence": stats.divergence, "field_curl": stats.curl}, flow.field_errors(stats)
    )
    widgets.metric_grid(cards, helps=helps)
    for note in [flow.field_caption(stats), *notes]:
        st.caption(note)


@st.fragment
def decode_section(setup, config) -> None:
    """Start and endpoint sentences of a few rows; the toggle and row count rerun only this."""
    if not st.toggle(
        "Decode start and endpoint of a few rows into sentences",
        key="traj_decode",
        help="With the shipped text generator (fixed text demo run, greedy), which reads MiniLM embeddings.",
    ):
        return
    if st.session_state.get("traj_decode_rows", 0) > setup.rows:  # from a link, or a larger probe
        st.session_state["traj_decode_rows"] = setup.rows
    count = st.number_input(
        "Rows to decode",
        1,
        setup.rows,
        min(DECODE_ROWS, setup.rows),
        key="traj_decode_rows",
        help="A seeded uniform sample of the probe's rows; starts and endpoints are decoded in one batch.",
    )
    try:
        decoded = flow.decoded(setup, config, int(count))
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
        return
    n = len(decoded.rows)
    widgets.metric_grid(
        {
            "Distinct endpoint sentences": f"{decoded.distinct_end:,} of {n:,}",
            "Distinct start sentences": f"{decoded.distinct_start:,} of {n:,}",
        }
    )
    st.caption(
        f"{n:,} rows decoded, {decoded.target_groups:,} target combinations among them. A collapsed flow "
        "reads as about one sentence per target combination however many rows are decoded; a healthy "
        "one keeps most rows distinct, like their starts. The decoded start shows the generator's own "
        "error: compare the endpoint with it, not with the original sentence."
    )
    st.dataframe(
        decoded.table(setup.attribute_names, flow.texts(setup.probe, decoded.rows)),
        hide_index=True,
        width="stretch",
        key="traj_decoded",
    )


choices = flow.checkpoint_choices()
if not choices:
    st.info("No vector-field checkpoint: pick one as A in the sidebar, or build the demo (make demo).")
    st.stop()

st.subheader("Settings")
label = st.selectbox("Checkpoint", list(choices), index=flow.default_choice(choices), key="traj_checkpoint")

try:
    setup = flow.setup(choices[label])
    flow.frame(setup.probe)
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

targets = st.radio(
    "Target attributes",
    flow.TARGET_CHOICES,
    horizontal=True,
    key="traj_targets",
    help="The diagnosis flows each row toward its own attributes with one flipped (row i flips attribute i "
    "mod A), so the page opens on the verdict's numbers; choose per attribute to ask what-if questions.",
)
controls: tuple[str, ...] = ()
if targets == flow.BY_HAND:
    columns = st.columns(len(setup.attribute_names))
    controls = tuple(
        column.selectbox(
            widgets.md(name), CONTROLS, index=flow.default_control_index(i), key=f"traj_control_{i}"
        )
        for i, (column, name) in enumerate(zip(columns, setup.attribute_names, strict=True))
    )

left, middle, right = st.columns(3)
steps = left.slider("Steps", 1, max(50, setup.steps), setup.steps, key="traj_steps")
alpha = middle.slider(
    "Step size alpha", 0.01, max(1.0, setup.alpha), float(setup.alpha), step=0.01, key="traj_alpha"
)
drawable = min(MAX_DRAWN, setup.rows)
if st.session_state.get("traj_sample", 0) > drawable:  # from a link, or a larger probe picked before
    st.session_state["traj_sample"] = drawable
sample_size = right.slider(
    "Trajectories shown",
    1,
    drawable,
    min(100, drawable),
    key="traj_sample",
    help=f"Paths drawn for a sample stratified by target, at most {MAX_DRAWN:,} of any probe; the endpoint "
    "dots and the metrics use every row.",
)
left, right = st.columns(2)
colour_source = left.radio("Colour by", ("target", "original"), horizontal=True, key="traj_colour_source")
colour_attr = right.selectbox(
    "Attribute", (plots.JOINT, *setup.attribute_names), index=1, key="traj_colour_attr"
)

try:
    config = FlowConfig(steps, alpha, controls, sample_size)
    view = flow.view(setup, config)
    pair = flow.pair(setup, label, config, colour_source, colour_attr)
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()
sample = flow.path_sample(setup, view, colour_source, colour_attr)

with top:
    st.markdown(flow.headline(view, sample, pair))
    st.caption(
        f"showing {len(view.sample):,} of {view.total:,} trajectories as paths; the dots and the metrics "
        f"use all {view.total:,}"
    )
    picture(setup, view, sample, config, pair)

st.caption(widgets.md(flow.frame_caption(view)))
if isinstance(view.far_endpoints, float) and view.far_endpoints > 0:
    st.caption(
        f"{view.far_endpoints:.0%} of endpoints lie farther from every input than inputs lie from each "
        "other: they left the inputs' manifold."
    )
st.markdown("**Endpoint metrics** (all rows)")
cards, helps, notes = flow.metric_cards(
    {**{key: view.metrics[key] for key in ENDPOINT_KEYS}, "frame_trustworthiness": view.trust}
)
widgets.metric_grid(cards, helps=helps)
for note in notes:
    st.caption(widgets.md(note))

st.subheader("Play the flow")
st.caption(
    "▶ Play moves the sampled points step by step from their inputs to their endpoints; drag the slider "
    "to a step."
)
widgets.chart(plots.flow_animation(sample, background=view.background), key="traj_animation")

st.download_button(
    "Download the trajectories table (CSV, every row)",
    flow.trajectories_csv(setup, view),
    file_name="trajectories.csv",
    mime="text/csv",
    key="_traj_download_table",
    on_click="ignore",
)

st.markdown("**Mean step length per step** (all rows)")
widgets.chart(plots.step_figure(view.per_step), key="traj_steps_plot")
field_section(setup, controls)

st.subheader("Read the endpoints")
decode_section(setup, config)
