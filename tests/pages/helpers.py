"""Helpers shared by the page tests."""

from streamlit.testing.v1 import AppTest

from core import REPO_ROOT


def run_page(page: str, /, *, timeout: float = 120, **state) -> AppTest:
    """AppTest of `pages/<page>.py` after its first run, with `state` put in session_state before it."""
    at = AppTest.from_file(str(REPO_ROOT / "pages" / f"{page}.py"), default_timeout=timeout)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()
