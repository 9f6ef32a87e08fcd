"""Timeline page: the checks a collapse guard logged during training, with and without checkpoints."""

import warnings

from streamlit.testing.v1 import AppTest

from core.guard import CollapseGuard
from tests.conftest import ROOT
from tests.core.test_guard import COLLAPSE_FROM, EVERY, train
from tests.guard_fixtures import probe_x
from tests.pages.helpers import plain

TIMELINE = str(ROOT / "pages" / "timeline.py")


def test_timeline_shows_guard_checks_of_a_run_without_checkpoints(tmp_path, monkeypatch):
    run = tmp_path / "guarded"
    guard = CollapseGuard(probe_x(), every_n_steps=EVERY, on_collapse="stop", log_dir=run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(guard, COLLAPSE_FROM)
    guard.close()
    monkeypatch.setenv("COLLAPSE_EXPLORER_ROOTS", str(tmp_path))
    at = AppTest.from_file(TIMELINE, default_timeout=240)
    at.run()
    at.radio(key="timeline_source").set_value("path").run()
    at.text_input(key="timeline_path").input(str(run)).run()
    assert not at.exception and not at.error
    assert "Guard checks during training" in [plain(h.value) for h in at.subheader]
    n = len(guard.checks)
    assert any(
        c.value.startswith(f"{n} checks by the collapse guard")
        and f"first collapse at step {guard.stopped_at}" in c.value
        for c in at.caption
    )
    table = at.dataframe[0].value
    assert table["step"].tolist() == [c.step for c in guard.checks]
    assert table["verdict"].iloc[-1] == "codebook: collapse"
    picker = at.multiselect(key="timeline_guard_metrics")
    assert "code_perplexity_ratio" in picker.value
    picker.set_value(["dead_code_fraction"]).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
