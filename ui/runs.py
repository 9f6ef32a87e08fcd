"""The Runs page's data: sweep tables (written by `python -m core sweep`) read once per file version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import streamlit as st

from core.io.errors import CollapseExplorerError
from core.io.paths import allowed_roots, resolve_user_path
from core.sweep import leaderboard, read_table, sweep_tables
from ui import cache, state


@dataclass(frozen=True)
class SweepChoice:
    """A sweep table the page can show: its label in the picker and its path."""

    label: str
    path: str
    when: str


def recent_sweeps() -> list[SweepChoice]:
    """Tables of earlier sweeps in the cache (newest first), labelled by the swept root's folder name."""
    return [
        SweepChoice(
            p.parent.name.rsplit("-", 1)[0],
            str(p),
            datetime.fromtimestamp(p.stat().st_mtime).strftime("%Y-%m-%d %H:%M"),
        )
        for p in sweep_tables()
    ]


def typed_table(text: str) -> str:
    """A typed table path, checked against the allowed roots like every other typed path."""
    path = resolve_user_path(text)
    if path.suffix != ".parquet":
        raise CollapseExplorerError(f"{path.name} is not a sweep table: give the .parquet file `sweep` wrote")
    return str(path)


@st.cache_data(show_spinner="Reading the sweep table…", max_entries=8)
def _tables(file: cache.FileKey):
    table = read_table(file.path)
    return table, leaderboard(table)


def tables(path: str):
    """(checkpoint table, leaderboard of runs) of a sweep table file (cached per file version)."""
    return _tables(cache.FileKey.of(path))


def filter_runs(board, severities: list[str]):
    """Leaderboard rows whose run status is one of `severities`."""
    return board[board["status"].isin(severities)].reset_index(drop=True)


def checkpoints_of(table, run: str):
    """The checkpoint rows of one run, with the columns that read best in a table."""
    columns = ["epoch", "checkpoint", "severity", "finding", "evidence", "summary", "error"]
    return table.loc[table["run"] == run, columns].reset_index(drop=True)


def openable(folder: str) -> bool:
    """Whether Timeline may open the folder (it lies under the allowed roots)."""
    resolved = Path(folder).resolve()
    return any(resolved.is_relative_to(root) for root in allowed_roots())


# Set by the button's callback and followed in the page body: a request that outlives a rerun (a click's
# own value does not), and underscored so the URL sync leaves it out.
_OPEN_REQUEST = "_runs_open_request"


def request_timeline(folder: str) -> None:
    """Button callback: hand the run folder to Timeline and ask the page to go there."""
    st.session_state[state.TIMELINE_RUN_KEY] = folder
    st.session_state[_OPEN_REQUEST] = True


def follow_request() -> None:
    """Go to Timeline when the button asked for it (st.switch_page cannot run inside a callback)."""
    if st.session_state.pop(_OPEN_REQUEST, False):
        st.switch_page("pages/timeline.py")


def sweep_root(choice: str, typed: str) -> str:
    """The folder to sweep: the shipped demo, or a typed folder checked against the allowed roots."""
    from core import DEMO_DIR

    if choice == DEMO_CHOICE:
        return str(DEMO_DIR)
    if not typed.strip():
        raise CollapseExplorerError("type a folder under the allowed roots to sweep")
    return str(resolve_user_path(typed))


def run_sweep(root: str) -> str:
    """Sweep `root` with core.sweep (untrusted loading, the sidebar's device) under a progress bar; returns
    the table's path. Results are cached by content, so a second sweep only reads new or changed files."""
    from core.sweep import sweep

    bar = st.progress(0.0, text="Finding the run folders and checkpoints…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Diagnosed {done:,} of {total:,} new or changed checkpoints")

    result = sweep(root, device=state.device(), progress=progress)
    bar.progress(
        1.0,
        text=f"Swept {result.runs:,} runs: {result.diagnosed:,} checkpoints diagnosed, {result.cached:,} from "
        "the cache",
    )
    return str(result.table_path)


DEMO_CHOICE = "The shipped demo"
FOLDER_CHOICE = "A folder under the allowed roots"


def choice_label(choice: SweepChoice) -> str:
    return f"{choice.label} (swept {choice.when})"
