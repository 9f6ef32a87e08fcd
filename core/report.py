"""Before/after comparison and exports: JSON of all metrics and a self-contained HTML report."""

from __future__ import annotations

import html
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from .adapters.base import AdapterSpec
from .diagnosis import Report
from .errors import CollapseExplorerError
from .metrics import MetricValue, format_value, improvement, is_defined, label, to_jsonable
from .runs import report_metrics

# Families whose models read an input space of `latent_dim`: A and B must share it to be compared.
SHARED_INPUT_FAMILIES = ("flow", "text")


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
    """One metric of A and B, the change, and whether B is better (+1), worse (-1) or neither (0)."""

    key: str
    label: str
    a: MetricValue | None
    b: MetricValue | None
    delta: float | None
    verdict: int


def compare_metrics(a: Report, b: Report) -> list[MetricDelta]:
    """Every metric of either report with B - A and the direction-aware verdict from METRICS."""
    ma, mb = report_metrics(a), report_metrics(b)
    rows = []
    for key in list(dict.fromkeys([*ma, *mb])):
        va, vb = ma.get(key), mb.get(key)
        delta = float(vb) - float(va) if is_defined(va) and is_defined(vb) else None  # type: ignore[arg-type]
        rows.append(MetricDelta(key, label(key), va, vb, delta, improvement(key, va, vb)))
    return rows


def report_json(reports: list[Report], deltas: list[MetricDelta] | None = None) -> dict:
    """JSON of the reports (DESIGN schema each) plus the comparison when there are two."""
    out: dict = {"reports": [r.to_json() for r in reports]}
    if deltas is not None:
        out["comparison"] = [
            {
                "metric": d.key,
                "a": to_jsonable(d.a),
                "b": to_jsonable(d.b),
                "delta": d.delta,
                "b_is": {1: "better", -1: "worse", 0: "neither"}[d.verdict],
            }
            for d in deltas
        ]
    return out


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
.card{border:1px solid #ddd;border-radius:8px;padding:0.8rem 1rem;margin:0.8rem 0}
.collapse{border-left:6px solid #c62828}.warning{border-left:6px solid #f9a825}
.ok{border-left:6px solid #2e7d32}.undefined{border-left:6px solid #9e9e9e}
table{border-collapse:collapse;margin:0.5rem 0}td,th{border-bottom:1px solid #eee;padding:2px 10px;text-align:left}
.better{color:#2e7d32}.worse{color:#c62828}
"""


def _finding_html(report: Report) -> str:
    parts = [f"<h2>{html.escape(report.checkpoint)}</h2><p>adapter: {html.escape(str(report.adapter))}</p>"]
    for f in report.findings:
        rows = "".join(
            f"<tr><td>{html.escape(label(k))}</td><td>{html.escape(format_value(v))}</td></tr>"
            for k, v in f.metrics.items()
        )
        fix = f"<p><b>Known fix:</b> {html.escape(f.fix)}</p>" if f.fix and f.severity != "ok" else ""
        parts.append(
            f'<div class="card {f.severity}"><b>{f.kind}: {f.severity}</b><p>{html.escape(f.summary)}</p>'
            f"<table>{rows}</table>{fix}</div>"
        )
    parts += [f'<p class="worse">error: {html.escape(e)}</p>' for e in report.errors]
    return "".join(parts)


def _delta_html(deltas: list[MetricDelta]) -> str:
    rows = "".join(
        f'<tr class="{ {1: "better", -1: "worse", 0: ""}[d.verdict] }"><td>{html.escape(d.label)}</td>'
        f"<td>{html.escape(format_value(d.a))}</td><td>{html.escape(format_value(d.b))}</td>"
        f"<td>{'' if d.delta is None else f'{d.delta:+.4g}'}</td></tr>"
        for d in deltas
    )
    return f"<h2>A vs B</h2><table><tr><th>metric</th><th>A</th><th>B</th><th>B − A</th></tr>{rows}</table>"


def report_html(
    reports: list[Report], deltas: list[MetricDelta] | None = None, figures: list[go.Figure] | None = None
) -> str:
    """A self-contained HTML page: plotly.js inline (works offline), findings, comparison, figures."""
    body = "".join(_finding_html(r) for r in reports)
    if deltas is not None:
        body += _delta_html(deltas)
    for fig in figures or []:
        body += fig.to_html(full_html=False, include_plotlyjs=False)
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Collapse Explorer report</title>'
        f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head>"
        f"<body><h1>Collapse Explorer report</h1>{body}</body></html>"
    )


def write_atomic(target: str | Path, text: str, *, forbidden: list[Path] = ()) -> Path:
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


def export_text(reports: list[Report], deltas: list[MetricDelta] | None, fmt: str, figures=None) -> str:
    """The export as text: 'json' or 'html'."""
    if fmt == "json":
        return json.dumps(report_json(reports, deltas), indent=2)
    if fmt == "html":
        return report_html(reports, deltas, figures)
    raise CollapseExplorerError(f"unknown report format {fmt!r}: use .html or .json")
