"""Generation: what a text generator writes for each input embedding, or a language model after each prompt,
A vs B, under any decoding settings."""

import streamlit as st

from core.diagnosis.text import sampling_noise
from core.io.errors import CollapseExplorerError
from core.metrics import METRICS, format_value
from core.plots import text as plots
from ui import language as lm
from ui import router, verdict, widgets
from ui import text as gen

router.require()

st.title("Generation")
verdict.strip()
# The outputs of A and B lead (they are the evidence); the settings that make them come below.
outputs_slot = st.container()
st.caption(
    "BLEU: sacrebleu corpus BLEU (0-100) against the probe's reference sentences. Distinct-n is pooled over "
    "all outputs (per-sentence averages cannot see one sentence repeated for every input). Self-BLEU: each "
    "output against the others (100 = all alike)."
)

language = lm.chosen()
models = [] if language else gen.models()
if not language and not models:
    st.info("No text generator: pick a text-bridge checkpoint as A or B in the sidebar, or build the demo.")
    st.stop()

with st.expander("Decoding settings", expanded=True):
    st.button(
        "Use the suggested sampling",
        on_click=gen.use_suggested,
        key="_gen_suggested",
        help="Sampling with temperature 0.7, top-p 0.9 and repetition penalty 1.2: the decoding half of the fix.",
    )
    try:
        config = gen.sampling_controls()
    except ValueError as exc:
        widgets.show_error(exc)
        st.stop()
    for note in config.inert_settings():
        st.caption(f"Note: {widgets.md(note)}.")

if language:
    prompts = st.slider(
        "Prompts", 4, 64, 32, 4, key="gen_prompts", help="Probe prompts continued (a seeded sample)."
    )
    with outputs_slot:
        lm.render(config, prompts)
    st.stop()

size = st.slider(
    "Inputs", 4, 128, 32, 4, key="gen_inputs", help="Probe sentences decoded (a seeded subsample)."
)

try:
    probe = gen.probe_for(models[0])
    results = {model: gen.decoded(model, probe, config, size) for model in models}
except CollapseExplorerError as exc:
    widgets.show_error(exc)
    st.stop()

names = {model: model.slot for model in models}
st.subheader("Metrics")
keys = [k for k in next(iter(results.values())).metrics if k in METRICS]
st.dataframe(
    [
        {"metric": METRICS[k].titled, "reading": METRICS[k].direction}
        | {names[m]: format_value(r.metrics.get(k)) for m, r in results.items()}
        for k in keys
    ],
    hide_index=True,
    width="stretch",
)
for model, result in results.items():
    if note := sampling_noise(result.metrics):
        st.warning(widgets.md(f"{names[model]}: {note}."), icon=":material/casino:")
widgets.chart(plots.metric_bars({names[m]: r.metrics for m, r in results.items()}))

first = next(iter(results.values()))
table = [{"input": int(row)} for row in first.rows]
for i, row in enumerate(table):
    for model, result in results.items():
        row[names[model]] = result.outputs[i]
    if first.references:
        row["reference"] = first.references[i]
with outputs_slot:
    st.subheader("Outputs")
    st.caption(" · ".join(gen.describe(model) for model in models))
    widgets.outputs_table(table)
widgets.csv_download("Download the outputs (CSV)", table, "generation-outputs.csv", key="_gen_csv")

st.subheader("Your sentence")
with st.form("gen_typed"):
    typed = st.text_input("Sentence to embed with MiniLM and decode", key="gen_text")
    submitted = st.form_submit_button("Decode")
if submitted:
    try:
        for model in models:
            st.markdown(
                f"**{widgets.md(names[model])}:** {widgets.md(gen.decode_text(model, typed, config))}"
            )
    except CollapseExplorerError as exc:
        widgets.show_error(exc)
