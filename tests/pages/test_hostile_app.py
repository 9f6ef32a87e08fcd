"""Hostile files in the running app (issue 11): clear messages instead of exception boxes, secrets
never shown, uploads private to their session and cleaned up, trust tied to the files it was given for."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import DEMO_DIR
from core.io.paths import ROOTS_ENV
from tests import hostile_files as hf
from tests.pages.helpers import run_page

FLOW = DEMO_DIR / "flow" / "collapsed" / "fclf_epoch_020.pt"


def test_config_and_metadata_show_interpolations_as_literal_text(tmp_path, monkeypatch):
    monkeypatch.setenv(hf.SECRET_ENV, "s3cr3t-from-the-server")
    at = run_page("overview", checkpoint_a=str(hf.env_interpolation(tmp_path)))
    assert not at.exception
    shown = json.dumps([j.value for j in at.json]) + " ".join(m.value for m in at.markdown)
    assert "s3cr3t" not in shown and "${oc.env:" + hf.SECRET_ENV + "}" in shown


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (hf.cyclic_config, "reference cycle"),
        (hf.stride0, "over the limit of 2,147,483,648"),
        (lambda p: hf.stride0(p, shape=(30_000, 30_000)), "repeats a 4-byte storage"),
        (hf.rezipped, "compressed tensor data"),
        (hf.legacy_garbage, "cannot read legacy_0.pt"),
        (hf.lying_zip_directory, "cannot read"),
    ],
)
def test_hostile_checkpoints_show_a_message_not_an_exception(tmp_path, make, message):
    at = run_page("overview", checkpoint_a=str(make(tmp_path)))
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_os_system_payload_shows_listing_and_trust_hint(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"state_dict": hf.small_state(), "cb": hf.RunsCode(marker)}, tmp_path / "evil.pt")
    at = run_page("overview", checkpoint_a=str(tmp_path / "evil.pt"))
    assert not at.exception and "I trust these files" in at.error[0].value
    assert "posix.system" in at.error[0].value and len(at.dataframe[0].value) == 2
    assert not marker.exists()


@pytest.mark.skipif(not DEMO_DIR.is_dir(), reason="demo assets not built")
def test_bad_probe_on_the_collapsed_demo_is_a_message(tmp_path):
    embeddings = np.random.default_rng(0).standard_normal((20, 100)).astype(np.float32)
    np.savez(tmp_path / "p.npz", embeddings=embeddings, attributes=np.zeros((20, 5)))
    at = run_page("overview", checkpoint_a=str(FLOW), probe_path=str(tmp_path / "p.npz"))
    assert not at.exception
    assert any("embedding dim 100 does not match the model's 384" in e.value for e in at.error)
    assert "prototype: ok" not in " ".join(m.value for m in at.markdown)


# --- uploads: private per session, quota, cleanup ------------------------------------------------------


def _upload_script():
    import streamlit as st

    from core.io.errors import CollapseExplorerError
    from ui import uploads

    try:
        if st.session_state.get("upload"):
            name, data = st.session_state["upload"]
            st.session_state["stored"] = str(uploads.store(name, data))
        if st.session_state.get("typed"):
            st.write(f"resolved: {uploads.resolve(st.session_state['typed'])}")
    except CollapseExplorerError as exc:
        st.error(str(exc))


def _session() -> AppTest:
    return AppTest.from_function(_upload_script, default_timeout=60)


def test_one_sessions_upload_is_not_readable_from_another(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    alice = _session()
    alice.session_state["upload"] = ("run_log.json", b'[{"step": 0, "loss": 1.0}]')
    alice.run()
    stored = alice.session_state["stored"]
    alice.session_state["upload"] = None
    alice.session_state["typed"] = stored
    alice.run()
    assert not alice.error and alice.markdown[-1].value == f"resolved: {stored}"

    bob = _session()
    for typed in (stored, str(Path(stored).parent), str(Path(stored).parent.parent)):
        bob.session_state["typed"] = typed
        bob.run()
        assert not bob.exception and "outside the folders this server may read" in bob.error[0].value

    training = run_page("training", timeout=90, checkpoint_a=str(tmp_path / "none.pt"))
    training.selectbox(key="tr_run").select("Other folder…").run()
    training.text_input(key="tr_path").input(str(Path(stored).parent.parent)).run()
    assert not training.exception and "outside the folders" in training.error[0].value


def test_quota_is_a_message_and_an_ended_session_leaves_nothing(monkeypatch):
    import core.io.paths as paths

    monkeypatch.setattr(paths, "MAX_UPLOAD_BYTES", 10)
    at = _session()
    at.session_state["upload"] = ("big.pt", b"x" * 11)
    at.run()
    assert not at.exception and "limited to 10 bytes each" in at.error[0].value
    at.session_state["upload"] = ("small.pt", b"x" * 5)
    at.run()
    folder = Path(at.session_state["stored"]).parent.parent
    assert folder.is_dir()
    del at
    gc.collect()
    assert not folder.exists()  # the session's state went, and its uploads with it


# --- trust tied to the files it was given for ------------------------------------------------------------


def _trust_script():
    """The sidebar's checkpoint picker and trust switch, then a load as every page does it (AppTest
    loses app.py's sidebar on reruns under st.navigation, so the same widgets run here alone)."""
    import streamlit as st

    from core.io.errors import CollapseExplorerError
    from ui import cache, state, widgets

    widgets.checkpoint_picker("a", "A")
    widgets.trust_switch()
    try:
        loaded = cache.loaded_checkpoint(state.selected_path("a"), state.trusted())
        st.write(f"loaded {loaded.path.name}, trusted {loaded.trusted}")
    except CollapseExplorerError as exc:
        st.error(str(exc))


def _open_a(at: AppTest, path) -> AppTest:
    at.radio(key="source_a").set_value("Path").run()
    at.text_input(key="path_a").input(str(path)).run()
    return at


def test_trust_covers_only_the_files_it_was_ticked_for(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    x = hf.needs_trust(tmp_path / "x.pt")
    y = hf.needs_trust(tmp_path / "y.pt", scale=2.0)
    at = _open_a(AppTest.from_function(_trust_script, default_timeout=60).run(), x)
    assert not at.exception and "I trust these files" in at.error[0].value

    at.checkbox(key="trust_files").check().run()
    assert not at.exception and not at.error and at.markdown[-1].value == "loaded x.pt, trusted True"

    at.text_input(key="path_a").input(str(y)).run()  # another file: asked again, switch unticked
    assert "I trust these files" in at.error[0].value
    assert at.checkbox(key="trust_files").value is False
    assert any("Trust was given to other files" in c.value for c in at.caption)

    at.text_input(key="path_a").input(str(x)).run()
    at.checkbox(key="trust_files").check().run()
    assert at.markdown[-1].value == "loaded x.pt, trusted True"
    hf.needs_trust(x, scale=3.0)  # the same path rewritten: a different file now
    at.run()
    assert "I trust these files" in at.error[0].value and at.checkbox(key="trust_files").value is False
