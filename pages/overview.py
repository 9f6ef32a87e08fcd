"""Overview, where a stakeholder lands: the verdict of A (and B) and the one picture that shows it, then
the health report, the adapter, and what the file holds."""

import streamlit as st

from core.io.errors import CollapseExplorerError, NeedsTrustError
from ui import cache, router, state, verdict, widgets

router.require()

st.title("Overview")
path = state.selected_path("a")
if path is None:
    st.info(
        "Pick a checkpoint in the sidebar: a shipped demo, a path under the configured roots, or an upload."
    )
    st.stop()

verdict.strip()
trust = state.trusted()
try:
    loaded = cache.loaded_checkpoint(path, trust)
except NeedsTrustError as exc:
    widgets.show_error(exc)
    st.dataframe(
        [{"tensor": t.name, "shape": str(list(t.shape)), "dtype": t.dtype} for t in exc.listing],
        hide_index=True,
    )
    st.stop()
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

for note in loaded.notes:
    st.caption(widgets.md(note))

if loaded.state_dict:
    verdict.picture(path, state.selected_path("b"), key="overview_picture")
    shown: list[str] = []
    try:
        adapter = cache.adapter(path, trust)
        spec = adapter.spec()
        st.success(
            f"Adapter **{widgets.md(adapter.name)}** · family **{widgets.md(spec.family)}** · "
            f"{widgets.md(spec.description)}"
        )
    except CollapseExplorerError as exc:
        widgets.show_error(exc, shown)
    st.subheader("Health report")
    try:
        report = cache.report(path, state.probe_path(), trust)
    except CollapseExplorerError as exc:
        widgets.show_error(exc, shown)
    else:
        widgets.findings_section(report, shown=shown)
        with st.expander("Export this report"):
            widgets.export_buttons(path, None, state.probe_path(), trust)
    health, _ = cache.checkpoint_health(path)
    with st.expander("Weight health per layer"):
        widgets.metric_grid(health.cards())
        st.dataframe(health.rows(), hide_index=True, width="stretch")
elif loaded.data_tensors:
    st.info("This file holds data tensors, not a model: use it as probe data.")

st.subheader("The file")
# Facts about the file, not the answer: one plain line each, so they neither compete with the verdict
# nor get cut in narrow metric cards.
epoch = "-" if loaded.epoch is None else loaded.epoch
st.text(
    f"Format: {loaded.format} · Parameters: {loaded.parameter_count:,} · "
    f"Tensors: {len(loaded.state_dict) + len(loaded.data_tensors)} · Epoch: {epoch}\n"
    f"Components: {', '.join(f'{k} ({len(v)} tensors)' for k, v in loaded.components.items()) or 'none'}"
    f" · Config: {loaded.config_source or 'none found'}"
    + (f" · Stripped prefixes: {', '.join(loaded.stripped_prefixes)}" if loaded.stripped_prefixes else "")
)
st.subheader("Tensors")
query = st.text_input("Filter tensors by name", key="tensor_filter")
rows = [
    {
        "tensor": t.name,
        "shape": str(list(t.shape)),
        "dtype": t.dtype,
        "elements": t.numel,
        "tied to": t.tied_to,
    }
    for t in loaded.tensors()
    if query.lower() in t.name.lower()
]
st.caption(f"{len(rows)} of {len(loaded.tensors())} tensors")
st.dataframe(rows, hide_index=True, width="stretch")

with st.expander("Config and metadata"):
    st.json({"config": loaded.summary()["config"], "metadata": loaded.summary()["metadata"]})
