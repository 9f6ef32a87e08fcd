"""The router's truthful state: an unusable checkpoint A or probe shows no findings anywhere and says
what is missing; the URL carries the page's controls so a link opens the same view; the demo picker."""

import pytest
from streamlit.testing.v1 import AppTest

from core import DEMO_DIR, REPO_ROOT
from core.io.paths import ROOTS_ENV, demo_checkpoints
from tests.pages.helpers import plain, router_app

PAGES = ("overview", "trajectories", "generation", "codebook", "latents", "compare", "timeline", "training")
FINDING_MARKS = (":material/error:", ":material/check_circle:", ":material/warning:", "Known fix")


def _shown(at) -> str:
    return " ".join(plain(m.value) for m in at.markdown)


@pytest.mark.parametrize(
    ("state", "missing"),
    [
        ({"source_a": "Path", "path_a": "/etc/passwd"}, "outside the folders this server may read"),
        ({"source_a": "Path", "path_a": str(DEMO_DIR / "flow" / "nope.pt")}, "no such file or folder"),
        ({"source_a": "Upload"}, "Upload chosen, but no file uploaded yet"),
        ({"source_a": "Path"}, "Path chosen, but no path typed yet"),
        (
            {"probe_text": "/etc/hosts"},
            "Probe data: '/etc/hosts' is outside the folders this server may read",
        ),
    ],
)
def test_an_unusable_choice_shows_no_findings_on_any_page(monkeypatch, state, missing):
    at = router_app(monkeypatch, **state).run()
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, page
        assert any(missing in plain(e.value) for e in at.error), (page, [plain(e.value) for e in at.error])
        assert not any(mark in _shown(at) for mark in FINDING_MARKS), page
        assert not at.dataframe and not at.get("plotly_chart"), page
        assert "Nothing is shown until this is fixed" in plain(at.info[0].value)


def test_a_rejected_b_is_named_and_gets_no_stand_in(monkeypatch):
    at = router_app(monkeypatch, source_b="Path", path_b="/etc/passwd").run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert "Checkpoint B: '/etc/passwd' is outside" in plain(at.warning[0].value)
    assert "Choose checkpoint A and checkpoint B" in plain(
        at.info[0].value
    )  # no demo counterpart in B's place
    assert not at.dataframe


def test_demo_picker_groups_runs_and_shows_epochs(monkeypatch):
    at = router_app(monkeypatch).run()
    run_a = at.sidebar.selectbox(key="demo_run_a")
    assert run_a.value == "flow/collapsed" and "codebook · fixed" in run_a.options
    # one entry per run: the .pt runs and the language runs' model folders
    assert len(run_a.options) == len({p.parent for p in demo_checkpoints()})
    assert "language · collapsed" in run_a.options
    assert at.sidebar.selectbox(key="demo_epoch_a").value == "fclf_epoch_020.pt"
    assert at.sidebar.selectbox(key="demo_run_b").value == "(none)"
    run_a.set_value("codebook/fixed").run()
    epoch = at.sidebar.selectbox(key="demo_epoch_a")
    assert epoch.value == "vqvae_epoch_040.pt"  # a new run opens on its last checkpoint
    assert epoch.options[0] == "epoch 1 · vqvae_epoch_001.pt"  # the list shows the epoch
    assert at.session_state["checkpoint_a"] == str(DEMO_DIR / "codebook" / "fixed" / "vqvae_epoch_040.pt")


def test_choosing_b_keeps_a_from_a_sessions_first_run_on():
    """A server's first run is Streamlit's older pages/ mode, which gives the sidebar's widgets other IDs
    than every later run: without the router's first rerun (router.start), choosing B dropped the choice
    and reset A to the first demo run. A plain AppTest starts in that mode, as a fresh server does."""
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=180).run()
    at.sidebar.selectbox(key="demo_run_b").set_value("flow/fixed").run()
    assert at.sidebar.selectbox(key="demo_run_a").value == "flow/collapsed"
    assert at.sidebar.selectbox(key="demo_run_b").value == "flow/fixed"
    at.switch_page("pages/trajectories.py").run()
    assert not at.exception
    assert at.sidebar.selectbox(key="demo_run_a").value == "flow/collapsed"
    assert at.sidebar.selectbox(key="demo_run_b").value == "flow/fixed"


def test_the_url_carries_page_controls_and_a_link_restores_them(monkeypatch):
    at = router_app(monkeypatch).run()
    at.sidebar.selectbox(key="demo_run_a").set_value("codebook/fixed").run()
    at.sidebar.selectbox(key="demo_epoch_a").set_value("vqvae_epoch_010.pt").run()
    at.switch_page("pages/codebook.py").run()
    at.slider(key="cb_threshold").set_value(0.2).run()
    at.toggle(key="cb_log").set_value(False).run()
    link = dict(at.query_params)
    assert link["demo_run_a"] == "codebook/fixed" and link["demo_epoch_a"] == "vqvae_epoch_010.pt"
    assert link["cb_threshold"] == "0.2" and link["cb_log"] == "false"
    at.sidebar.checkbox(key="trust_files").check().run()
    assert "trust_files" not in at.query_params  # a link never switches on unpickling

    opened = router_app(monkeypatch, query={**link, "trust_files": "true"})
    opened.switch_page("pages/codebook.py").run()
    assert not opened.exception
    assert opened.slider(key="cb_threshold").value == 0.2 and opened.toggle(key="cb_log").value is False
    assert plain(opened.subheader[0].value) == "A: fixed/ · vqvae_epoch_010.pt"  # the sidebar's A, shown
    assert opened.session_state["trust_files"] is False
    assert dict(opened.query_params) == {k: v for k, v in link.items()}  # reload keeps the same view
    opened.segmented_control(key="cb_view").set_value("run").run()
    assert opened.select_slider(key="cb_epoch").value == "vqvae_epoch_010.pt"  # the run view starts there
    assert opened.query_params["cb_view"] == "run"  # and the link says which view


def test_a_hand_edited_link_opens_on_defaults(monkeypatch):
    at = router_app(monkeypatch, query={"cb_threshold": "7", "demo_run_a": "no/such/run"})
    at.switch_page("pages/codebook.py").run()
    assert not at.exception
    assert at.slider(key="cb_threshold").value == 0.0  # out of range: the control's default instead
    assert at.sidebar.selectbox(key="demo_run_a").value == "flow/collapsed"


def test_a_link_to_a_folder_outside_the_roots_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    at = router_app(monkeypatch, query={"timeline_run": str(tmp_path)})
    at.switch_page("pages/timeline.py").run()
    assert not at.exception
    assert "outside the folders this server may read" in plain(at.error[0].value)
    assert at.radio(key="timeline_source").value == "demo"
