"""Helpers shared by the page tests."""

from streamlit.testing.v1 import AppTest

from core import REPO_ROOT


def run_page(page: str, /, *, timeout: float = 120, **state) -> AppTest:
    """AppTest of `pages/<page>.py` after its first run, with `state` put in session_state before it."""
    at = AppTest.from_file(str(REPO_ROOT / "pages" / f"{page}.py"), default_timeout=timeout)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def router_app(monkeypatch, *, timeout: float = 180, query: dict | None = None, **state) -> AppTest:
    """AppTest of app.py (router, sidebar, URL sync) before its first run.

    AppTest starts every run with Streamlit's pages/ mode on, so a rerun would execute the page file
    alone; the server leaves that mode for good at the first st.navigation call, and so does this."""
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def routed_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", routed_init)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=timeout)
    at.query_params = dict(query or {})
    for key, value in state.items():
        at.session_state[key] = value
    return at


def plain(text: str) -> str:
    """An element's Markdown as the words it shows: the app escapes every punctuation mark of text that
    came from a file (core.io.encode.markdown), which a reader never sees."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(text))
