"""Session-state keys shared across pages: which checkpoints (A, B) and probe data are open."""

from __future__ import annotations

from typing import Literal

import streamlit as st

from core.paths import default_demo

Slot = Literal["a", "b"]
TRUST_KEY = "trust_files"
PROBE_KEY = "probe_path"
DEVICE_KEY = "device"
# The run folder Timeline opens (set by the Runs page before it switches there).
TIMELINE_RUN_KEY = "timeline_run"


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


def trusted() -> bool:
    """Whether the user ticked 'I trust these files' (allows full unpickling)."""
    return bool(st.session_state.get(TRUST_KEY, False))


def device() -> str:
    """Where models run, from the sidebar's device setting ("cpu" until changed)."""
    return str(st.session_state.get(DEVICE_KEY) or "cpu")
