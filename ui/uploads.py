"""Uploads private to each browser session, and the path checks that go with them.

Each session gets its own `UploadArea` on its first upload. Only that session's path checks accept
it as a root, so another session can neither open nor list it (the Training page's "Other folder"
included). The area is removed when Streamlit drops the session (a finaliser on the object that
session_state holds), by a sweep on every upload and at app start of areas whose session ended or
that idled past the time to live, and when the server stops.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.io.paths import UploadArea, allowed_roots, confine, resolve_user_path, sweep_uploads

AREA_KEY = "_upload_area"


class _Owner:
    """Holds a session's area; when session_state lets go of it, its folder goes too."""

    def __init__(self, area: UploadArea) -> None:
        self.area = area
        self._cleanup = weakref.finalize(self, area.remove)


def _session_alive(session: str) -> bool | None:
    """Whether the Streamlit session with this id is still connected; None outside a server."""
    if not runtime.exists():
        return None
    return runtime.get_instance().is_active_session(session)


def sweep() -> list[Path]:
    """Remove the areas of ended or idle sessions (this session's own is kept)."""
    owner = st.session_state.get(AREA_KEY)
    return sweep_uploads(alive=_session_alive, keep=[owner.area.folder] if owner else [])


def area() -> UploadArea:
    """This session's upload area, created (after a sweep) on first use."""
    owner = st.session_state.get(AREA_KEY)
    if owner is None or not owner.area.folder.is_dir():
        sweep()
        ctx = get_script_run_ctx()
        owner = _Owner(UploadArea.create(ctx.session_id if ctx else None))
        st.session_state[AREA_KEY] = owner
    return owner.area


def store(name: str, data: bytes) -> Path:
    """Save an uploaded file in this session's area (raises CollapseExplorerError over a limit)."""
    target = area().store(name, data)
    sweep()
    return target


def roots() -> list[Path]:
    """The folders this session may read: the configured roots plus its own upload area."""
    owner = st.session_state.get(AREA_KEY)
    return allowed_roots([owner.area.folder] if owner is not None else [])


def confine_reads() -> None:
    """Keep every file core finds by convention during this script run (a probe, config or logs beside
    a checkpoint or one folder up) under this session's roots, asked at each lookup, so an upload made
    during the run counts at once. Cached results are shared between sessions safely: every session has
    the same configured roots, and a path inside one session's upload area opens in no other."""
    confine(roots)


def resolve(text: str) -> Path:
    """A typed path checked against this session's roots (raises CollapseExplorerError)."""
    return resolve_user_path(text, roots())


sweep_uploads(alive=_session_alive)  # once per server process: what a stopped server left behind
