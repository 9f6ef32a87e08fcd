import torch
from streamlit.testing.v1 import AppTest

from core import DEMO_DIR
from core.io.paths import default_demo
from tests.conftest import ROOT
from tests.pages.helpers import plain, run_page


def test_overview_of_a_plain_checkpoint_and_tensor_filter(tmp_path, small_mlp):
    torch.save({"epoch": 5, "model_state_dict": small_mlp.state_dict()}, tmp_path / "m.pt")
    at = run_page("overview", checkpoint_a=str(tmp_path / "m.pt"))
    assert not at.exception
    facts = at.text[0].value.splitlines()[0]
    assert facts == "Format: torch · Parameters: 21 · Tensors: 4 · Epoch: 5"
    assert "4 of 4 tensors" in [plain(c.value) for c in at.caption]
    at.text_input(key="tensor_filter").input("bias").run()
    assert "2 of 4 tensors" in [plain(c.value) for c in at.caption]
    assert len(at.dataframe[-1].value) == 2
    assert any("no adapter recognises" in plain(e.value) for e in at.error)


def test_code_running_file_shows_trust_message_not_traceback(tmp_path, small_mlp):
    class RunsCode:
        def __reduce__(self):
            return (exec, ("raise SystemExit",))

    torch.save({"state_dict": small_mlp.state_dict(), "cb": RunsCode()}, tmp_path / "evil.pt")
    at = run_page("overview", checkpoint_a=str(tmp_path / "evil.pt"))
    assert not at.exception
    assert "I trust these files" in plain(at.error[0].value)
    assert len(at.dataframe[0].value) == 4


def test_bad_file_shows_message(tmp_path):
    (tmp_path / "img.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    at = run_page("overview", checkpoint_a=str(tmp_path / "img.pt"))
    assert not at.exception
    assert "PNG image" in plain(at.error[0].value)


def test_default_demo_shows_adapter_and_health_report():
    at = run_page("overview")
    assert not at.exception
    demo = default_demo()
    assert demo is not None, "the demo assets are missing"
    assert any("Adapter" in plain(s.value) for s in at.success)
    assert [plain(h.value) for h in at.subheader][:1] == ["Health report"]
    assert "prototype: collapse" in " ".join(plain(m.value) for m in at.markdown)
    assert not at.get("download_button")
    at.toggle(key="export_prepare").set_value(True).run()
    assert not at.exception and len(at.get("download_button")) == 2


def test_app_router_renders_overview_with_sidebar():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert plain(at.title[0].value) == "Overview"
    assert [r.key for r in at.sidebar.radio] == ["source_a", "source_b"]


def _picker_script():
    import streamlit as st

    from ui import state, widgets

    widgets.checkpoint_picker("a", "A")
    st.write(f"selected: {state.selected_path('a')} · problem: {state.problem('a')}")


def test_checkpoint_picker_refuses_paths_outside_roots_and_picks_demos():
    at = AppTest.from_function(_picker_script, default_timeout=60).run()
    assert plain(at.markdown[-1].value) == f"selected: {default_demo()} · problem: None"
    at.radio(key="source_a").set_value("Path").run()
    at.text_input(key="path_a").input("/etc/passwd").run()
    # The picker records why; the router shows it once, above the page (no second copy here).
    assert not at.error
    assert plain(at.markdown[-1].value).startswith(
        "selected: None · problem: '/etc/passwd' is outside the folders this server may read"
    )
    assert at.session_state["checkpoint_a"] is None
    at.text_input(key="path_a").input(str(default_demo())).run()
    assert (
        at.session_state["checkpoint_a"] == str(default_demo())
        and at.session_state["checkpoint_a_problem"] is None
    )


def test_an_error_is_shown_once(monkeypatch):
    """A checkpoint whose weights went NaN: the adapter's complaint appears once, not red then yellow."""
    nan = DEMO_DIR / "training" / "exploding_run" / "ckpt_epoch_009.pt"
    at = run_page("overview", checkpoint_a=str(nan))
    assert not at.exception
    messages = [plain(e.value) for e in at.error] + [plain(w.value) for w in at.warning]
    assert sum("contains NaN or infinite values" in m for m in messages) == 1, messages
    assert "training: collapse" in " ".join(plain(m.value) for m in at.markdown)
