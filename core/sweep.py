"""Sweeps: every checkpoint of every run folder under a root diagnosed, as one table and a leaderboard.

A run folder is a folder that holds checkpoint files (the folder Timeline opens). Each checkpoint is
diagnosed once per content: results are cached by a hash of the file's bytes, its probe's bytes, the trust
setting and the diagnosis code, in `~/.cache/collapse-explorer/sweep` (never beside the user's files). A
stat index (size, mtime, inode and ctime: a file rewritten in place with its mtime set back still gets a new
ctime, which no user can set) keeps a re-run from reading unchanged files again: only new or changed files are
hashed and diagnosed.

Work is spread with joblib: processes on this machine (`loky`), or a Dask or Ray cluster through joblib's
backends (`dask`, `ray`) with no other change; `scheduler` is the address of an existing cluster (a Dask
scheduler `tcp://host:8786`, a Ray head `ray://host:10001` or `auto`). Workers read the checkpoints by path,
so a cluster needs the files on a filesystem every worker sees.

Table, one row per checkpoint: run, checkpoint, path, epoch, family, adapter, severity (worst over the
findings), finding (kind of the worst finding), summary, error, severity_<kind> per finding kind, one column
per numeric metric (NaN where undefined), first_collapsed_epoch (per run) and content_hash.

Why one module: an application whose cache, stat index, workers and table are one pipeline; its parts
mean nothing apart.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .config import CACHE_DIR
from .io.encode import csv_cell, html_text
from .io.errors import CollapseExplorerError
from .io.files import write_atomic
from .io.paths import WEIGHT_SUFFIXES, checkpoint_files, epoch_from_name

if TYPE_CHECKING:
    import pandas as pd

Backend = Literal["loky", "dask", "ray"]
BACKENDS: tuple[str, ...] = ("loky", "dask", "ray")
SWEEP_CACHE = CACHE_DIR / "sweep"
TABLE_NAME, LEADERBOARD_NAME, ROOT_NAME = "table.parquet", "leaderboard.html", "root.json"
# Bumped when a cached result's layout changes; code changes are caught by the source fingerprint.
CACHE_VERSION = 2
MAX_DEPTH = 16
MAX_CHECKPOINTS = 200_000
MAX_TABLE_BYTES = 512 * 1024 * 1024
SEVERITIES: tuple[str, ...] = ("collapse", "warning", "undefined", "ok")
BASE_COLUMNS: tuple[str, ...] = (
    "run",
    "checkpoint",
    "path",
    "epoch",
    "family",
    "adapter",
    "severity",
    "finding",
    "summary",
    "evidence",
    "error",
)
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class SweepResult:
    """What a sweep wrote and how much of it was new work."""

    table: pd.DataFrame
    table_path: Path
    leaderboard_path: Path
    runs: int
    diagnosed: int  # checkpoints diagnosed in this sweep (new or changed)
    cached: int  # results reused from the cache
    hashed: int  # files read to compute their content hash (new or changed files only)


def find_runs(root: str | Path) -> list[Path]:
    """Folders under `root` (itself included) that hold checkpoint files, sorted; hidden folders and links
    leading outside `root` are skipped, depth and count are bounded."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise CollapseExplorerError(f"{root} is not a folder; a sweep needs a folder of run folders")
    runs: list[Path] = []
    seen: set[Path] = set()
    total = 0
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        files = [p for p in entries if p.suffix in WEIGHT_SUFFIXES and _regular_inside(p, root)]
        if files:
            runs.append(folder)
            total += len(files)
            if total > MAX_CHECKPOINTS:
                raise CollapseExplorerError(
                    f"more than {MAX_CHECKPOINTS:,} checkpoints under {root}; sweep a subfolder"
                )
        if depth >= MAX_DEPTH:
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            real = entry.resolve()
            if real in seen or not real.is_relative_to(root):
                continue
            seen.add(real)
            stack.append((entry, depth + 1))
    return sorted(runs)


def _regular_inside(path: Path, root: Path) -> bool:
    return path.is_file() and path.resolve().is_relative_to(root)


class _Index:
    """path -> (size, mtime_ns, inode, ctime_ns, sha256) of files already hashed, so unchanged files are not
    read again. A file rewritten in place keeping its size, mtime and inode still gets a new ctime."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list] = {}
        self.hashed = 0
        try:
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict) and loaded.get("version") == CACHE_VERSION:
                self.entries = {k: v for k, v in loaded.get("files", {}).items() if isinstance(v, list)}
        except (OSError, ValueError):
            pass

    def digest(self, file: Path) -> str:
        stat = file.stat()
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns]
        known = self.entries.get(str(file))
        if known is not None and known[:4] == stamp:
            return known[4]
        sha = hashlib.sha256()
        with file.open("rb") as fh:
            while block := fh.read(_HASH_BLOCK):
                sha.update(block)
        self.hashed += 1
        self.entries[str(file)] = [*stamp, sha.hexdigest()]
        return sha.hexdigest()

    def save(self) -> None:
        _write_cache(self.path, json.dumps({"version": CACHE_VERSION, "files": self.entries}).encode())


def code_fingerprint() -> str:
    """Hash of the diagnosis code (every .py file of this package): a new version invalidates the cache."""
    sha = hashlib.sha256(str(CACHE_VERSION).encode())
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def diagnose_one(path: str, probe: str | None, trust: bool, device: str) -> dict:
    """One checkpoint's row (plain data, so it travels to and from workers): see `result_row`."""
    from .timeline import report_for

    try:
        family, _, epoch, report = report_for(path, probe, trust=trust, device=device)
    except CollapseExplorerError as exc:
        name = Path(path).name
        return {"path": path, "epoch": epoch_from_name(name), "error": " ".join(str(exc).split())}
    return result_row(path, family, epoch, report)


def result_row(path: str, family: str | None, epoch: int | None, report) -> dict:
    """Row of a diagnosed checkpoint: severities per finding kind, numeric metrics, the worst finding."""
    from .diagnosis.base import SEVERITY_ORDER
    from .metrics.base import Undefined
    from .timeline import report_metrics

    metrics: dict[str, float | None] = {}
    for key, value in report_metrics(report).items():
        if isinstance(value, Undefined):
            metrics[key] = None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            metrics[key] = float(value) if math.isfinite(float(value)) else None
    severities: dict[str, str] = {}
    for finding in report.findings:
        known = severities.get(finding.kind, "ok")
        if SEVERITY_ORDER[finding.severity] >= SEVERITY_ORDER[known]:
            severities[finding.kind] = finding.severity
    worst = max(report.findings, key=lambda f: SEVERITY_ORDER[f.severity], default=None)
    return {
        "evidence": evidence(worst.metrics) if worst is not None else "",
        "path": path,
        "epoch": epoch,
        "family": family,
        "adapter": report.adapter,
        "severity": worst.severity if worst is not None else "undefined",
        "finding": worst.kind if worst is not None else None,
        "summary": worst.summary if worst is not None else "; ".join(report.errors),
        "error": "; ".join(report.errors) or None,
        "severities": severities,
        "metrics": metrics,
    }


def evidence(metrics: dict[str, object]) -> str:
    """'label = value' of the metric that shows a finding: the first of its evidence that has a better
    direction in METRICS and a defined value (distinct endpoints for prototype collapse, say)."""
    from .metrics.base import all_metrics, format_value, is_defined

    table = all_metrics()
    for key, value in metrics.items():
        info = table.get(key)
        if info is not None and info.better != "neither" and is_defined(value):
            return f"{info.label} = {format_value(value)}"
    return ""


def _run_tasks(tasks: list[tuple], jobs: int, backend: str, scheduler: str | None) -> Iterable[list[dict]]:
    """Rows of diagnose_one(*task) for every task, yielded batch by batch (so progress is saved often)."""
    from joblib import Parallel, delayed, parallel_config

    batch = max(64, 16 * max(jobs, 1))
    with _backend(backend, jobs, scheduler) as n_jobs, parallel_config(backend=backend, n_jobs=n_jobs):
        parallel = Parallel()
        for start in range(0, len(tasks), batch):
            yield parallel(delayed(diagnose_one)(*task) for task in tasks[start : start + batch])


class _backend:
    """Context that makes joblib's `backend` usable (starting a local cluster only when none is given)."""

    def __init__(self, backend: str, jobs: int, scheduler: str | None) -> None:
        if backend not in BACKENDS:
            raise CollapseExplorerError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        if scheduler and backend == "loky":
            raise CollapseExplorerError("--scheduler needs --backend dask or ray (loky runs on this machine)")
        self.backend, self.jobs, self.scheduler = backend, max(int(jobs), 1), scheduler
        self._close: list[Callable[[], None]] = []

    def __enter__(self) -> int:
        if self.backend == "loky":
            return self.jobs
        if self.backend == "dask":
            from distributed import Client, LocalCluster

            if self.scheduler:
                client = Client(self.scheduler)
            else:
                cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, dashboard_address=None)
                self._close.append(cluster.close)
                client = Client(cluster)
            self._close.insert(0, client.close)
            return -1  # every worker of the cluster
        import ray
        from ray.util.joblib import register_ray

        register_ray()
        if not ray.is_initialized():
            if self.scheduler:
                ray.init(address=self.scheduler, log_to_driver=False)
            else:
                ray.init(num_cpus=self.jobs, include_dashboard=False, log_to_driver=False)
            self._close.append(ray.shutdown)
        return -1

    def __exit__(self, *exc: object) -> None:
        for close in self._close:
            close()


def sweep(
    root: str | Path,
    *,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    out: str | Path | None = None,
    probe: str | Path | None = None,
    trust: bool = False,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Diagnose every checkpoint of every run under `root`; write the table (parquet) and the leaderboard.

    `out` is the table's path (the leaderboard goes beside it as .html); by default both go to a folder of
    `cache_dir` named after the root. `probe` overrides probe.npz beside each checkpoint or in its run.
    """
    from .io.probe import find_probe
    from .models.device import resolve_device

    device = resolve_device(device)
    root = Path(root).expanduser().resolve()
    runs = find_runs(root)
    if not runs:
        raise CollapseExplorerError(f"no checkpoint files ({', '.join(WEIGHT_SUFFIXES)}) under {root}")
    cache_dir = Path(SWEEP_CACHE if cache_dir is None else cache_dir).expanduser()
    table_path, board_path = _outputs(root, out, cache_dir, runs)
    index = _Index(cache_dir / "index.json")
    code = code_fingerprint()
    probe_override = Path(probe).resolve() if probe else None
    keys: dict[str, str] = {}
    rows: dict[str, dict] = {}
    todo: list[tuple] = []
    for run in runs:
        for file in checkpoint_files(run, within=root):
            probe_path = probe_override or find_probe(file)
            # The name is part of the key: a checkpoint's epoch may come from its file name.
            parts = [
                code,
                file.name,
                index.digest(file),
                index.digest(probe_path) if probe_path else "-",
                str(trust),
            ]
            key = hashlib.sha256("|".join(parts).encode()).hexdigest()
            keys[str(file)] = key
            cached = _read_result(cache_dir, key)
            if cached is not None:
                rows[str(file)] = {**cached, "path": str(file)}  # the same file may have moved since
            else:
                todo.append((str(file), str(probe_path) if probe_path else None, trust, device))
    index.save()
    cached_count = len(rows)
    done = 0
    for batch in _run_tasks(todo, jobs, backend, scheduler):
        for row in batch:
            _write_result(cache_dir, keys[row["path"]], row)
            rows[row["path"]] = row
        done += len(batch)
        if progress is not None:
            progress(done, len(todo))
    table = build_table(root, [{**rows[p], "content_hash": keys[p]} for p in keys])
    _write_parquet(table, table_path)
    if out is None:  # the cache's tables say which root they swept, so the app can list only its own
        _write_cache(table_path.parent / ROOT_NAME, json.dumps({"root": str(root)}).encode())
    write_atomic(board_path, leaderboard_html(leaderboard(table), root).encode(), named=out is None)
    return SweepResult(table, table_path, board_path, len(runs), len(todo), cached_count, index.hashed)


def _outputs(root: Path, out: str | Path | None, cache_dir: Path, runs: Sequence[Path]) -> tuple[Path, Path]:
    if out is None:
        slug = "".join(c if c.isalnum() else "-" for c in root.name)[:40] or "root"
        folder = cache_dir / "tables" / f"{slug}-{hashlib.sha256(str(root).encode()).hexdigest()[:8]}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / TABLE_NAME, folder / LEADERBOARD_NAME
    given = Path(out).expanduser()
    table = given.parent.resolve() / given.name  # the folder resolved, the file name never followed
    if table.suffix != ".parquet":
        raise CollapseExplorerError(f"--out must name a .parquet file, got {table.name}")
    if not table.parent.is_dir():
        raise CollapseExplorerError(f"output folder {table.parent} does not exist")
    if table.parent in {run.resolve() for run in runs}:
        raise CollapseExplorerError(
            f"refusing to write {table.name} into the run folder {table.parent}; choose another folder"
        )
    board = table.with_suffix(".html")
    if board.is_symlink():  # refused before any work; the write refuses it again should one appear later
        raise CollapseExplorerError(
            f"refusing to write {board.name}: it is a symbolic link (someone may have planted it); remove "
            "it or choose another output name"
        )
    return table, board


def _result_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "results" / key[:2] / f"{key}.json"


def _read_result(cache_dir: Path, key: str) -> dict | None:
    try:
        row = json.loads(_result_path(cache_dir, key).read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) and "path" in row else None


def _write_result(cache_dir: Path, key: str, row: dict) -> None:
    _write_cache(_result_path(cache_dir, key), json.dumps(row).encode())


def _write_cache(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data)


def _write_parquet(table: pd.DataFrame, target: Path) -> None:
    write_atomic(target, lambda tmp: table.to_parquet(tmp, engine="pyarrow", index=False))


def build_table(root: Path, rows: list[dict]) -> pd.DataFrame:
    """The sweep table from result rows (see the module docstring for its columns)."""
    import pandas as pd

    from .metrics.base import all_metrics

    records = []
    for row in rows:
        path = Path(row["path"])
        record = {
            "run": path.parent.relative_to(root).as_posix() if path.parent != root else ".",
            "checkpoint": path.name,
            "path": str(path),
            "epoch": row.get("epoch"),
            "family": row.get("family"),
            "adapter": row.get("adapter"),
            "severity": row.get("severity", "undefined"),
            "finding": row.get("finding"),
            "summary": row.get("summary") or row.get("error") or "",
            "evidence": row.get("evidence") or "",
            "error": row.get("error"),
            "content_hash": row.get("content_hash"),
        }
        record.update({f"severity_{k}": v for k, v in row.get("severities", {}).items()})
        record.update({f"metric:{k}": v for k, v in row.get("metrics", {}).items()})
        records.append(record)
    table = pd.DataFrame.from_records(records)
    known = list(all_metrics())
    metric_cols = sorted(
        (c for c in table.columns if c.startswith("metric:")),
        key=lambda c: (known.index(c[7:]) if c[7:] in known else len(known), c),
    )
    severity_cols = sorted(c for c in table.columns if c.startswith("severity_"))
    # A metric named like a fixed column (none is today) keeps a prefix rather than overwrite it.
    taken = {*BASE_COLUMNS, *severity_cols, "first_collapsed_epoch", "content_hash"}
    metric_names = [c[7:] if c[7:] not in taken else c.replace(":", "_") for c in metric_cols]
    table = table.rename(columns=dict(zip(metric_cols, metric_names, strict=True)))
    table["epoch"] = table["epoch"].astype("Int64")
    for name in metric_names:
        table[name] = table[name].astype("float64")
    collapsed = table[table["severity"] == "collapse"].groupby("run")["epoch"].min()
    table["first_collapsed_epoch"] = table["run"].map(collapsed).astype("Int64")
    columns = [*BASE_COLUMNS, *severity_cols, *metric_names, "first_collapsed_epoch", "content_hash"]
    table = table[columns].sort_values(["run", "epoch", "checkpoint"], na_position="last")
    return table.reset_index(drop=True)


def read_table(path: str | Path) -> pd.DataFrame:
    """A sweep table written by `sweep` (parquet, size bounded, required columns checked)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file() or path.suffix != ".parquet":
        raise CollapseExplorerError(f"{path} is not a sweep table (.parquet)")
    if path.stat().st_size > MAX_TABLE_BYTES:
        raise CollapseExplorerError(f"{path.name} is larger than {MAX_TABLE_BYTES >> 20} MB")
    try:
        table = pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError) as exc:
        raise CollapseExplorerError(f"cannot read {path.name}: {exc}") from None
    missing = [c for c in (*BASE_COLUMNS, "first_collapsed_epoch") if c not in table.columns]
    if missing:
        raise CollapseExplorerError(f"{path.name} is not a sweep table: no column {', '.join(missing)}")
    return table


def sweep_tables(cache_dir: str | Path | None = None) -> list[Path]:
    """Tables of earlier sweeps kept in the cache, newest first."""
    tables = Path(SWEEP_CACHE if cache_dir is None else cache_dir).expanduser() / "tables"
    found = [p for p in tables.glob(f"*/{TABLE_NAME}") if p.is_file()] if tables.is_dir() else []
    return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def swept_root(table_path: str | Path) -> Path | None:
    """The root a cached sweep table was made from (its `root.json`), or None when it does not say."""
    try:
        root = json.loads((Path(table_path).parent / ROOT_NAME).read_text()).get("root")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(root) if isinstance(root, str) and root and "\0" not in root else None


HISTORY_WORDS = {"collapse": "collapsed", "warning": "warning", "ok": "ok", "undefined": "not judged"}


def history(epochs: Sequence[object], severities: Sequence[str]) -> str:
    """A run's severities over its checkpoints (oldest first) in words: 'collapsed at epoch 1, recovered
    by epoch 3'; a checkpoint without an epoch is named by its position."""
    spans: list[list] = []  # [severity, first label, last label]
    for i, (epoch, severity) in enumerate(zip(epochs, severities, strict=True)):
        where = f"checkpoint {i + 1}" if _missing(epoch) else f"epoch {epoch}"
        if spans and spans[-1][0] == severity:
            spans[-1][2] = where
        else:
            spans.append([severity, where, where])
    if not spans:
        return ""
    if len(spans) == 1:
        return f"{HISTORY_WORDS.get(spans[0][0], spans[0][0])} at every checkpoint ({len(severities)})"
    parts = []
    for i, (severity, first, last) in enumerate(spans[:6]):
        word = HISTORY_WORDS.get(severity, severity)
        span = f"at {first}" if first == last else f"from {first} to {last}"
        if i == 0:
            parts.append(f"{word} {span}")
        elif severity == "ok":
            parts.append(f"recovered by {first}")
        else:
            again = "again " if any(s[0] == severity for s in spans[:i]) else ""
            parts.append(f"{word} {again}{span}")
    more = f" (and {len(spans) - 6} more changes)" if len(spans) > 6 else ""
    return ", ".join(parts) + more


def leaderboard(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its status (the severity of its latest checkpoint), its history in words, the
    worst severity it ever had, the first collapsed epoch and checkpoint, the latest evidence, counts."""
    import pandas as pd

    order = {s: i for i, s in enumerate(SEVERITIES)}
    records = []
    for run, group in table.groupby("run", sort=False):
        group = group.sort_values(["epoch", "checkpoint"], na_position="last")
        worst = min(group["severity"], key=lambda s: order.get(s, len(order)))
        collapsed = group[group["severity"] == "collapse"]
        first = collapsed.iloc[0] if len(collapsed) else None
        last = group.iloc[-1]
        families = group["family"].dropna()
        records.append(
            {
                "run": run,
                "family": families.mode().iloc[0] if len(families) else None,
                "status": last["severity"],
                "history": history(group["epoch"].tolist(), group["severity"].tolist()),
                "worst": worst,
                "first_collapsed_epoch": first["epoch"] if first is not None else pd.NA,
                "first_collapsed_checkpoint": first["checkpoint"] if first is not None else None,
                "finding": last["finding"],
                "evidence": last["evidence"],
                "checkpoints": len(group),
                "errors": int(group["error"].notna().sum()),
                "last_epoch": last["epoch"],
                "folder": str(Path(last["path"]).parent),
            }
        )
    board = pd.DataFrame.from_records(records)
    if board.empty:
        return board
    board["first_collapsed_epoch"] = board["first_collapsed_epoch"].astype("Int64")
    board["last_epoch"] = board["last_epoch"].astype("Int64")
    board["_order"] = board["status"].map(order)
    board = board.sort_values(["_order", "first_collapsed_epoch", "run"], na_position="last")
    return board.drop(columns="_order").reset_index(drop=True)


def leaderboard_html(board: pd.DataFrame, root: Path) -> str:
    """A self-contained page (inline CSS and a small sorter script, nothing fetched) of the leaderboard."""
    shown = board.drop(columns=["folder"], errors="ignore")
    head = "".join(f"<th onclick='sortBy({i})'>{html_text(c)}</th>" for i, c in enumerate(shown.columns))
    body = []
    for _, row in shown.iterrows():
        # Cells are run and checkpoint names: HTML-escaped, and never a formula once pasted into a sheet.
        cells = "".join(f"<td>{'' if _missing(v) else html_text(csv_cell(v))}</td>" for v in row.tolist())
        body.append(f"<tr class='{html_text(row['status'])}'>{cells}</tr>")
    collapsed = int((board["status"] == "collapse").sum()) if len(board) else 0
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Collapse Explorer sweep: {html_text(root.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .3rem .6rem; border-bottom: 1px solid #ddd; text-align: left; }}
th {{ cursor: pointer; background: #f4f4f4; }} tr.collapse td:nth-child(3) {{ color: #b00020; font-weight: 600; }}
tr.warning td:nth-child(3) {{ color: #a15c00; }} tr.undefined td:nth-child(3) {{ color: #666; }}
</style></head><body>
<h1>Sweep of {html_text(root)}</h1>
<p>{len(board)} runs, {collapsed} collapsed. Click a column to sort.</p>
<table id="board"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
<script>
function sortBy(col) {{
  const body = document.querySelector('#board tbody');
  const rows = Array.from(body.rows);
  const up = body.dataset.col == col && body.dataset.dir != 'up';
  rows.sort((a, b) => {{
    const x = a.cells[col].textContent, y = b.cells[col].textContent;
    const nx = parseFloat(x), ny = parseFloat(y);
    const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return up ? -c : c;
  }});
  body.dataset.col = col; body.dataset.dir = up ? 'up' : 'down';
  rows.forEach(r => body.appendChild(r));
}}
</script></body></html>
"""


def _missing(value: object) -> bool:
    try:
        return value is None or bool(value != value)  # NaN and pandas NA compare unequal to themselves
    except TypeError:
        return True
