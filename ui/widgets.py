"""Reusable widgets: the checkpoint picker, probe picker and finding cards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.diagnosis import Finding, Report
from core.errors import CollapseExplorerError
from core.metrics import all_metrics, format_value
from core.paths import default_demo, demo_checkpoints, display_name, resolve_user_path, store_upload
from ui import cache, state

SOURCES = ("Demo", "Path", "Upload")
# Material icons ship with Streamlit's frontend, so they render offline on any browser (emoji need a font).
SEVERITY_ICON = {
    "ok": ":green[:material/check_circle:]",
    "warning": ":orange[:material/warning:]",
    "collapse": ":red[:material/error:]",
    "undefined": ":gray[:material/help:]",
}


def checkpoint_picker(slot: state.Slot, label: str) -> str | None:
    """Sidebar control choosing checkpoint A or B from the demo, a path under the roots, or an upload."""
    demos = demo_checkpoints()
    options = ["(none)"] if slot == "b" else []
    options += [display_name(p) for p in demos]
    by_name = dict(zip([display_name(p) for p in demos], demos, strict=True))
    source = st.radio(label, SOURCES, horizontal=True, key=f"source_{slot}")
    path: str | None = None
    if source == "Demo":
        default = default_demo()
        index = options.index(display_name(default)) if slot == "a" and default is not None else 0
        choice = st.selectbox(f"{label}: demo checkpoint", options, index=index, key=f"demo_{slot}")
        path = str(by_name[choice]) if choice in by_name else None
    elif source == "Path":
        text = st.text_input(f"{label}: path", key=f"path_{slot}", placeholder="/data/runs/fclf_epoch_5.pt")
        if text:
            try:
                path = str(resolve_user_path(text))
            except CollapseExplorerError as exc:
                st.error(str(exc))
    else:
        upload = st.file_uploader(f"{label}: upload", key=f"upload_{slot}")
        if upload is not None:
            path = str(store_upload(upload.name, upload.getvalue()))
    state.set_selected(slot, path)
    return path


def probe_picker() -> str | None:
    """Optional probe data path (default: probe.npz beside the checkpoint)."""
    text = st.text_input(
        "Probe data (.npz / .safetensors)", key="probe_text", placeholder="beside the checkpoint"
    )
    upload = st.file_uploader("…or upload probe data", type=["npz", "safetensors"], key="probe_upload")
    path = None
    if upload is not None:
        path = str(store_upload(upload.name, upload.getvalue()))
    elif text:
        try:
            path = str(resolve_user_path(text))
        except CollapseExplorerError as exc:
            st.error(str(exc))
    state.set_probe_path(path)
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


def findings_section(report: Report, *, show_errors_as: Callable[[str], object] = st.warning) -> None:
    """A report's finding cards, then the errors met while diagnosing it (as warnings unless told)."""
    for finding in report.findings:
        finding_card(finding)
    for error in report.errors:
        show_errors_as(error)


def show_error(exc: Exception) -> None:
    """A user-facing message for bad input (never a traceback)."""
    st.error(" ".join(str(exc).split()))


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


def device_picker() -> str:
    """Sidebar setting: where models run (the CPU, or a CUDA GPU that torch can see on the server)."""
    from core.device import available_devices

    devices = available_devices()
    if st.session_state.get(state.DEVICE_KEY) not in devices:
        st.session_state[state.DEVICE_KEY] = "cpu"
    st.selectbox(
        "Device",
        devices,
        key=state.DEVICE_KEY,
        help="Where flows, generation and other model calls run. CUDA appears when torch sees a GPU.",
    )
    return state.device()
