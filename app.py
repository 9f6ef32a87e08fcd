"""Collapse Explorer: router and shared sidebar. Run with `streamlit run app.py` (or `make run`)."""

import streamlit as st

from ui import widgets

st.set_page_config(page_title="Collapse Explorer", page_icon="🧭", layout="wide")

PAGES = {
    "Checkpoint": [st.Page("views/overview.py", title="Overview", icon="🔎", default=True)],
    "Collapse": [
        st.Page("views/trajectories.py", title="Trajectories", icon="🌀"),
        st.Page("views/generation.py", title="Generation", icon="✍️"),
        st.Page("views/codebook.py", title="Codebook", icon="🧮"),
        st.Page("views/latents.py", title="Latents", icon="🌫️"),
    ],
    "Runs": [
        st.Page("views/compare.py", title="Compare", icon="⚖️"),
        st.Page("views/timeline.py", title="Timeline", icon="📈"),
        st.Page("views/training.py", title="Training", icon="📉"),
    ],
}

with st.sidebar:
    st.header("Checkpoints")
    widgets.checkpoint_picker("a", "A")
    widgets.checkpoint_picker("b", "B (compare)")
    with st.expander("Probe data and trust"):
        widgets.probe_picker()
        st.checkbox(
            "I trust these files",
            key="trust_files",
            help="Allows full unpickling, which can run code stored in a checkpoint. Only for files you made.",
        )

navigation = st.navigation(PAGES)
navigation.run()
