"""Reusable widgets: the checkpoint picker, probe picker and finding cards."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import streamlit as st

from core.checkpoints import epoch_from_name
from core.diagnosis import Finding, Report
from core.errors import CollapseExplorerError
from core.metrics import all_metrics, format_value
from core.paths import default_demo, demo_checkpoints, display_name, resolve_user_path, store_upload
from ui import cache, state

SOURCES = ("Demo", "Path", "Upload")
NONE = "(none)"
# Material icons ship with Streamlit's frontend, so they render offline on any browser (emoji need a font).
SEVERITY_ICON = {
    "ok": ":green[:material/check_circle:]",
    "warning": ":orange[:material/warning:]",
    "collapse": ":red[:material/error:]",
    "undefined": ":gray[:material/help:]",
}


def _run_label(run: str) -> str:
    return run.replace("/", " · ") if run != NONE else run


def _epoch_label(path: Path) -> str:
    epoch = epoch_from_name(path.name)
    return path.name if epoch is None else f"epoch {epoch} · {path.name}"


def _demo_choice(slot: state.Slot, label: str) -> tuple[str | None, str | None]:
    """Run (family / run) then checkpoint (by epoch) of the shipped demo: two short lists instead of
    one long one. Returns (path, problem)."""
    files = demo_checkpoints()
    if not files:
        return None, "the shipped demo is not built (run `make demo`)"
    by_run: dict[str, list[Path]] = {}
    for path in files:
        by_run.setdefault(display_name(path.parent), []).append(path)
    runs = ([NONE] if slot == "b" else []) + list(by_run)
    default = default_demo()
    run_key, epoch_key = f"demo_run_{slot}", f"demo_epoch_{slot}"
    if st.session_state.get(run_key) not in runs:
        st.session_state[run_key] = display_name(default.parent) if slot == "a" and default else runs[0]
    run = st.selectbox(f"{label}: demo run", runs, format_func=_run_label, key=run_key)
    if run == NONE:
        return None, None
    names = [p.name for p in by_run[run]]
    if st.session_state.get(epoch_key) not in names:  # a new run starts at its last checkpoint
        st.session_state[epoch_key] = names[-1]
    by_name = {p.name: p for p in by_run[run]}
    name = st.selectbox(
        f"{label}: checkpoint", names, format_func=lambda n: _epoch_label(by_name[n]), key=epoch_key
    )
    return str(by_name[name]), None


def checkpoint_picker(slot: state.Slot, label: str) -> str | None:
    """Sidebar control choosing checkpoint A or B from the demo, a path under the roots, or an upload.

    An unusable choice (a path outside the roots, a missing file, Upload before uploading) selects
    nothing and records why, so no page shows another model's findings in its place."""
    source = st.radio(label, SOURCES, horizontal=True, key=f"source_{slot}")
    path: str | None = None
    problem: str | None = None
    if source == "Demo":
        path, problem = _demo_choice(slot, label)
    elif source == "Path":
        text = st.text_input(f"{label}: path", key=f"path_{slot}", placeholder="/data/runs/fclf_epoch_5.pt")
        try:
            path = str(resolve_user_path(text))
        except CollapseExplorerError as exc:
            problem = str(exc) if text.strip() else "Path chosen, but no path typed yet"
    else:
        upload = st.file_uploader(f"{label}: upload", key=f"upload_{slot}")
        if upload is not None:
            path = str(store_upload(upload.name, upload.getvalue()))
        else:
            problem = "Upload chosen, but no file uploaded yet"
    state.set_selected(slot, path, problem)
    return path


def probe_picker() -> str | None:
    """Optional probe data path (default: probe.npz beside the checkpoint); a rejected path is recorded
    as a problem instead of silently falling back to the default."""
    text = st.text_input(
        "Probe data (.npz / .safetensors)", key="probe_text", placeholder="beside the checkpoint"
    )
    upload = st.file_uploader("…or upload probe data", type=["npz", "safetensors"], key="probe_upload")
    path = problem = None
    if upload is not None:
        path = str(store_upload(upload.name, upload.getvalue()))
    elif text:
        try:
            path = str(resolve_user_path(text))
        except CollapseExplorerError as exc:
            problem = str(exc)
    state.set_probe_path(path, problem)
    return path


def finding_card(finding: Finding) -> None:
    """One finding as a bordered card: severity, summary, evidence metrics, fix."""
    with st.container(border=True):
        st.markdown(
            f"{SEVERITY_ICON[finding.severity]} **{finding.kind}: {finding.severity}**  \n{finding.summary}"
        )
        if finding.metrics:
            table = all_metrics()
            rows = [
                {
                    "metric": table[k].label if k in table else k,
                    "value": format_value(v),
                    "better": table[k].better if k in table else "",
                }
                for k, v in finding.metrics.items()
            ]
            st.dataframe(rows, hide_index=True, width="stretch")
        if finding.fix and finding.severity in ("collapse", "warning"):
            st.markdown(f"**Known fix:** {finding.fix}")


def findings_section(
    report: Report, *, show_errors_as: Callable[[str], object] = st.warning, shown: Iterable[str] = ()
) -> None:
    """A report's finding cards, then the errors met while diagnosing it (as warnings unless told),
    leaving out messages the page has already shown (`shown`), so no error appears twice."""
    seen = {_normal(text) for text in shown}
    for finding in report.findings:
        finding_card(finding)
    for error in report.errors:
        if _normal(error) not in seen:
            show_errors_as(error)


def _normal(text: str) -> str:
    return " ".join(str(text).split())


def nothing_to_show(title: str, problems: list[str]) -> None:
    """A page whose inputs are unusable: its title, what is missing, and no findings at all."""
    st.title(title)
    for text in problems:
        st.error(text)
    st.info(
        "Nothing is shown until this is fixed: no page falls back to the shipped demo, so no other model's "
        "findings can be read as yours. Choose a demo checkpoint, a path under the allowed roots, or upload "
        "a file in the sidebar."
    )


def show_error(exc: Exception, shown: list[str] | None = None) -> None:
    """A user-facing message for bad input (never a traceback). With `shown`, a message already in it
    is not repeated, and a new one is added to it."""
    text = _normal(exc)
    if shown is not None:
        if text in shown:
            return
        shown.append(text)
    st.error(text)


def short_name(path: str | None) -> str:
    return display_name(Path(path)) if path else "(none)"


def verdict_styler(rows: list[dict]):
    """Colour the 'B is' column green when B improved, red when it got worse."""
    import pandas as pd

    colours = {"▲": "color: #2e7d32", "▼": "color: #c62828"}
    frame = pd.DataFrame(rows, columns=["metric", "A", "B", "B − A", "B is"])
    return frame.style.map(lambda v: colours.get(str(v)[:1], ""), subset=["B is"])


def export_buttons(path_a: str, path_b: str | None, probe: str | None, trust: bool) -> None:
    """Format choice and a download of the report of A (or A vs B): self-contained HTML or JSON.

    The report (with its figures) is built only once asked for, so it costs nothing on first paint.
    """
    if not st.toggle("Prepare a report to download", key="export_prepare"):
        return
    fmt = st.radio("Format", ["html", "json"], horizontal=True, key="export_format")
    st.download_button(
        f"Download the {fmt.upper()} report",
        cache.export(path_a, path_b, fmt, probe, trust),
        file_name=f"collapse-report.{fmt}",
        mime="text/html" if fmt == "html" else "application/json",
    )
