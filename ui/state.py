"""Session-state keys shared across pages (which checkpoints A / B and probe data are open, why a
choice is unusable, and which files the user trusted) and the sync of registered widget keys with the
URL's query parameters, so a link opens the same view and a reload keeps it."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import streamlit as st

from core.io.paths import default_demo, file_stamp

Slot = Literal["a", "b"]
TRUST_KEY = "trust_files"
TRUSTED_FILES_KEY = "trusted_file_identities"
PROBE_KEY = "probe_path"
FileIdentity = tuple[str, int, int]
PROBE_PROBLEM_KEY = "probe_problem"
PAGE_PROBE_KEY = "probe_given_on_page"  # probe data uploaded on a page where it was missing
TIMELINE_RUN_KEY = "timeline_run"  # a run folder chosen elsewhere (the Runs page) for the Timeline
DEVICE_KEY = "device"


def _key(slot: Slot) -> str:
    return f"checkpoint_{slot}"


def _problem_key(slot: Slot) -> str:
    return f"checkpoint_{slot}_problem"


def selected_path(slot: Slot) -> str | None:
    """Checkpoint chosen in the sidebar for slot A or B, None when the choice is unusable (see `problem`).

    Before the sidebar has run (a page opened on its own), A is the shipped demo."""
    if problem(slot) is not None:
        return None
    if _key(slot) not in st.session_state and slot == "a":
        demo = default_demo()
        return str(demo) if demo is not None else None
    return st.session_state.get(_key(slot))


def set_selected(slot: Slot, path: str | None, problem_text: str | None = None) -> None:
    """Record the sidebar's choice for a slot: a usable path, or None with why nothing is usable."""
    st.session_state[_key(slot)] = path
    st.session_state[_problem_key(slot)] = problem_text


def problem(slot: Slot) -> str | None:
    """Why the sidebar's choice for slot A or B cannot be opened (rejected path, upload pending), or None."""
    return st.session_state.get(_problem_key(slot))


def probe_path() -> str | None:
    """Probe data chosen in the sidebar (None: use probe.npz beside the checkpoint)."""
    return st.session_state.get(PROBE_KEY)


def set_probe_path(path: str | None, problem_text: str | None = None) -> None:
    st.session_state[PROBE_KEY] = path
    st.session_state[PROBE_PROBLEM_KEY] = problem_text


def probe_problem() -> str | None:
    """Why the probe data typed in the sidebar cannot be used, or None."""
    return st.session_state.get(PROBE_PROBLEM_KEY)


def blocking_problems() -> list[str]:
    """What keeps every page from showing findings: checkpoint A or the probe data is unusable.

    Falling back to the shipped demo here would show another model's verdict as the user's own."""
    found = []
    if problem("a") is not None:
        found.append(f"Checkpoint A: {problem('a')}")
    if probe_problem() is not None:
        found.append(f"Probe data: {probe_problem()}")
    return found


def timeline_folder() -> tuple[str | None, str]:
    """The run folder the Timeline opens on and where it came from: the one another page set
    (`timeline_run`, e.g. the Runs page), else checkpoint A's folder. A folder from a link is checked
    against the allowed roots like a typed one (CollapseExplorerError when outside)."""
    from core.io.paths import resolve_user_path

    linked = st.session_state.get(TIMELINE_RUN_KEY)
    if linked:
        return str(resolve_user_path(str(linked))), "the run chosen on the Runs page"
    path = selected_path("a")
    if path is None:
        return None, "no checkpoint A"
    return str(Path(path).parent), "checkpoint A's run folder"


def clear_timeline_run() -> None:
    """Button callback: forget the run another page chose, so the Timeline follows checkpoint A."""
    st.session_state.pop(TIMELINE_RUN_KEY, None)


def file_identity(path: str | Path) -> FileIdentity | None:
    """(resolved path, mtime_ns, size) of a file or folder; None when it is gone."""
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


# --- URL sync -------------------------------------------------------------------------------------
# Widget keys mirrored to the URL, per page url_path ("" = the sidebar, on every page). An entry ending
# in "_" is a prefix. Keys starting with "_" are private and never synced; the trust switch is never in
# a link (a link must not switch on unpickling), nor are uploads, buttons or chart selections (only
# plain values are mirrored).
URL_KEYS: dict[str, tuple[str, ...]] = {
    "": (
        "source_a",
        "demo_run_a",
        "demo_epoch_a",
        "path_a",
        "source_b",
        "demo_run_b",
        "demo_epoch_b",
        "path_b",
        "probe_text",
    ),
    "overview": ("tensor_filter", "export_"),
    "trajectories": ("traj_",),
    "generation": ("gen_",),
    "codebook": ("cb_",),
    "latents": ("lat_",),
    "compare": ("cmp_", "export_"),
    "timeline": ("timeline_",),
    "training": ("tr_",),
    "runs": ("runs_",),
}
_RESTORED_FLAG = "_url_restored"


def synced(key: str, page: str | None, registry: Mapping[str, Iterable[str]] = URL_KEYS) -> bool:
    """Whether session key `key` is mirrored to the URL while `page` (its url_path) is shown; with page
    None, whether any page mirrors it."""
    if key.startswith("_") or key == TRUST_KEY:
        return False
    pages = registry if page is None else ("", page)
    entries = [entry for name in pages for entry in registry.get(name, ())]
    return any(key.startswith(e) if e.endswith("_") else key == e for e in entries)


def encode(value: object) -> str | None:
    """A widget value as one query-parameter string (None: not a plain value, never mirrored).

    Strings stay as typed unless they would read back as another type ("12", "true"), which are quoted."""
    if isinstance(value, str):
        if not value:
            return None  # an empty text box is every text box's default
        return json.dumps(value) if _reads_as_json(value) else value
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return json.dumps(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str | bool | int | float) for v in value):
        return json.dumps(list(value))
    return None


def _reads_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def decode(text: str) -> object:
    """Inverse of `encode`: JSON numbers, booleans, lists and quoted strings, else the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict) or value is None:
        return text
    return value


def restore_from_url() -> list[str]:
    """Once per session, before any widget is drawn: put the registered keys the URL carries into
    session state, so the widgets open on the linked values. Returns the keys restored."""
    if st.session_state.get(_RESTORED_FLAG):
        return []
    st.session_state[_RESTORED_FLAG] = True
    restored = []
    for key in st.query_params:
        if synced(key, None):
            st.session_state[key] = decode(st.query_params[key])
            restored.append(key)
    return restored


def mirror_to_url(page: str) -> None:
    """After a page has run: the URL's query parameters become the registered keys' current values."""
    wanted = {}
    for key in sorted(st.session_state.keys()):
        if synced(key, page) and (text := encode(st.session_state[key])) is not None:
            wanted[key] = text
    if dict(st.query_params.to_dict()) != wanted:
        st.query_params.from_dict(wanted)


def forget(keys: Iterable[str]) -> None:
    """Drop restored keys whose values a widget refused (a hand-edited link), so defaults apply."""
    for key in keys:
        st.session_state.pop(key, None)
    st.query_params.clear()


def device() -> str:
    """Where models run, from the sidebar's device setting ("cpu" until changed)."""
    return str(st.session_state.get(DEVICE_KEY) or "cpu")
