"""Collapse Explorer: router and shared sidebar. Run with `streamlit run app.py` (or `make run`)."""

import streamlit as st

from ui import widgets

st.set_page_config(page_title="Collapse Explorer", page_icon=":material/explore:", layout="wide")

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

with st.sidebar:
    st.header("Checkpoints")
    widgets.checkpoint_picker("a", "A")
    widgets.checkpoint_picker("b", "B (compare)")
    with st.expander("Probe data, trust and device"):
        widgets.probe_picker()
        st.checkbox(
            "I trust these files",
            key="trust_files",
            help="Allows full unpickling, which can run code stored in a checkpoint. Only for files you made.",
        )
        widgets.device_picker()

navigation = st.navigation(PAGES)
navigation.run()
