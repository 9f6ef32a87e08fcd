"""Pages run only inside the router (app.py): its sidebar, its checks of the inputs and its URL sync.

Streamlit serves the files of a folder named `pages/` on their own URLs (its older multipage mode)
until the first `st.navigation` call of the server process switches that mode off. On a freshly
started server, a shared link such as /codebook would therefore run pages/codebook.py alone, without
the sidebar or the check that checkpoint A is usable. Every page calls `require()` first: in that
case it leaves the old mode (a public `st.navigation` call) and reruns, and the rerun goes through
app.py to the same page with the same query string.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import REPO_ROOT

APP = REPO_ROOT / "app.py"
_STATE = threading.local()  # script runs have a thread each


@contextmanager
def routing() -> Iterator[None]:
    """app.py runs its page inside this, so the page knows it came through the router."""
    _STATE.active = True
    try:
        yield
    finally:
        _STATE.active = False


def require() -> None:
    """First call of every page: return when under the router or run on its own as the main script
    (a page's AppTest); otherwise rerun through the router."""
    ctx = get_script_run_ctx()
    if getattr(_STATE, "active", False) or ctx is None or Path(ctx.main_script_path).resolve() != APP:
        return
    # Every page file, so the one asked for stays the current page through the rerun.
    pages = [st.Page(path) for path in sorted((REPO_ROOT / "pages").glob("*.py"))]
    st.navigation(pages, position="hidden")
    st.rerun()


_SESSION_STARTED = "_router_session_started"


def start(pages: dict[str, list]) -> None:
    """First call of app.py, before any widget: on a session's first run, leave the older multipage mode
    (see above) and rerun. That mode runs app.py itself as one of its pages, so the sidebar's widgets got
    IDs of that page on the first run and other IDs on the next: their first change was dropped (choosing
    B in the sidebar reset A to the first demo run and B to none)."""
    if st.session_state.get(_SESSION_STARTED):
        return
    st.session_state[_SESSION_STARTED] = True
    st.navigation(pages, position="hidden")
    st.rerun()
