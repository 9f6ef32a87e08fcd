"""Runs page: the leaderboard of a sweep, filtered by severity, and a run handed to Timeline."""

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from core import DEMO_DIR, REPO_ROOT
from core import sweep as sweep_module
from core.sweep import sweep
from tests.pages.helpers import run_page


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A sweep of two demo codebook runs, kept in a private cache folder."""
    base = tmp_path_factory.mktemp("runs_page")
    root = base / "grid"
    for name, demo in {"a/collapsing": "codebook/collapsing", "b/fixed": "codebook/fixed"}.items():
        shutil.copytree(DEMO_DIR / demo, root / name)
    result = sweep(root, cache_dir=base / "cache")
    return root, base / "cache", result


@pytest.fixture
def cache(swept, monkeypatch):
    root, folder, _ = swept
    monkeypatch.setattr(sweep_module, "SWEEP_CACHE", folder)
    return root


def test_no_sweep_yet_says_how_to_run_one(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_module, "SWEEP_CACHE", tmp_path / "empty")
    at = run_page("runs")
    assert not at.exception
    assert "python -m core sweep ROOT" in at.info[0].value


def test_leaderboard_filter_and_checkpoints(cache):
    at = run_page("runs")
    assert not at.exception
    board = at.dataframe[0].value
    assert board["run"].tolist() == ["a/collapsing", "b/fixed"]
    assert board.loc[0, "status"] == "collapse" and board.loc[0, "first_collapsed_epoch"] == 1
    # A run's status is its latest checkpoint's: the fixed run warned at epoch 1 and is ok now.
    assert board.loc[1, "status"] == "ok" and board.loc[1, "worst"] == "warning"
    assert board.loc[1, "history"] == "warning from epoch 1 to epoch 10, recovered by epoch 20"
    assert "2 runs, 10 checkpoints, collapsed now: 1" in [c.value for c in at.caption]
    at.multiselect(key="runs_severity").set_value(["collapse"]).run()
    assert at.dataframe[0].value["run"].tolist() == ["a/collapsing"]
    assert len(at.dataframe[1].value) == 5  # the chosen run's checkpoints
    at.multiselect(key="runs_severity").set_value([]).run()
    assert not at.exception and "No run has a status" in at.info[0].value


def test_a_run_outside_the_roots_cannot_be_opened(cache, monkeypatch):
    monkeypatch.delenv("COLLAPSE_EXPLORER_ROOTS", raising=False)
    at = run_page("runs")
    assert not [b for b in at.button if b.key == "_runs_open"]
    warning = at.warning[0].value
    assert "COLLAPSE_EXPLORER_ROOTS" in warning and str(cache) not in warning  # no server path shown


def test_open_in_timeline_hands_the_run_folder_over(cache, monkeypatch):
    # Through the router: st.switch_page only reaches pages that st.navigation registered.
    monkeypatch.setenv("COLLAPSE_EXPLORER_ROOTS", str(cache))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=240)
    at.switch_page("pages/runs.py").run()
    assert not at.exception and at.title[0].value == "Runs"
    at.selectbox(key="runs_pick").set_value("b/fixed").run()
    at.button(key="_runs_open").click().run()
    assert not at.exception
    assert at.title[0].value == "Timeline"
    origin = [c.value for c in at.caption if c.value.endswith("· the run chosen on the Runs page")]
    assert origin == [f"{cache / 'b' / 'fixed'} · the run chosen on the Runs page"]


def test_typed_table_path_is_checked(cache, swept, monkeypatch):
    _, _, result = swept
    monkeypatch.setenv("COLLAPSE_EXPLORER_ROOTS", str(result.table_path.parent))
    at = run_page("runs")
    at.radio(key="runs_source").set_value("Path").run()
    at.text_input(key="runs_path").input(str(result.table_path)).run()
    assert not at.exception and len(at.dataframe[0].value) == 2
    at.text_input(key="runs_path").input(str(result.leaderboard_path)).run()
    assert "not a sweep table" in at.error[0].value


def test_the_page_sweeps_a_folder_itself_with_a_progress_bar(tmp_path, monkeypatch):
    root = tmp_path / "grid"
    shutil.copytree(DEMO_DIR / "codebook/fixed", root / "fixed")
    monkeypatch.setattr(sweep_module, "SWEEP_CACHE", tmp_path / "cache")
    monkeypatch.setenv("COLLAPSE_EXPLORER_ROOTS", str(tmp_path))
    at = run_page("runs")
    assert "No sweep has been run" in at.info[0].value
    at.radio(key="runs_sweep_target").set_value("A folder under the allowed roots").run()
    at.text_input(key="runs_sweep_root").input("/etc").run()
    at.button(key="_runs_sweep").click().run()
    assert "outside the folders this server may read" in at.error[0].value
    at.text_input(key="runs_sweep_root").input(str(root)).run()
    at.button(key="_runs_sweep").click().run()
    assert not at.exception
    assert at.get("progress")[0].proto.text.startswith("Swept 1 runs: 5 checkpoints diagnosed")
    board = at.dataframe[0].value
    assert board["run"].tolist() == ["fixed"] and board.loc[0, "status"] == "ok"
