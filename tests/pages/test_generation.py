"""Generation page: sidebar A / B text models or the shipped demo runs, every sampling control, typed text."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.io.errors import ProbeError
from core.io.probe import load_probe
from tests.adapters.cases_text import seed_checkpoint
from tests.conftest import ROOT
from tests.pages.helpers import plain, run_page
from ui.text import decode_embeddings


def _metrics(at: AppTest) -> dict[str, dict]:
    return {row["metric"]: row for row in at.dataframe[1].value.to_dict("records")}


def _decode(at: AppTest, text: str) -> AppTest:
    at.text_input(key="gen_text").input(text)
    return next(b for b in at.button if b.label == "Decode").click().run()


def test_sidebar_models_and_every_control(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    path_a = seed_checkpoint(tmp_path / "a", "additive")
    path_b = seed_checkpoint(tmp_path / "b", "attention")
    at = run_page("generation", checkpoint_a=str(path_a), checkpoint_b=str(path_b))
    assert not at.exception and not at.error
    metrics = _metrics(at)
    assert list(metrics["BLEU (0-100)"]) == ["metric", "reading", "A", "B"]
    assert any(
        plain(c.value).startswith("A = ") and f"{path_b.name} (sidebar)" in plain(c.value) for c in at.caption
    )
    assert metrics["Unique outputs (share 0-1)"]["reading"] == (
        "higher is better: more inputs get a sentence of their own · share 0-1"
    )
    csv = next(b for b in at.get("download_button") if b.proto.label.startswith("Download the outputs"))
    assert csv.proto.label == "Download the outputs (CSV)"
    outputs = at.dataframe[0].value
    assert len(outputs) == 8  # the probe has 8 rows, fewer than the 32 asked for
    assert list(outputs.columns) == [
        "input",
        "A",
        "B",
        "reference",
    ]  # A and B first: a narrow screen keeps them
    assert len(at.get("plotly_chart")) == 1

    at.slider(key="gen_inputs").set_value(4).run()
    assert len(at.dataframe[0].value) == 4
    greedy = at.dataframe[0].value

    at.slider(key="gen_top_k").set_value(20).run()
    assert any("top_k has no effect without sampling" in plain(c.value) for c in at.caption)

    at.toggle(key="gen_do_sample").set_value(True).run()
    at.slider(key="gen_temperature").set_value(0.0).run()
    assert "temperature 0 means greedy" in plain(at.error[0].value)
    assert not at.exception

    at.slider(key="gen_temperature").set_value(1.5).run()
    for name, value in (
        ("top_p", 0.9),
        ("repetition_penalty", 1.3),
        ("no_repeat_ngram_size", 2),
        ("max_new_tokens", 6),
    ):
        at.slider(key=f"gen_{name}").set_value(value).run()
    at.slider(key="gen_num_beams").set_value(2).run()
    at.number_input(key="gen_seed").set_value(7).run()
    assert not at.exception and not at.error
    assert any("beam-search sampling" in plain(c.value) for c in at.caption)
    sampled = at.dataframe[0].value
    assert len(sampled) == 4 and not sampled.equals(greedy)

    at = _decode(at, "   ")
    assert "type a sentence first" in plain(at.error[0].value)
    at = _decode(at, "The chef cooks a meal.")  # MiniLM gives 384 dims; the tiny models take 16
    assert "embeddings must be [N, 16]" in plain(at.error[0].value)
    assert not at.exception


def test_demo_runs_by_default_show_collapse_against_fix(tmp_path):
    (tmp_path / "other.pt").write_bytes(b"not a text checkpoint")
    at = run_page("generation", checkpoint_a=str(tmp_path / "other.pt"))
    assert not at.exception and not at.error
    metrics = _metrics(at)
    assert (
        "A = text/collapsed/bridge_epoch_7.pt (demo collapsed run) · B = text/fixed/bridge_epoch_7.pt (demo fixed run)"
        in [plain(c.value) for c in at.caption]
    )
    unique, bleu = metrics["Unique outputs (share 0-1)"], metrics["BLEU (0-100)"]
    assert float(unique["A"]) <= 0.1 < 0.9 <= float(unique["B"])
    assert float(bleu["A"]) < 10 < 30 < float(bleu["B"])
    assert not at.warning  # greedy: no sampling noise to warn about

    at.button(key="_gen_suggested").click().run()
    assert at.toggle(key="gen_do_sample").value is True
    assert (at.slider(key="gen_temperature").value, at.slider(key="gen_top_p").value) == (0.7, 0.9)
    assert at.slider(key="gen_repetition_penalty").value == 1.2
    assert not at.exception and not at.error
    # Sampling makes the collapsed model's outputs differ by chance; the page says so for A only.
    sampled = _metrics(at)
    assert float(sampled["Unique outputs (share 0-1)"]["A"]) > 0.5
    assert float(sampled["Unique outputs, greedy (share 0-1)"]["A"]) <= 0.1
    (noise,) = at.warning
    assert plain(noise.value).startswith("A: ") and "sampling noise, not from the inputs" in plain(
        noise.value
    )
    assert "bridge hands the decoder nearly the same input" in plain(noise.value)
    at = _decode(at, "The teacher loved the excellent book.")
    decoded = [plain(m.value).split(":** ", 1) for m in at.markdown if m.value.startswith("**")]
    assert [name[2:3] for name, _ in decoded] == ["A", "B"]
    assert all(len(sentence.split()) >= 3 for _, sentence in decoded)
    assert not at.error


def test_decode_embeddings_helper_for_other_pages():
    probe = load_probe(ROOT / "assets" / "demo" / "text" / "fixed" / "probe.npz")
    sentences = decode_embeddings(probe.embeddings[:3])
    assert len(sentences) == 3 and all(len(s.split()) >= 3 for s in sentences)
    with pytest.raises(ProbeError, match=r"\[N, 384\]"):
        decode_embeddings(np.zeros((2, 512), np.float32))
