"""Collapse Explorer: router and shared sidebar. Run with `streamlit run app.py` (or `make run`)."""

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.models.device import limit_threads
from ui import router, state, uploads, warmup, widgets

limit_threads()  # numerics on one thread per session: see core/models/device.py
st.set_page_config(page_title="Collapse Explorer", page_icon=":material/explore:", layout="wide")
uploads.confine_reads()  # files found beside a checkpoint must lie under this session's roots too

PAGES = {
    "Checkpoint": [st.Page("pages/overview.py", title="Overview", icon=":material/search:", default=True)],
    "Collapse": [
        st.Page("pages/trajectories.py", title="Trajectories", icon=":material/scatter_plot:"),
        st.Page("pages/generation.py", title="Generation", icon=":material/edit_note:"),
        st.Page("pages/codebook.py", title="Codebook", icon=":material/grid_view:"),
        st.Page("pages/latents.py", title="Latents", icon=":material/blur_on:"),
    ],
    "Runs": [
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/timeline.py", title="Timeline", icon=":material/show_chart:"),
        st.Page("pages/training.py", title="Training", icon=":material/monitoring:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/leaderboard:"),
    ],
}

router.start(PAGES)
restored = state.restore_from_url()

with st.sidebar:
    st.header("Checkpoints")
    widgets.checkpoint_picker("a", "A")
    widgets.checkpoint_picker("b", "B (compare)")
    with st.expander("Probe data, trust and device"):
        widgets.probe_picker()
        widgets.trust_switch()
        widgets.device_picker()

page = st.navigation(PAGES)
# The default page's url_path is empty; its controls are registered under its name.
url_page = page.url_path or "overview"
try:
    if blocking := state.blocking_problems():
        widgets.nothing_to_show(page.title, blocking)
    else:
        if state.problem("b") is not None:
            st.warning(
                f"Checkpoint B: {widgets.md(state.problem('b'))}. Pages compare nothing with A until it is fixed."
            )
        with router.routing():
            page.run()
except StreamlitAPIException:
    if not restored:
        raise
    # A hand-edited link holds a value a control cannot take: open the page on its defaults instead.
    state.forget(restored)
    st.rerun()
finally:
    state.mirror_to_url(url_page)
    warmup.start()  # after the first page, never before it
