"""Before/after comparison and exports: a report worth sending (one offline HTML document, with its
JSON beside it) and the sentences that lead it ("B fixes A's prototype collapse: distinct endpoints
32 -> 988").

The HTML document reads top to bottom: the verdict of each checkpoint and the headline, the family's
own pictures for A and B, the metrics with units and directions (A vs B), every finding with its
evidence and fix, and how it was measured (probe, settings, product version). File names are relative
to their run folder, never absolute server paths. plotly.js travels inline once, gzip-compressed and
unpacked by the browser, so the file stays small and opens offline.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import plotly.graph_objects as go

from .. import DEMO_DIR, REPO_ROOT
from ..diagnosis.base import SEVERITY_ORDER, Finding, Report
from ..io import files
from ..io.errors import CollapseExplorerError
from ..metrics.base import (
    all_metrics,
    format_value,
    info_of,
    label,
    to_jsonable,
)
from ..metrics.settings import is_setting
from ..plots.palette import SLOT_COLOURS
from .compare import _NOT_OK, MetricDelta, headline, verdict_line
from .verdict import verdict_of


# --- names ------------------------------------------------------------------------------------------
def run_relative(path: str | Path) -> str:
    """A checkpoint named relative to its run: 'flow/collapsed/fclf_epoch_020.pt' for the shipped demo,
    'my_run/epoch_5.pt' elsewhere; never the server's absolute path."""
    path = Path(path)
    if path.is_relative_to(DEMO_DIR):
        return path.relative_to(DEMO_DIR).as_posix()
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def _scrub(text: str, paths: Sequence[str | Path]) -> str:
    """`text` with the absolute folders of `paths` (and the install folder) cut to names."""
    folders = {Path(p).resolve().parent for p in paths} | {Path(p).parent for p in paths}
    for folder in sorted(folders, key=lambda f: -len(str(f))):
        if str(folder) not in ("", "."):
            text = text.replace(str(folder) + os.sep, f"{folder.name}/").replace(str(folder), folder.name)
    return text.replace(str(REPO_ROOT) + os.sep, "")


# --- the document's content ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One checkpoint in a report: its label ('A' / 'B'), file, report and the probe it was measured on."""

    label: str
    path: str
    report: Report
    probe: str | None = None


@dataclass(frozen=True)
class Table:
    """A small table for the document (e.g. generated outputs): columns, rows of text, a caption."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


Picture = go.Figure | Table


@functools.cache
def product_version() -> str:
    """Version of Collapse Explorer (installed package metadata, else the source tree's pyproject)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("collapse-explorer")
    except PackageNotFoundError:
        pyproject = REPO_ROOT / "pyproject.toml"
        found = (
            re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M)
            if pyproject.is_file()
            else None
        )
        return found.group(1) if found else "unknown"


def _versions() -> dict[str, str]:
    import numpy
    import torch

    return {
        "Collapse Explorer": product_version(),
        "Python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def measured(entries: Sequence[Entry]) -> list[tuple[str, dict[str, str]]]:
    """How each checkpoint was measured: probe file, adapter, and the settings its findings used."""
    out = []
    for entry in entries:
        rows = {
            "checkpoint": run_relative(entry.path),
            "adapter": str(entry.report.adapter or "none (not rebuilt)"),
            "probe data": run_relative(entry.probe) if entry.probe else "none",
        }
        for finding in entry.report.findings:
            for key, value in finding.metrics.items():
                if is_setting(key) and key != "most_common_output":
                    rows.setdefault(label(key, with_unit=True), format_value(value))
            if finding.kind == "mode":
                rows.setdefault("decoding", "greedy (sampling off), a seeded subsample of the probe (seed 0)")
            if finding.kind == "prototype":
                rows.setdefault(
                    "targets", "each probe row with one attribute flipped (row i flips attribute i mod A)"
                )
        out.append((entry.label, rows))
    return out


def report_json(
    reports: list[Report] | list[Entry],
    deltas: list[MetricDelta] | None = None,
    *,
    generated: str | None = None,
) -> dict:
    """JSON of the reports (DESIGN schema each, checkpoints named relative to their run), the verdicts,
    the comparison when there are two, and how it was measured."""
    entries = _entries(reports)
    paths = [e.path for e in entries]
    out: dict = {
        "product": {"name": "Collapse Explorer", **_versions()},
        "generated": generated or _now(),
        "verdicts": {e.label: verdict_line(e.report) for e in entries},
        "reports": [_relative_json(e, paths) for e in entries],
        "measured": dict(measured(entries)),
    }
    if deltas is not None and len(entries) == 2:
        out["headline"] = headline(entries[0].report, entries[1].report)
    if deltas is not None:
        table = all_metrics()
        out["comparison"] = [
            {
                "metric": d.key,
                "label": d.label,
                "unit": table[d.key].unit if d.key in table else "",
                "better": table[d.key].better if d.key in table else "neither",
                "a": to_jsonable(d.a),
                "b": to_jsonable(d.b),
                "delta": d.delta,
                "b_is": {1: "better", -1: "worse", 0: "neither"}[d.verdict],
                "judgement": d.judgement,
                "note": d.note,
            }
            for d in deltas
        ]
    return out


def _entries(reports: Sequence[Report | Entry]) -> list[Entry]:
    return [
        r if isinstance(r, Entry) else Entry("AB"[i] if len(reports) <= 2 else str(i + 1), r.checkpoint, r)
        for i, r in enumerate(reports)
    ]


def _relative_json(entry: Entry, paths: Sequence[str]) -> dict:
    data = entry.report.to_json()
    data["checkpoint"] = run_relative(entry.path)
    data["errors"] = [_scrub(e, paths) for e in data["errors"]]
    for finding in data["findings"]:
        finding["summary"] = _scrub(finding["summary"], paths)
    return data


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- HTML -----------------------------------------------------------------------------------------------
_CSS = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bad:#c62828;--warn:#b26a00;--good:#2e7d32}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
padding:0 1rem;color:var(--ink)}
h1{font-size:1.6rem;margin:0}h2{font-size:1.25rem;margin:1.8rem 0 .6rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}.sub,.caption,.muted{color:var(--muted)}
.headline{font-size:1.15rem;font-weight:600}
.verdicts{list-style:none;padding:0}.verdicts li{padding:.35rem .7rem;margin:.3rem 0}
.card{border:1px solid var(--line);border-radius:6px;padding:.6rem .9rem;margin:.7rem 0}
.verdicts li,.card{border-left:6px solid #9e9e9e}
.verdicts li.collapse,.card.collapse{border-left-color:var(--bad)}
.verdicts li.warning,.card.warning{border-left-color:var(--warn)}
.verdicts li.ok,.card.ok{border-left-color:var(--good)}
table{border-collapse:collapse;margin:.4rem 0;width:100%}
td,th{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.better{color:var(--good)}.worse{color:var(--bad)}.depends{color:var(--warn)}
.plot{min-height:320px;margin:.6rem 0;break-inside:avoid}
.fix{background:#f6f8fa;padding:.4rem .6rem;border-radius:4px;margin:.4rem 0}
.fix details{margin-top:.3rem}.fix summary{cursor:pointer;color:var(--muted)}
.note{font-size:.9em;color:var(--muted)}
@page{size:A4;margin:14mm}
@media print{body{margin:0;max-width:none;font-size:11pt}h2{break-after:avoid}.card,tr,.plot{break-inside:avoid}
.noprint{display:none}th{background:none}}
"""

_CSS += "".join(f".slot{slot}{{color:{colour}}}" for slot, colour in SLOT_COLOURS.items())

_LOADER = """
(async function () {
  const plots = document.querySelectorAll("div.plot");
  const say = (text) => plots.forEach((el) => { el.textContent = text; el.classList.add("muted"); });
  if (!("DecompressionStream" in window)) {
    say("This browser cannot unpack the embedded figure library; the numbers are in the tables.");
    return;
  }
  try {
    const packed = document.getElementById("plotly-gz").textContent;
    const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const code = await new Response(stream).text();
    const script = document.createElement("script");
    script.text = code;
    document.head.appendChild(script);
    for (const el of plots) {
      el.textContent = "";
      const spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
      await Plotly.newPlot(el, spec.data, spec.layout, {responsive: true, displaylogo: false});
    }
    document.body.dataset.plotsReady = String(plots.length);
  } catch (error) {
    say("The figures could not be drawn (" + error + "); the numbers are in the tables.");
  }
})();
"""


@functools.cache
def _packed_plotly() -> str:
    """plotly.js gzip-compressed and base64-encoded (about 2 MB instead of 4.8 MB)."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode(), compresslevel=9, mtime=0)).decode()


def _e(text: object) -> str:
    return html.escape(str(text))


def _metric_rows(metrics: dict[str, object]) -> str:
    rows = []
    for key, value in metrics.items():
        if is_setting(key):
            continue
        info, _ = info_of(key)
        direction = info.direction if info is not None else ""
        rows.append(
            f"<tr><td>{_e(label(key, with_unit=True))}</td><td class=num>{_e(format_value(value))}</td>"
            f"<td class=muted>{_e(direction)}</td></tr>"
        )
    head = "<tr><th>metric (unit)</th><th>value</th><th>reading</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>" if rows else ""


def _finding_html(finding: Finding, paths: Sequence[str]) -> str:
    fix = (
        f'<p class="fix"><b>Known fix:</b> {_e(finding.fix)}</p>'
        if finding.fix and finding.severity in _NOT_OK
        else ""
    )
    return (
        f'<div class="card {finding.severity}"><b>{_e(finding.kind)}: {_e(finding.severity)}</b>'
        f"<p>{_e(_scrub(finding.summary, paths))}</p>{_metric_rows(finding.metrics)}{fix}</div>"
    )


def _entry_html(entry: Entry, paths: Sequence[str]) -> str:
    parts = [
        f"<h3>{_e(entry.label)}: {_e(run_relative(entry.path))}</h3>",
        f'<p class="muted">adapter {_e(entry.report.adapter or "none")}</p>',
    ]
    parts += [_finding_html(f, paths) for f in entry.report.findings]
    parts += [f'<p class="worse">error: {_e(_scrub(e, paths))}</p>' for e in entry.report.errors]
    return "".join(parts)


def _delta_html(deltas: list[MetricDelta]) -> str:
    table = all_metrics()
    rows = []
    mark = {"better": "better", "worse": "worse", "depends": "depends", "same": "same"}
    for d in deltas:
        if d.judgement == "setting":
            continue
        info = table.get(d.key)
        better = info.direction if info is not None else ""
        change = "" if d.delta is None else f"{d.delta:+.4g}"
        note = f'<div class="note">{_e(d.note)}</div>' if d.note else ""
        rows.append(
            f"<tr><td>{_e(label(d.key, with_unit=True))}{note}</td><td class=muted>{_e(better)}</td>"
            f"<td class=num>{_e(_shown(d.a))}</td><td class=num>{_e(_shown(d.b))}</td>"
            f'<td class=num>{change}</td><td class="{mark.get(d.judgement, "muted")}">{_e(d.judgement)}</td></tr>'
        )
    head = "<tr><th>metric (unit)</th><th>reading</th><th>A</th><th>B</th><th>B − A</th><th>B is</th></tr>"
    return f"<h2>A vs B, metric by metric</h2><table>{head}{''.join(rows)}</table>"


def _shown(value: object) -> str:
    return "–" if value is None else format_value(value)


def _picture_html(picture: Picture, index: int) -> str:
    if isinstance(picture, Table):
        head = "".join(f"<th>{_e(c)}</th>" for c in picture.columns)
        body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in picture.rows)
        caption = f'<p class="caption">{_e(picture.caption)}</p>' if picture.caption else ""
        return f"<h3>{_e(picture.title)}</h3><table><tr>{head}</tr>{body}</table>{caption}"
    spec = picture.to_json(engine="json")
    # The spec sits in a JSON script block: "</" must not end it early.
    spec = spec.replace("</", "<\\/")
    return (
        f'<script type="application/json" id="fig-{index}">{spec}</script>'
        f'<div class="plot" data-spec="fig-{index}">Figure loading…</div>'
    )


def report_html(
    reports: list[Report] | list[Entry],
    deltas: list[MetricDelta] | None = None,
    figures: Sequence[Picture] | None = None,
    *,
    generated: str | None = None,
) -> str:
    """The report as one offline HTML document (see the module docstring for its sections)."""
    entries = _entries(reports)
    paths = [e.path for e in entries]
    generated = generated or _now()
    names = " vs ".join(f"{e.label} = {run_relative(e.path)}" for e in entries)
    verdicts = "".join(
        f'<li class="{_top_severity(e.report)}"><b class="slot{_e(e.label)}">{_e(e.label)}</b> '
        f"({_e(run_relative(e.path))}): "
        f"{_e(_scrub(verdict_line(e.report), paths))}</li>"
        for e in entries
    )
    lead = (
        f'<p class="headline">{_e(headline(entries[0].report, entries[1].report))}</p>'
        if len(entries) == 2
        else ""
    )
    # The fix in one plain sentence; the finding's full fix (numbered, model-specific) behind a click.
    fixes = "".join(
        f'<div class="fix"><b>Fix for {_e(e.label)}:</b> {_e(v.fix)}'
        f"<details><summary>How, in detail</summary><p>{_e(v.details)}</p></details></div>"
        for e in entries
        if (v := verdict_of(e.report)).fix
    )
    body = [
        f"<header><h1>Collapse report{': A vs B' if len(entries) == 2 else ''}</h1>"
        f'<p class="sub">{_e(names)} · generated {_e(generated)} · Collapse Explorer {_e(product_version())}</p>'
        "</header>",
        f'<section><h2>Verdict</h2>{lead}<ul class="verdicts">{verdicts}</ul>{fixes}</section>',
    ]
    if figures:
        pictures = "".join(_picture_html(p, i) for i, p in enumerate(figures))
        body.append(f"<section><h2>Pictures (A and B)</h2>{pictures}</section>")
    if deltas is not None:
        body.append(f"<section>{_delta_html(deltas)}</section>")
    body.append("<section><h2>Findings</h2>" + "".join(_entry_html(e, paths) for e in entries) + "</section>")
    body.append(_measured_html(entries, generated))
    data = json.dumps(report_json(entries, deltas, generated=generated)).replace("</", "<\\/")
    plots = any(isinstance(p, go.Figure) for p in figures or ())
    scripts = (
        f'<script type="application/octet-stream" id="plotly-gz">{_packed_plotly()}</script><script>{_LOADER}</script>'
        if plots
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Collapse report: {_e(names)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + f'<script type="application/json" id="report-data">{data}</script>{scripts}</body></html>'
    )


def _top_severity(report: Report) -> str:
    return max((f.severity for f in report.findings), key=SEVERITY_ORDER.get, default="undefined")


def _measured_html(entries: Sequence[Entry], generated: str) -> str:
    blocks = []
    for name, rows in measured(entries):
        cells = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows.items())
        blocks.append(f"<h3>{_e(name)}</h3><table>{cells}</table>")
    versions = ", ".join(f"{k} {v}" for k, v in _versions().items())
    return (
        "<section><h2>How this was measured</h2>"
        + "".join(blocks)
        + f'<p class="muted">Generated {_e(generated)} with {_e(versions)}. A comparison measures both '
        "checkpoints on the same probe data. Metric definitions: docs/DESIGN.md in the Collapse Explorer repository.</p></section>"
    )


def write_atomic(target: str | Path, text: str, *, forbidden: Sequence[Path] = ()) -> Path:
    """Write `text` to `target` through a temp file and rename. Refused: any place inside the folder
    tree of a checkpoint in `forbidden` (nothing is ever written beside a user's files), a target that
    exists and is not a regular file (a folder, /proc, a device), and a folder that cannot be written."""
    target = Path(target).expanduser().resolve()
    for folder in forbidden:
        folder = Path(folder).resolve()
        folder = folder if folder.is_dir() else folder.parent
        if target.is_relative_to(folder):
            raise CollapseExplorerError(
                f"refusing to write {target.name} beside the checkpoint (inside its folder {folder.name}/ "
                "or below); choose a folder outside it"
            )
    if target.exists() and not target.is_file():
        raise CollapseExplorerError(
            f"cannot write the report to {target}: it exists and is not a regular file"
        )
    if not target.parent.is_dir():
        raise CollapseExplorerError(f"output folder {target.parent} does not exist")
    try:
        tmp = files.temporary_beside(target)
    except OSError as exc:
        raise CollapseExplorerError(f"cannot write into {target.parent}: {exc.strerror or exc}") from None
    umask = os.umask(0)
    os.umask(umask)
    try:
        # The temporary file is 0600; a report is an ordinary file.
        return files.write_atomic(target, text, mode=0o666 & ~umask, temporary=tmp)
    except OSError as exc:
        raise CollapseExplorerError(f"cannot write the report to {target}: {exc.strerror or exc}") from None


def export_text(
    reports: list[Report] | list[Entry],
    deltas: list[MetricDelta] | None,
    fmt: str,
    figures: Sequence[Picture] | None = None,
    *,
    generated: str | None = None,
) -> str:
    """The export as text: 'json' or 'html'."""
    if fmt == "json":
        return json.dumps(report_json(reports, deltas, generated=generated), indent=2)
    if fmt == "html":
        return report_html(reports, deltas, figures, generated=generated)
    raise CollapseExplorerError(f"unknown report format {fmt!r}: use .html or .json")


def export_both(
    entries: Sequence[Entry], deltas: list[MetricDelta] | None, figures: Sequence[Picture] | None
) -> tuple[str, str]:
    """(HTML document, JSON) of the same report, stamped with one generation time."""
    generated = _now()
    return (
        report_html(list(entries), deltas, figures, generated=generated),
        export_text(list(entries), deltas, "json", generated=generated),
    )
