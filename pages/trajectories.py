"""Trajectories: flow the probe sentences toward edited attributes and see where they end."""

import streamlit as st

from core.errors import CollapseExplorerError
from core.flowview import CONTROLS
from core.metrics import METRICS, Undefined, format_value
from core.metrics.trajectories import ENDPOINT_KEYS
from core.plots import flow as plots
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
sample_size = right.slider(
    "Trajectories shown", 1, setup.rows, min(500, setup.rows), key="traj_sample", help="Stratified by target."
)

try:
    view = flow.view(setup, controls, steps, alpha, sample_size)
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

left, right = st.columns(2)
colour_source = left.radio("Colour by", ("target", "original"), horizontal=True, key="traj_colour_source")
colour_attr = right.selectbox(
    "Attribute", (plots.JOINT, *setup.attribute_names), index=1, key="traj_colour_attr"
)
sample = flow.path_sample(setup, view, colour_source, colour_attr)

plot_col, metric_col = st.columns([3, 1])
with plot_col:
    st.caption(f"showing {len(view.sample):,} of {view.total:,} trajectories")
    st.caption(flow.frame_caption(view))
    if not isinstance(view.far_endpoints, Undefined) and view.far_endpoints > 0:
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
with metric_col:
    st.markdown("**Endpoint metrics** (all rows)")
    for key in ENDPOINT_KEYS:
        info, value = METRICS[key], view.metrics[key]
        st.metric(
            info.label, "undefined" if isinstance(value, Undefined) else format_value(value), help=info.help
        )
        if isinstance(value, Undefined):
            st.caption(f"{info.label}: {value}")
    trust = METRICS["frame_trustworthiness"]
    st.metric(trust.label, format_value(view.trust), help=trust.help)

st.subheader("Play the flow")
st.caption(
    "▶ Play moves every shown point step by step from its input to its endpoint; drag the slider to a step."
)
st.plotly_chart(plots.flow_animation(sample, background=view.background), key="traj_animation")

st.subheader("Selected rows")
selected = flow.selected(event)
if selected:
    table, note = flow.selection_table(setup, view, selected, controls, steps, alpha)
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

left, right = st.columns(2)
with left:
    st.markdown("**Mean step length per step** (all rows)")
    st.plotly_chart(plots.step_figure(view.per_step), key="traj_steps_plot")
with right:
    if st.toggle("Divergence and curl of the field at the inputs", key="traj_field"):
        try:
            stats = flow.field(setup, controls)
        except CollapseExplorerError as exc:
            widgets.show_error(exc)
        else:
            for key, value in (("field_divergence", stats.divergence), ("field_curl", stats.curl)):
                st.metric(METRICS[key].label, format_value(value), help=METRICS[key].help)

st.subheader("Read the endpoints")
if st.toggle(
    "Decode start and endpoint of a few rows into sentences",
    key="traj_decode",
    help="With the shipped text generator (fixed text demo run, greedy), which reads MiniLM embeddings.",
):
    count = st.number_input("Rows to decode", 1, setup.rows, min(8, setup.rows), key="traj_decode_rows")
    try:
        decoded = flow.decoded(setup, controls, steps, alpha, int(count))
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
    else:
        st.caption(
            f"{decoded.distinct_end} distinct sentences decoded from {len(decoded.rows)} endpoints "
            f"({decoded.target_groups} target combinations); {decoded.distinct_start} from their starts. "
            "The decoded start shows the generator's own error: compare the endpoint with it, not with the "
            "original sentence."
        )
        st.dataframe(
            decoded.table(setup.attribute_names, flow.texts(setup.probe, decoded.rows)),
            hide_index=True,
            width="stretch",
            key="traj_decoded",
        )
