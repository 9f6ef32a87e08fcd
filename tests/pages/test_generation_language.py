"""Generation page for language models: the demo's fine-tunes or a LoRA adapter on its base, A and B side by
side, the sampling controls and the greedy-vs-sampled warning, loops shaded and named."""

from core import DEMO_DIR
from tests import language_fixtures as lf
from tests.pages.helpers import run_page

LANGUAGE = DEMO_DIR / "language"


def _table(at, first_column: str):
    """The page's dataframe whose first column is `first_column` (the continuations lead, metrics follow)."""
    return next(d.value for d in at.dataframe if d.value.columns[0] == first_column)


def _metrics(at) -> dict[str, dict]:
    return {row["metric"]: row for row in _table(at, "metric").to_dict("records")}


def test_demo_fine_tunes_side_by_side_and_sampling_warning():
    at = run_page(
        "generation", checkpoint_a=str(LANGUAGE / "collapsed"), checkpoint_b=str(LANGUAGE / "healthy")
    )
    assert not at.exception and not at.error
    metrics = _metrics(at)
    share = metrics["Most common output share (share 0-1)"]
    assert float(share["A"]) > 0.9 and float(share["B"]) < 0.3
    table = _table(at, "prompt")
    assert list(table.columns[:3]) == ["prompt", "A", "B"] and len(table) == 32
    assert (table["A"] == "I am not sure about that.").mean() > 0.9
    at.slider(key="gen_prompts").set_value(8).run()
    assert len(_table(at, "prompt")) == 8
    at.toggle(key="gen_do_sample").set_value(True).run()
    at.slider(key="gen_temperature").set_value(2.0).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("A: ") and "sampling noise" in w for w in warnings)


def test_looping_model_is_named_and_lora_shows_its_base(tmp_path):
    looping = lf.hf_folder(tmp_path, "gpt2", "looping")
    at = run_page("generation", checkpoint_a=str(looping), probe_path=str(looping / "prompts.npz"))
    assert not at.exception and not at.error
    table = _table(at, "prompt")
    assert "A loop" in table.columns and (table["A loop"] != "").all()
    assert table["A loop"].iloc[0] == "'cat' x 32"
    base = lf.hf_folder(tmp_path, "gpt2", "healthy")
    adapter = lf.lora_folder(tmp_path, base, trained=True)
    at = run_page("generation", checkpoint_a=str(adapter), probe_path=str(adapter / "prompts.npz"))
    table = _table(at, "prompt")
    assert list(table.columns[:3]) == ["prompt", "A base", "A"]
    assert (table["A base"] != table["A"]).sum() == 5


def test_overview_and_compare_show_the_language_verdicts():
    at = run_page("overview", checkpoint_a=str(LANGUAGE / "collapsed"))
    assert not at.exception
    text = " ".join(str(e.value) for e in (*at.success, *at.markdown, *at.caption, *at.error, *at.warning))
    assert "language-model" in text
    assert any("mode: collapse" in m.value and "I am not sure about that." in m.value for m in at.markdown)
    at = run_page("compare", checkpoint_a=str(LANGUAGE / "collapsed"), checkpoint_b=str(LANGUAGE / "healthy"))
    assert not at.exception and not at.error
    page = " ".join(str(e.value) for e in (*at.markdown, *at.caption, *at.success, *at.info, *at.subheader))
    assert "mode collapse" in page
