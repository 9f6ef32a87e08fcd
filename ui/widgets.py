"""Reusable widgets: the checkpoint picker, probe picker and finding cards.

Every string that comes from a file (names, config values, attribute names, probe texts, error
messages naming them) reaches a Markdown renderer (st.markdown, st.error, captions, subheaders,
labels) only through `md`, which escapes it (core.io.encode.markdown); charts go through `chart`, which
strips live Plotly markup from their data, and CSV downloads through `csv_download`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import streamlit as st

from core.diagnosis import Finding, Report
from core.io.encode import csv_frame, inert_figure
from core.io.encode import markdown as md
from core.io.errors import CollapseExplorerError
from core.io.paths import default_demo, demo_checkpoints, display_name, epoch_from_name
from core.metrics import format_value, info_of, label, readable
from ui import cache, state, uploads

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
            path = str(uploads.resolve(text))
        except CollapseExplorerError as exc:
            problem = str(exc) if text.strip() else "Path chosen, but no path typed yet"
    else:
        upload = st.file_uploader(f"{label}: upload", key=f"upload_{slot}")
        if upload is not None:
            path, problem = stored(upload)
        else:
            problem = "Upload chosen, but no file uploaded yet"
    state.set_selected(slot, path, problem)
    return path


def stored(upload) -> tuple[str | None, str | None]:
    """(path in this session's upload area, None), or (None, why not: over a cap or the quota)."""
    try:
        return str(uploads.store(upload.name, upload.getvalue())), None
    except CollapseExplorerError as exc:
        return None, str(exc)


def probe_picker() -> str | None:
    """Optional probe data path (default: probe.npz beside the checkpoint); a rejected path is recorded
    as a problem instead of silently falling back to the default."""
    text = st.text_input(
        "Probe data (.npz / .safetensors)", key="probe_text", placeholder="beside the checkpoint"
    )
    upload = st.file_uploader("…or upload probe data", type=["npz", "safetensors"], key="probe_upload")
    path = problem = None
    if upload is not None:
        path, problem = stored(upload)
    elif text:
        try:
            path = str(uploads.resolve(text))
        except CollapseExplorerError as exc:
            problem = str(exc)
    elif given := st.session_state.get(state.PAGE_PROBE_KEY):
        path = given
        st.caption("Using the probe data uploaded on the page.")
    state.set_probe_path(path, problem)
    return path


def trust_switch() -> None:
    """The sidebar's "I trust these files" switch. Trust covers the checkpoints it was ticked for
    (resolved path, size, mtime): when either changes, the switch is unticked and asks again."""
    if st.session_state.get(state.TRUST_KEY) and not state.trusted():
        st.session_state[state.TRUST_KEY] = False
        st.caption("Trust was given to other files; tick again to trust the ones open now.")
    st.checkbox(
        "I trust these files",
        key=state.TRUST_KEY,
        on_change=state.grant_trust,
        help="Allows full unpickling of the checkpoints open now, which can run code stored in them. "
        "Only for files you made; a different or changed file asks again.",
    )


def finding_card(finding: Finding) -> None:
    """One finding as a bordered card: severity, summary, evidence metrics, fix."""
    with st.container(border=True):
        st.markdown(
            f"{SEVERITY_ICON[finding.severity]} **{finding.kind}: {finding.severity}**  \n{md(finding.summary)}"
        )
        if finding.metrics:
            rows = []
            for key, value in finding.metrics.items():
                info, _ = info_of(key)
                rows.append(
                    {
                        "metric": label(key, with_unit=True),
                        "value": readable(value),
                        "reading": reading(info),
                    }
                )
            st.dataframe(rows, hide_index=True, width="stretch")
        if finding.fix and finding.severity in ("collapse", "warning"):
            st.markdown(f"**Known fix:** {md(finding.fix)}")


def reading(info) -> str:
    """How to read a metric in words (`MetricInfo.direction`): what is better and in which unit,
    'depends: <why>' where the good direction truly turns on something else, 'not judged: <why>' for
    counts and settings; '' for an unregistered metric."""
    return "" if info is None else info.direction


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
            show_errors_as(md(_normal(error)))


def _normal(text: str) -> str:
    return " ".join(str(text).split())


def nothing_to_show(title: str, problems: list[str]) -> None:
    """A page whose inputs are unusable: its title, what is missing, and no findings at all."""
    st.title(title)
    for text in problems:
        st.error(md(text))
    st.info(
        "Nothing is shown until this is fixed: no page falls back to the shipped demo, so no other model's "
        "findings can be read as yours. Choose a demo checkpoint, a path under the allowed roots, or upload "
        "a file in the sidebar."
    )


def metric_grid(cards: dict[str, object], per_row: int = 2, helps: Mapping[str, str] | None = None) -> None:
    """Metric cards in rows of `per_row` (four in a row cut their numbers off on a laptop screen), each
    with its tooltip from `helps` (by card name) where one is given."""
    items = list(cards.items())
    helps = helps or {}
    if per_row == 1:  # one a row: no columns, so the grid also fits inside a page's own column
        for name, value in items:
            st.metric(name, value, help=helps.get(name))
        return
    for start in range(0, len(items), per_row):
        row = items[start : start + per_row]
        for column, (name, value) in zip(st.columns(per_row), row, strict=False):
            column.metric(name, value, help=helps.get(name))  # the product's own card names


# Pixel widths of an outputs table's columns: input, A and B fit side by side in 456 px (the table of an
# 800 px screen with the sidebar open); every other column (the reference) starts narrow. A wider table
# stretches every column in proportion, so A and B take most of a laptop screen.
OUTPUT_WIDTHS = {"input": 48, "A": 200, "B": 200}
OTHER_WIDTH = 100


def outputs_table(rows: list[dict] | object, *, key: str | None = None, height: int = 300) -> None:
    """A table of what A and B wrote per input (list of row dicts or a DataFrame): input, A and B first
    and sized to stay in view on a narrow screen; the other columns after them scroll out instead."""
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    order = [c for c in OUTPUT_WIDTHS if c in frame.columns]
    order += [c for c in frame.columns if c not in order]
    st.dataframe(
        frame,
        hide_index=True,
        key=key,
        height=height,
        column_order=order,
        column_config={c: st.column_config.Column(width=OUTPUT_WIDTHS.get(c, OTHER_WIDTH)) for c in order},
    )


def csv_download(label_text: str, rows: list[dict] | object, file_name: str, *, key: str) -> None:
    """A download button for a table (list of row dicts or a DataFrame) as CSV; no cell of it is a
    formula when a spreadsheet opens it (core.io.encode.csv_frame)."""
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    st.download_button(
        label_text,
        csv_frame(frame).to_csv(index=False),
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
    )


def show_error(exc: Exception, shown: list[str] | None = None) -> None:
    """A user-facing message for bad input (never a traceback). With `shown`, a message already in it
    is not repeated, and a new one is added to it."""
    text = _normal(exc)
    if shown is not None:
        if text in shown:
            return
        shown.append(text)
    st.error(md(text))


def chart(figure, **kwargs) -> object:
    """st.plotly_chart of `figure` with no live markup from file names in it (core.io.encode.inert_figure)."""
    return st.plotly_chart(inert_figure(figure), **kwargs)


def short_name(path: str | None) -> str:
    return display_name(Path(path)) if path else "(none)"


MARKS = {
    "better": "▲ better",
    "worse": "▼ worse",
    "depends": "◆ depends",
    "same": "= same",
    "no direction": "– not judged",
    "undefined": "? undefined",
}
MARK_COLOURS = {"▲": "color: #2e7d32", "▼": "color: #c62828", "◆": "color: #b26a00"}


def delta_frame(deltas: list, *, only_changed: bool = False):
    """The A / B metric table (settings left out): label with unit, reading, values, change, mark, why;
    'B is' coloured green when B improved, red when it got worse, amber when it depends."""
    import pandas as pd

    rows = [
        {
            "metric": label(d.key, with_unit=True),
            "reading": reading(info_of(d.key)[0]),
            "A": "–" if d.a is None else format_value(d.a),
            "B": "–" if d.b is None else format_value(d.b),
            "B − A": "" if d.delta is None else f"{d.delta:+.4g}",
            "B is": MARKS[d.judgement],
            "why": d.note,
        }
        for d in deltas
        if d.judgement != "setting" and (not only_changed or (d.delta is not None and d.delta != 0))
    ]
    # A and B next to the metric: on a narrow screen the table scrolls the explanations out, not them.
    frame = pd.DataFrame(rows, columns=["metric", "A", "B", "B is", "B − A", "reading", "why"])
    return frame.style.map(lambda v: MARK_COLOURS.get(str(v)[:1], ""), subset=["B is"])


def delta_columns() -> dict:
    """Column tooltips of the A / B metric table: what 'reading' and 'why' hold."""
    return {
        "reading": st.column_config.TextColumn(
            help="What is better for this metric, in words and its unit; 'depends' where the good direction "
            "turns on something else (the reason follows), 'not judged' for counts and settings."
        ),
        "why": st.column_config.TextColumn(
            help="Why a 'depends' row is not judged better or worse, with the metric it turns on for A and B."
        ),
    }


def settings_caption(deltas: list) -> str:
    """'Measured with: probe rows 1,000 (A) ...' from the setting rows of a comparison."""
    parts = []
    for d in deltas:
        if d.judgement != "setting":
            continue
        values = format_value(d.a) if d.a == d.b else f"A {format_value(d.a)}, B {format_value(d.b)}"
        parts.append(f"{d.label.lower()} {values}")
    return f"Measured with: {'; '.join(parts)}." if parts else ""


def export_buttons(path_a: str, path_b: str | None, probe: str | None, trust: bool) -> None:
    """Downloads of the report of A (or A vs B): one offline HTML document and its JSON.

    The report (with its figures) is built only once asked for, so it costs nothing on first paint.
    """
    if not st.toggle("Prepare a report to download", key="export_prepare"):
        return
    document, data = cache.export(path_a, path_b, probe, trust)
    stem = "collapse-report"
    left, right = st.columns(2)
    left.download_button(
        f"Download the report (HTML, {len(document.encode()) / 1e6:.1f} MB, opens offline)",
        document,
        file_name=f"{stem}.html",
        mime="text/html",
        key="export_html",
    )
    right.download_button(
        "Download its data (JSON)", data, file_name=f"{stem}.json", mime="application/json", key="export_json"
    )


def device_picker() -> str:
    """Sidebar setting: where models run (the CPU, or a CUDA GPU that torch can see on the server)."""
    from core.models.device import available_devices

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
