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
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import plotly.graph_objects as go

from . import DEMO_DIR, REPO_ROOT
from .adapters.base import AdapterSpec
from .diagnosis import SEVERITY_ORDER, Finding, Report
from .errors import CollapseExplorerError
from .metrics import (
    MetricValue,
    all_metrics,
    format_value,
    improvement,
    info_of,
    is_defined,
    label,
    to_jsonable,
)
from .metrics.settings import is_setting
from .plots.palette import SLOT_COLOURS
from .runs import report_metrics
from .verdict import verdict_of

# Families whose models read an input space of `latent_dim`: A and B must share it to be compared.
SHARED_INPUT_FAMILIES = ("flow", "text")
Judgement = Literal["better", "worse", "same", "depends", "no direction", "undefined", "setting"]


def check_comparable(a: AdapterSpec | None, b: AdapterSpec | None) -> None:
    """Raise CollapseExplorerError saying why A and B cannot be compared (family or dimension)."""
    for name, spec in (("A", a), ("B", b)):
        if spec is None:
            raise CollapseExplorerError(
                f"the model of {name} cannot be rebuilt (see its findings); nothing to compare"
            )
    if a.family != b.family:
        raise CollapseExplorerError(
            f"A is a {a.family} model and B a {b.family} model: a comparison needs two checkpoints of the "
            "same family (for example the collapsed and the fixed run)"
        )
    if a.family in SHARED_INPUT_FAMILIES and a.latent_dim != b.latent_dim:
        raise CollapseExplorerError(
            f"A reads {a.latent_dim}-d embeddings and B {b.latent_dim}-d ones: they cannot be measured "
            "on the same inputs"
        )


@dataclass(frozen=True)
class MetricDelta:
    """One metric of A and B, the change, whether B is better (+1), worse (-1) or neither (0), how to
    read that (`judgement`) and, for metrics whose good direction depends on context, why (`note`)."""

    key: str
    label: str
    a: MetricValue | None
    b: MetricValue | None
    delta: float | None
    verdict: int
    judgement: Judgement = "no direction"
    note: str = ""


def _judge(key: str, a: object, b: object, ma: dict, mb: dict) -> tuple[int, Judgement, str]:
    info, _ = info_of(key)
    if info is not None and is_setting(key):
        return 0, "setting", ""
    if a is None or b is None:
        return 0, "undefined", f"only {'B' if a is None else 'A'} has this value"
    if not (is_defined(a) and is_defined(b)):
        return 0, "undefined", ""
    if info is not None and info.context:
        ref = info.context_key
        seen = f" ({label(ref)}: A {format_value(ma.get(ref))}, B {format_value(mb.get(ref))})" if ref else ""
        return 0, "depends", info.context + seen
    if info is None or info.better == "neither":
        return 0, "no direction", ""
    verdict = improvement(key, a, b)
    return verdict, {1: "better", -1: "worse", 0: "same"}[verdict], ""


def compare_metrics(a: Report, b: Report) -> list[MetricDelta]:
    """Every metric of either report with B - A and the direction-aware verdict from METRICS."""
    ma, mb = report_metrics(a), report_metrics(b)
    rows = []
    for key in list(dict.fromkeys([*ma, *mb])):
        va, vb = ma.get(key), mb.get(key)
        delta = float(vb) - float(va) if is_defined(va) and is_defined(vb) else None  # type: ignore[arg-type]
        verdict, judgement, note = _judge(key, va, vb, ma, mb)
        rows.append(MetricDelta(key, label(key), va, vb, delta, verdict, judgement, note))
    return rows


# --- sentences --------------------------------------------------------------------------------------
# The metric a family's verdict turns on, and the denominator that makes it readable.
HEADLINE_METRIC: dict[str, tuple[str, str | None]] = {
    "prototype": ("distinct_endpoints", "distinct_inputs"),
    "dimensional": ("rankme_ratio", None),
    "codebook": ("used_codes", "codebook_size"),
    "posterior": ("active_units", "latent_dim"),
    "mode": ("unique_output_ratio", None),
}
_NOT_OK = ("collapse", "warning")


def _worst(findings: Sequence[Finding], kind: str) -> Finding | None:
    found = [f for f in findings if f.kind == kind]
    return max(found, key=lambda f: SEVERITY_ORDER[f.severity]) if found else None


def evidence(finding: Finding) -> str:
    """The one figure a finding turns on, in words: '32 distinct endpoints of 1,000'."""
    m = finding.metrics
    if finding.kind == "mode" and is_defined(m.get("unique_output_ratio")) and "inputs" in m:
        n = int(m["inputs"])
        distinct = round(float(m["unique_output_ratio"]) * n)
        return f"{distinct:,} distinct output{'s' if distinct != 1 else ''} for {n:,} inputs"
    if finding.kind == "dimensional" and is_defined(m.get("rankme_ratio")):
        return f"endpoints keep {float(m['rankme_ratio']):.0%} of the inputs' effective rank"
    key, of = HEADLINE_METRIC.get(finding.kind, (None, None))
    if key is None or key not in m:
        return finding.summary
    words = {"prototype": "distinct endpoints", "codebook": "codes used", "posterior": "latent units active"}
    text = f"{format_value(m[key])} {words.get(finding.kind, label(key))}"
    return text + (f" of {format_value(m[of])}" if of and of in m else "")


def verdict_line(report: Report) -> str:
    """One checkpoint's verdict: 'prototype collapse - 32 distinct endpoints of 1,000' or 'ok - ...'."""
    family = [f for f in report.findings if f.kind != "training"]
    bad = [f for f in family if f.severity in _NOT_OK]
    training = [f for f in report.findings if f.kind == "training" and f.severity in _NOT_OK]
    if bad:
        text = ", ".join(f"{f.kind} {f.severity}" for f in bad) + " - " + evidence(bad[0])
    elif family and all(f.severity == "undefined" for f in family):
        text = "could not be judged - " + family[0].summary
    elif family:
        text = "ok - " + evidence(family[0])
    elif training:
        text = ", ".join(f"training {f.severity}" for f in training[:1]) + " - " + training[0].summary
        training = []
    else:
        text = "no finding" + (f" - {report.errors[0]}" if report.errors else "")
    if training:
        text += "; training " + max((f.severity for f in training), key=SEVERITY_ORDER.get)
    return text


def _lower_first(text: str) -> str:
    """'Distinct endpoints' -> 'distinct endpoints', but 'RankMe kept' stays."""
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def headline(a: Report, b: Report) -> str:
    """What B changes about A, led by the family verdict: "B fixes A's prototype collapse: distinct
    endpoints 32 -> 988"; kinds judged alike in both are summed up at the end."""
    kinds = [k for k in dict.fromkeys(f.kind for f in (*a.findings, *b.findings)) if k != "training"]
    kinds.append("training")
    clauses, same = [], []
    for kind in kinds:
        fa, fb = _worst(a.findings, kind), _worst(b.findings, kind)
        if fa is None or fb is None:
            continue
        key = HEADLINE_METRIC.get(kind, (None, None))[0]
        change = ""
        if key and key in fa.metrics and key in fb.metrics:
            change = (
                f": {label(key).lower()} {format_value(fa.metrics[key])} -> {format_value(fb.metrics[key])}"
            )
        sa, sb = fa.severity, fb.severity
        if sa in _NOT_OK and sb == "ok":
            clauses.append(f"B fixes A's {kind} {sa}{change}")
        elif sa == "ok" and sb in _NOT_OK:
            clauses.append(f"B shows {kind} {sb} where A is ok{change}")
        elif sa in _NOT_OK and sb in _NOT_OK:
            if SEVERITY_ORDER[sb] < SEVERITY_ORDER[sa]:
                clauses.append(f"B eases A's {kind} {sa} to a {sb}{change}")
            elif SEVERITY_ORDER[sb] > SEVERITY_ORDER[sa]:
                clauses.append(f"B worsens A's {kind} {sa} to a {sb}{change}")
            else:
                clauses.append(f"both show {kind} {sa}{change}")
        elif "undefined" in (sa, sb):
            which = "A" if sa == "undefined" else "B"
            clauses.append(f"{kind} could not be judged for {which}")
        elif kind != "training":
            same.append(kind)
    if same:
        clauses.append(f"both ok on {', '.join(same)}")
    if not clauses:
        return "A and B share no finding to compare"
    text = "; ".join(clauses)
    return text[0].upper() + text[1:]


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
        "checkpoints on the same probe data. Metric definitions: DESIGN.md of Collapse Explorer.</p></section>"
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
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise CollapseExplorerError(f"cannot write into {target.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a report is an ordinary file
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CollapseExplorerError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


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
