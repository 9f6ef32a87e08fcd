"""Trajectories: flow the probe sentences toward edited attributes and see where they end."""

import streamlit as st

from core.config import FlowConfig
from core.io.errors import CollapseExplorerError
from core.metrics.flow.trajectories import ENDPOINT_KEYS
from core.plots import flow as plots
from core.plots.flow.text import DECODE_ROWS
from core.plots.flow.view import CONTROLS, MAX_DRAWN
from ui import flow, router, widgets

router.require()

st.title("Trajectories")
st.caption(
    "Each probe sentence embedding is flowed toward target attributes (Euler steps on the sphere). The "
    "picture is a joint frame: UMAP fitted on the inputs and their endpoints together, so endpoints that "
    "collapsed onto a few points show as a few islands and healthy ones stay spread over the inputs. "
    "Metrics use every row; the plot shows a stratified sample."
)

choices = flow.checkpoint_choices()
if not choices:
    st.info("No vector-field checkpoint: pick one as A in the sidebar, or build the demo (make demo).")
    st.stop()
label = st.selectbox("Checkpoint", list(choices), index=flow.default_choice(choices), key="traj_checkpoint")

try:
    setup = flow.setup(choices[label])
    flow.frame(setup.probe)
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

st.subheader("Target attributes")
columns = st.columns(len(setup.attribute_names))
controls = tuple(
    column.selectbox(name, CONTROLS, index=flow.default_control_index(i), key=f"traj_control_{i}")
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
    min(500, drawable),
    key="traj_sample",
    help=f"A sample stratified by target, at most {MAX_DRAWN:,} of any probe; the metrics use every row.",
)

config = FlowConfig(steps, alpha, controls, sample_size)
try:
    view = flow.view(setup, config)
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

left, right = st.columns(2)
colour_source = left.radio("Colour by", ("target", "original"), horizontal=True, key="traj_colour_source")
colour_attr = right.selectbox(
    "Attribute", (plots.JOINT, *setup.attribute_names), index=1, key="traj_colour_attr"
)
sample = flow.path_sample(setup, view, colour_source, colour_attr)

# The plot takes the page's width and the metric cards follow below it: beside it, at 800 px the plot
# would shrink to ~340 px.
st.caption(f"showing {len(view.sample):,} of {view.total:,} trajectories; metrics use all {view.total:,}")
st.caption(flow.frame_caption(view))
if isinstance(view.far_endpoints, float) and view.far_endpoints > 0:
    st.caption(
        f"{view.far_endpoints:.0%} of endpoints lie farther from every input than inputs lie from each "
        "other: they left the inputs' manifold."
    )
event = st.plotly_chart(
    plots.flow_figure(sample, background=view.background),
    key="traj_plot",
    on_select="rerun",
    selection_mode=("box", "lasso", "points"),
)
st.markdown("**Endpoint metrics** (all rows)")
cards, helps, notes = flow.metric_cards(
    {**{key: view.metrics[key] for key in ENDPOINT_KEYS}, "frame_trustworthiness": view.trust}
)
widgets.metric_grid(cards, helps=helps)
for note in notes:
    st.caption(note)

st.subheader("Play the flow")
st.caption(
    "▶ Play moves every shown point step by step from its input to its endpoint; drag the slider to a step."
)
st.plotly_chart(plots.flow_animation(sample, background=view.background), key="traj_animation")

st.subheader("Selected rows")
selected = flow.selected(event)
if selected:
    table, note = flow.selection_table(setup, view, selected, config)
    st.caption(f"{len(selected):,} rows selected on the plot. {note}")
    st.dataframe(table, hide_index=True, width="stretch", key="traj_selection")
    st.download_button(
        "Download the selection (CSV)",
        table.to_csv(index=False),
        file_name="trajectories_selection.csv",
        mime="text/csv",
        key="_traj_download_selection",
        on_click="ignore",
    )
else:
    st.caption(
        "Select start points or endpoints on the plot (drag a box, or the lasso in its toolbar, or click a "
        "point) to list their sentences, attributes and decoded endpoints here."
    )
st.download_button(
    "Download the trajectories table (CSV, every row)",
    flow.trajectories_csv(setup, view),
    file_name="trajectories.csv",
    mime="text/csv",
    key="_traj_download_table",
    on_click="ignore",
)

st.markdown("**Mean step length per step** (all rows)")
st.plotly_chart(plots.step_figure(view.per_step), key="traj_steps_plot")
if st.toggle("Divergence and curl of the field at the inputs", key="traj_field"):
    try:
        stats = flow.field(setup, controls)
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
    else:
        cards, helps, notes = flow.metric_cards(
            {"field_divergence": stats.divergence, "field_curl": stats.curl}, flow.field_errors(stats)
        )
        widgets.metric_grid(cards, helps=helps)
        for note in [flow.field_caption(stats), *notes]:
            st.caption(note)

st.subheader("Read the endpoints")
if st.toggle(
    "Decode start and endpoint of a few rows into sentences",
    key="traj_decode",
    help="With the shipped text generator (fixed text demo run, greedy), which reads MiniLM embeddings.",
):
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
    else:
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
