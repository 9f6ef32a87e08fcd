"""Session-state keys shared across pages: which checkpoints (A, B) and probe data are open, and
which files the user trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import streamlit as st

from core.paths import default_demo

Slot = Literal["a", "b"]
TRUST_KEY = "trust_files"
TRUSTED_FILES_KEY = "trusted_file_identities"
PROBE_KEY = "probe_path"
FileIdentity = tuple[str, int, int]


def _key(slot: Slot) -> str:
    return f"checkpoint_{slot}"


def selected_path(slot: Slot) -> str | None:
    """Checkpoint chosen in the sidebar for slot A or B; A falls back to the shipped demo."""
    value = st.session_state.get(_key(slot))
    if value is None and slot == "a":
        demo = default_demo()
        return str(demo) if demo is not None else None
    return value


def set_selected(slot: Slot, path: str | None) -> None:
    st.session_state[_key(slot)] = path


def probe_path() -> str | None:
    """Probe data chosen in the sidebar (None: use probe.npz beside the checkpoint)."""
    return st.session_state.get(PROBE_KEY)


def set_probe_path(path: str | None) -> None:
    st.session_state[PROBE_KEY] = path


def file_identity(path: str | Path) -> FileIdentity | None:
    """(resolved path, mtime_ns, size) of a file or folder; None when it is gone."""
    from ui.cache import file_stamp

    try:
        return (str(Path(path).resolve()), *file_stamp(path))
    except OSError:
        return None


def _open_checkpoints() -> list[str]:
    return [p for p in (selected_path("a"), selected_path("b")) if p]


def grant_trust() -> None:
    """on_change of the trust switch: remember exactly which checkpoints it was ticked for."""
    if st.session_state.get(TRUST_KEY):
        st.session_state[TRUSTED_FILES_KEY] = {file_identity(p) for p in _open_checkpoints()} - {None}
    else:
        st.session_state.pop(TRUSTED_FILES_KEY, None)


def trusted(path: str | None = None) -> bool:
    """Whether full unpickling is allowed for `path` (default: the checkpoints open as A and B): the
    switch is ticked and was ticked for these very files, unchanged since (path, size, mtime)."""
    if not st.session_state.get(TRUST_KEY, False):
        return False
    granted = st.session_state.get(TRUSTED_FILES_KEY, set())
    paths = [path] if path else _open_checkpoints()
    return bool(paths) and all(file_identity(p) in granted for p in paths)


def trusted_files() -> frozenset[str]:
    """Resolved paths of the trusted files that are still as they were when trusted."""
    if not st.session_state.get(TRUST_KEY, False):
        return frozenset()
    return frozenset(
        ident[0]
        for ident in st.session_state.get(TRUSTED_FILES_KEY, set())
        if file_identity(ident[0]) == ident
    )
