"""Collapse Explorer library: checkpoint loading, adapters, metrics, diagnosis, plots and CLI.

Nothing under core/ imports Streamlit; the app's pages and ui/ helpers are the only Streamlit code.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
DEMO_DIR = ASSETS_DIR / "demo"
