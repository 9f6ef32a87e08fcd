"""Latents: VAE posterior collapse, checkpoint A vs B (KL per dimension, active units, reconstructions)."""

import streamlit as st

from core.io.errors import CollapseExplorerError
from core.metrics import Undefined, format_value, readable
from core.plots import posterior as plots
from ui import cache, router, state, verdict, widgets
from ui import posterior as vae

router.require()

st.title("Latents")
verdict.strip()
picture_slot = st.container()  # KL per dimension of A and B, drawn once the controls below are read
st.caption(
    "KL_j = mean over probe rows of 0.5 (mu^2 + sigma^2 - 1 - ln sigma^2) in nats; a unit is active when "
    "Var_x(mu_j) >= 0.01 (ddof=1); diversity = mean pairwise distance of reconstructions / that of inputs."
)

trust = state.trusted()
picked, notes = vae.choices()
for note in notes:
    st.caption(f"{note}; showing the shipped demo instead.")
if not picked:
    st.info("No VAE checkpoints: pick one as A or B in the sidebar, or build the demo (`make demo`).")
    st.stop()

c1, c2 = st.columns(2)  # two rows of two sliders: four in a row truncate their labels on a laptop
c3, c4 = st.columns(2)
floor = c1.slider(
    "Free-bits floor (nats)",
    0.0,
    2.0,
    vae.default_floor(picked, trust),
    0.05,
    key="lat_floor",
    help="A dimension is 'on the floor' when KL_j <= floor + 0.01; 0 counts dimensions at the prior.",
)
span = c2.slider("Traversal range (z)", -4.0, 4.0, (-3.0, 3.0), 0.5, key="lat_range")
steps = c3.slider("Traversal steps", 3, 15, 7, key="lat_steps")
n_recon = c4.slider("Reconstructions", 2, 24, 12, key="lat_recon")

results = {}
for choice in picked:
    label = f"{choice.slot}: {widgets.short_name(choice.path)}"
    try:
        results[label] = (choice, vae.analysis(choice, floor, trust))
    except CollapseExplorerError as exc:
        st.error(f"{label}: {' '.join(str(exc).split())}")
if not results:
    st.stop()

cols = st.columns(len(results))
for col, (label, (choice, result)) in zip(cols, results.items(), strict=True):
    m = result.metrics
    col.subheader(label)
    col.caption("from the sidebar" if choice.source == "sidebar" else "shipped demo")
    col.metric("Active units", f"{format_value(m['active_units'])} of {m['latent_dim']}")
    col.metric("KL total (nats)", readable(m["kl_total"]), help="Near 0: the latent carries no information.")
    on_floor = m["floor_fraction"]
    col.metric("On the floor", str(on_floor) if isinstance(on_floor, Undefined) else f"{100 * on_floor:.0f}%")
    col.metric("Diversity ratio", format_value(m["diversity_ratio"], 2))
    with col.expander("Diagnosis"):
        try:
            for finding in cache.report(choice.path, choice.probe, trust).findings:
                widgets.finding_card(finding)
        except CollapseExplorerError as exc:
            widgets.show_error(exc)

with picture_slot:
    kl_figure = plots.kl_bars({k: r.kl for k, (_, r) in results.items()}, floor)
    verdict.compact(kl_figure)
    st.plotly_chart(kl_figure, key="lat_kl_fig")

tab_kl, tab_recon, tab_trav, tab_run = st.tabs(["KL and activity", "Reconstructions", "Traversals", "Run"])
with tab_kl:
    st.plotly_chart(plots.activity_bars({k: r.mu_var for k, (_, r) in results.items()}), key="lat_act_fig")
    st.plotly_chart(plots.sigma_bars({k: r.sigma for k, (_, r) in results.items()}), key="lat_sigma_fig")
    widgets.csv_download(
        "Download KL, Var(mu) and sigma per dimension (CSV)",
        vae.dimension_table({k: r for k, (_, r) in results.items()}),
        "latents-per-dimension.csv",
        key="_lat_csv",
    )
with tab_recon:
    for label, (choice, result) in results.items():
        x = vae.probe_rows(choice, n_recon)
        st.image(
            plots.reconstruction_grid(
                vae.in_data_units(choice, x, trust), vae.in_data_units(choice, result.recon[:n_recon], trust)
            ),
            caption=f"{label}: inputs (top) and reconstructions from mu (bottom), in data units",
        )
with tab_trav:
    base_choice = st.radio(
        "Traverse around", ["prior mean (z = 0)", "first probe row's mu"], horizontal=True, key="lat_base"
    )
    values = vae.traversal_values(span, steps)
    for i, (label, (choice, result)) in enumerate(results.items()):
        z_dim = result.mu.shape[1]
        active = vae.active_dims(result)
        dims = st.multiselect(
            f"{label}: dimensions",
            list(range(z_dim)),
            default=active[:8] or list(range(min(3, z_dim))),
            key=f"lat_dims_{i}",
            help="Defaults to the active dimensions (up to 8); inactive ones show the decoder ignoring them.",
        )
        if not dims:
            st.info(f"{label}: choose at least one dimension to traverse.")
            continue
        base = vae.traversal_base(result, from_first_row=base_choice.startswith("first"))
        try:
            decoded = vae.in_data_units(choice, vae.traversal(choice, base, dims, values, trust), trust)
        except CollapseExplorerError as exc:
            widgets.show_error(exc)
            continue
        x = vae.in_data_units(choice, cache.probe_data(choice.probe).x, trust)
        st.image(
            plots.traversal_grid(decoded, plots.display_range(x)),
            caption=f"{label}: rows = dimensions {dims}; columns z from {span[0]:g} to {span[1]:g}"
            + ("" if active else " (no active dimension: the decoder ignores the latent)"),
        )
with tab_run:
    st.caption("Every checkpoint in the same folder, measured on the same probe x (untrusted loading only).")
    for label, (choice, _) in results.items():
        try:
            st.plotly_chart(plots.kl_timeline(vae.timeline(choice), label), key=f"lat_run_{choice.slot}")
        except CollapseExplorerError as exc:
            st.error(f"{label}: {' '.join(str(exc).split())}")
