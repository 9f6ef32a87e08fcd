"""Training logs read into one long-format table: TensorBoard events, Lightning metrics.csv, CSV, JSON.

`scan_run_folder(folder)` finds every log under a run folder (bounded depth) and returns a `RunLog`
whose `table` has one row per logged value: `series`, `step`, `value`, `epoch` (NaN when the log has no
epoch), `source`. NaN and Inf values are kept on purpose: they are the evidence of a blow-up. Blank cells
(a Lightning metrics.csv row fills only some columns) are not values and are dropped.

TensorBoard files are read record by record with tensorboard's protobuf definitions (TensorFlow is not
needed), keeping every scalar, never a reservoir sample. Every record length and every tensor shape is
checked before it is read or built, so a few hundred hostile bytes cannot declare gigabytes.

Logs are untrusted like checkpoints: only regular files are read (a FIFO named `training_log.json` is
skipped, never opened), a folder walk never leaves the folder it was given (symlinks leading out, or
to /proc, are not followed), text logs are read only up to `MAX_TEXT_BYTES`, and only files that are
logs are read as logs: tokenizer, config and index files of a run folder are not.

Why one module: every log format ends in the same long-format table through the same bounded readers
(record lengths, text sizes, folder walks); split by format, each reader would repeat the bounds.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import CollapseExplorerError
from .limits import (
    MAX_LOG_POINTS,
    MAX_RECORD_BYTES,
    MAX_TEXT_BYTES,
    open_regular,
    read_text_limited,
    regular_file,
)
from .paths import found_file, natural_key, within_roots

EVENT_GLOB = "events.out.tfevents.*"
LOOKED_FOR = (
    f"TensorBoard event files ({EVENT_GLOB})",
    "Lightning metrics.csv",
    "*.csv",
    "training_log.json",
    "*.json (a list of rows, a dict of lists, or one such list under a key)",
)
STEP_COLUMNS = ("step", "global_step", "iteration", "iter", "it", "batch", "trainer/global_step")
EPOCH_COLUMNS = ("epoch", "epochs", "ep")
SKIP_DIRS = {".git", ".venv", "__pycache__", "node_modules", ".hydra", "wandb"}
MAX_FILES = 200
COLUMNS = ("series", "step", "value", "epoch", "source")
# Files a run folder holds beside its logs that are JSON or CSV but never logs.
NOT_LOGS = frozenset(
    {
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "generation_config.json",
        "preprocessor_config.json",
        "adapter_config.json",
        "model_index.json",
        "scheduler_config.json",
    }
)
LOG_NAME_WORDS = re.compile(r"log|metric|history|train|progress|trainer_state|scalars|results", re.IGNORECASE)


class LogError(CollapseExplorerError):
    """A training log that cannot be read, or a folder without any."""


@dataclass(frozen=True)
class LogSource:
    """One file that contributed to a RunLog, with what was noticed while reading it."""

    path: str
    kind: str  # "tensorboard" | "lightning-csv" | "csv" | "json"
    points: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunLog:
    """All scalars logged for one run. `table` columns: series, step, value, epoch, source."""

    folder: str
    table: pd.DataFrame
    sources: tuple[LogSource, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def series_names(self) -> list[str]:
        return sorted(self.table["series"].unique().tolist())

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps float64[N], values float64[N]) of one series, sorted by step."""
        rows = self.table[self.table["series"] == name]
        if rows.empty:
            raise LogError(f"no series {name!r} in {self.folder} (have: {', '.join(self.series_names)})")
        rows = rows.sort_values("step", kind="stable")
        return rows["step"].to_numpy(np.float64), rows["value"].to_numpy(np.float64)

    def epoch_end_steps(self) -> dict[int, float]:
        """Epoch -> last step logged in it; empty when no log records epochs."""
        known = self.table.dropna(subset=["epoch"])
        if known.empty:
            return {}
        last = known.groupby(np.floor(known["epoch"]).astype(int))["step"].max()
        return {int(e): float(s) for e, s in last.items()}

    def step_of_epoch(self, epoch: int) -> float | None:
        """Step where `epoch` ended (for checkpoint markers), or None when unknown."""
        return self.epoch_end_steps().get(int(epoch))

    def until(self, step: float) -> RunLog:
        """The same run cut after `step` (what was logged when a checkpoint at that step was saved)."""
        return replace(self, table=self.table[self.table["step"] <= step].reset_index(drop=True))

    @property
    def truncated(self) -> bool:
        return any("truncated" in n for s in self.sources for n in s.notes)


def _frame(rows: Iterable[tuple[str, float, float, float]], source: str) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=["series", "step", "value", "epoch"])
    df["series"] = df["series"].astype(str)
    for col in ("step", "value", "epoch"):
        df[col] = df[col].astype(np.float64)
    df["source"] = source
    return df


def _to_float(cell: object) -> float | None:
    """A logged cell as float; None for blanks and non-numbers. 'nan'/'inf' text stays a float."""
    if cell is None or isinstance(cell, bool):
        return None if cell is None else float(cell)
    if isinstance(cell, int | float):
        try:
            return float(cell)
        except OverflowError:  # an integer past float range (a hash or id logged as a number)
            return None
    text = str(cell).strip()
    if not text:
        return None
    match = re.fullmatch(r"tensor\((.*)\)", text)  # str(torch.tensor(x)) ends up in hand-written logs
    if match:
        text = match.group(1).split(",")[0]
    try:
        return float(text)
    except ValueError:
        return None


def _pick(columns: Iterable[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _columns_to_frame(
    columns: Mapping[str, list[object]], source: str
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Column table (cells may be blank/None) -> long frame, plus notes on what was ignored."""
    notes: list[str] = []
    step_col = _pick(columns, STEP_COLUMNS)
    epoch_col = _pick(columns, EPOCH_COLUMNS)
    n = max((len(v) for v in columns.values()), default=0)

    def numeric(col: str) -> list[float | None]:
        cells = list(columns[col]) + [None] * (n - len(columns[col]))
        return [_to_float(c) for c in cells]

    steps = numeric(step_col) if step_col else None
    epochs = numeric(epoch_col) if epoch_col else None
    if steps is None:
        if epochs is not None and all(e is not None for e in epochs):
            steps = epochs
            notes.append(f"no step column; used {epoch_col!r} as the step")
        else:
            steps = [float(i) for i in range(n)]
            notes.append("no step column; used the row number as the step")
    if step_col and epochs is not None:
        epochs = _fill_epochs(steps, epochs)
    ignored: list[str] = []
    rows: list[tuple[str, float, float, float]] = []
    for col, cells in columns.items():
        if col in (step_col, epoch_col):
            continue
        values = numeric(col)
        present = [c for c in cells if c is not None and str(c).strip() != ""]
        if not present or sum(v is not None for v in values) < len(present):
            ignored.append(col)
            continue
        for i, v in enumerate(values):
            if v is None or steps[i] is None:
                continue
            rows.append((col, steps[i], v, math.nan if epochs is None or epochs[i] is None else epochs[i]))
    if ignored:
        notes.append(f"ignored non-numeric columns: {', '.join(map(str, ignored))}")
    return _frame(rows, source), tuple(notes)


def _fill_epochs(steps: list[float | None], epochs: list[float | None]) -> list[float | None]:
    """Lightning leaves the epoch blank on some rows; a row gets the epoch logged at or before its step."""
    known = sorted((s, e) for s, e in zip(steps, epochs, strict=True) if s is not None and e is not None)
    if not known:
        return epochs
    at = np.array([s for s, _ in known])
    ep = [e for _, e in known]
    filled: list[float | None] = []
    for s, e in zip(steps, epochs, strict=True):
        if e is not None or s is None:
            filled.append(e)
            continue
        i = int(np.searchsorted(at, s, side="right")) - 1
        filled.append(ep[i] if i >= 0 else ep[0])
    return filled


def _check_is_log(columns: Iterable[str], path: Path) -> None:
    """LogError unless the table looks like a training log: a step or epoch column, a loss, or a file
    named like a log. A tokenizer's `added_tokens` or a table of predictions is not one."""
    names = list(columns)
    if _pick(names, STEP_COLUMNS) or _pick(names, EPOCH_COLUMNS) or any("loss" in n.lower() for n in names):
        return
    if LOG_NAME_WORDS.search(path.stem):
        return
    raise LogError(
        f"{path.name} is not a training log: no step or epoch column, no loss, and not named like a log "
        f"(columns: {', '.join(map(str, names[:6]))}{'...' if len(names) > 6 else ''})"
    )


def _read_text(path: Path, encoding: str = "utf-8") -> str:
    return read_text_limited(path, MAX_TEXT_BYTES, LogError, encoding)


def read_csv_log(path: Path) -> tuple[pd.DataFrame, LogSource]:
    """Plain CSV or Lightning metrics.csv (sparse rows). Numeric columns become series."""
    text = _read_text(path, "utf-8-sig")
    notes: tuple[str, ...] = ()
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        body = []
        cells = 0
        for row in reader:
            if not row:
                continue
            cells += len(row)
            if cells > MAX_LOG_POINTS:
                notes = (f"stopped after {len(body):,} rows: over {MAX_LOG_POINTS:,} cells",)
                break
            body.append(row)
    except csv.Error as exc:
        raise LogError(f"cannot read CSV log {path.name}: {exc}") from None
    if not header:
        raise LogError(f"CSV log {path.name} is empty (no header row)")
    header = [h.strip() for h in header]
    _check_is_log(header, path)
    columns: dict[str, list[object]] = {h: [] for h in header}
    short = 0
    for row in body:
        if len(row) < len(header):
            short += 1
        for h, cell in zip(header, row + [""] * (len(header) - len(row)), strict=False):
            columns[h].append(cell)
    sparse = any(not str(c).strip() for cells in columns.values() for c in cells)
    kind = "lightning-csv" if path.name == "metrics.csv" or sparse else "csv"
    frame, more = _columns_to_frame(columns, str(path))
    notes = (*notes, *more)
    if short:
        notes = (*notes, f"{short} short row(s), missing cells treated as blank (file may be half-written)")
    return frame, LogSource(str(path), kind, len(frame), notes)


def _flatten(row: Mapping, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}/"))
        elif not isinstance(value, list | tuple):
            out[name] = value
    return out


def _json_table(data: object) -> dict[str, list[object]] | None:
    """Rows list, dict of lists, or one of those under a key (e.g. HF trainer_state's log_history)."""
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        rows = [_flatten(r) for r in data]
        names = list(dict.fromkeys(k for r in rows for k in r))
        return {k: [r.get(k) for r in rows] for k in names}
    if isinstance(data, Mapping):
        lists = {k: list(v) for k, v in data.items() if isinstance(v, list) and v}
        if lists and all(not isinstance(x, Mapping | list) for v in lists.values() for x in v):
            return lists
        for value in data.values():
            if isinstance(value, list | Mapping):
                table = _json_table(value)
                if table is not None:
                    return table
    return None


def read_json_log(path: Path) -> tuple[pd.DataFrame, LogSource]:
    """training_log.json and friends: a list of {epoch, step, <loss>...} rows or a dict of lists."""
    text = _read_text(path)
    try:
        try:
            data = json.loads(text)
            notes: tuple[str, ...] = ()
        except json.JSONDecodeError as exc:
            data, notes = _json_lines(text, path, exc)
        table = _json_table(data)
        if table is None:
            raise LogError(
                f"{path.name} is JSON but not a training log (expected a list of rows or a dict of lists)"
            )
        if sum(len(v) for v in table.values()) > MAX_LOG_POINTS:
            raise LogError(f"{path.name} holds more than {MAX_LOG_POINTS:,} logged values: refused")
        _check_is_log(table, path)
        frame, more = _columns_to_frame(table, str(path))
    except RecursionError:
        raise LogError(f"{path.name} nests too deeply to be a training log: refused") from None
    return frame, LogSource(str(path), "json", len(frame), notes + more)


def _json_lines(text: str, path: Path, error: json.JSONDecodeError) -> tuple[list, tuple[str, ...]]:
    """JSON-lines logs, or a rows list cut off mid-write: keep every complete row."""
    rows = []
    for line in text.splitlines():
        line = line.strip().rstrip(",").lstrip("[")
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, Mapping):
            rows.append(row)
    if not rows:
        raise LogError(f"{path} is not valid JSON: {error}")
    return rows, (f"not valid JSON ({error.msg}); read {len(rows)} complete row(s), file may be truncated",)


@dataclass
class _Framing:
    """What reading one event file's TFRecord framing met: complete records, bytes they span, records
    skipped for their size, and whether a checksum failed."""

    records: int = 0
    good: int = 0
    skipped: int = 0
    corrupt: bool = False


def _records(handle: io.BufferedIOBase, size: int, framing: _Framing) -> Iterator[bytes]:
    """The data of each complete record: u64 length, u32 masked crc of it, data, u32 masked crc.
    A length is checked against the bytes left and MAX_RECORD_BYTES before anything is read, so a
    header claiming 2^60 bytes costs nothing; a record cut off mid-write ends the file."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    offset = 0
    while True:
        header = handle.read(12)
        if len(header) < 12:
            return
        (length,) = struct.unpack("<Q", header[:8])
        if masked_crc32c(header[:8]) != struct.unpack("<I", header[8:])[0]:
            framing.corrupt = True
            return
        if offset + 12 + length + 4 > size:
            return
        offset += 12 + length + 4
        if length > MAX_RECORD_BYTES:  # images or histograms, never a scalar
            handle.seek(length + 4, os.SEEK_CUR)
            framing.skipped += 1
        else:
            data = handle.read(length)
            if masked_crc32c(data) != struct.unpack("<I", handle.read(4))[0]:
                framing.corrupt = True
                return
            yield data
        framing.records += 1
        framing.good = offset


def _tensor_scalar(proto) -> float | None:
    """The value of a TensorProto that holds one number; None for anything bigger, judged on the
    declared shape before any array is built (a record may declare 2.5e8 elements and hold none)."""
    from tensorboard.util import tensor_util

    numel = 1
    for dim in proto.tensor_shape.dim:
        numel *= max(int(dim.size), 0)
    if numel != 1:
        return None
    try:
        value = np.asarray(tensor_util.make_ndarray(proto)).reshape(-1)
    except (TypeError, ValueError, KeyError):
        return None
    return float(value[0]) if value.size == 1 and np.issubdtype(value.dtype, np.number) else None


def read_event_file(path: Path) -> tuple[pd.DataFrame, LogSource]:
    """One TensorBoard event file: every scalar (simple values and TF2 scalar tensors)."""
    from tensorboard.compat.proto import event_pb2

    framing = _Framing()
    rows: list[tuple[str, float, float, float]] = []
    plugins: dict[str, str] = {}  # tag -> plugin: the metadata comes with a tag's first value only
    refused = 0
    with open_regular(path, LogError) as handle:
        size = os.fstat(handle.fileno()).st_size
        for data in _records(handle, size, framing):
            try:
                event = event_pb2.Event.FromString(data)
            except Exception:  # protobuf's DecodeError and kin: the record's bytes are not an Event
                framing.corrupt = True
                break
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name:
                    plugins.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number: float | None = value.simple_value
                elif kind == "tensor" and plugins.get(value.tag) == "scalars":
                    number = _tensor_scalar(value.tensor)
                    refused += number is None
                else:
                    continue
                if number is not None:
                    rows.append((value.tag, float(event.step), float(number), math.nan))
            if len(rows) > MAX_LOG_POINTS:
                break
    notes: list[str] = []
    if size == 0:
        notes.append("empty event file (the writer may not have flushed yet)")
    elif framing.corrupt:
        notes.append(f"corrupt record after {framing.records} good one(s): the rest of the file was ignored")
    elif len(rows) > MAX_LOG_POINTS:
        notes.append(f"stopped after {MAX_LOG_POINTS:,} points (the limit for one log file)")
    elif framing.good < size:
        notes.append(
            f"truncated: {size - framing.good} trailing byte(s) after {framing.records} complete record(s) ignored"
        )
    if framing.skipped:
        notes.append(f"{framing.skipped} record(s) over {MAX_RECORD_BYTES:,} bytes skipped (not scalars)")
    if refused:
        notes.append(f"{refused} scalar-plugin value(s) that are not one number skipped")
    frame = _frame(rows[:MAX_LOG_POINTS], str(path))
    epoch_tag = next((t for t in frame["series"].unique() if t.lower() in EPOCH_COLUMNS), None)
    if epoch_tag is not None:
        frame = _attach_epochs(frame, epoch_tag)
    return frame, LogSource(str(path), "tensorboard", len(frame), tuple(notes))


def _attach_epochs(frame: pd.DataFrame, epoch_tag: str) -> pd.DataFrame:
    """Lightning logs `epoch` as a scalar; give every other point the epoch logged at or before its step."""
    marks = frame[frame["series"] == epoch_tag].sort_values("step")
    rest = frame[frame["series"] != epoch_tag].copy()
    at = marks["step"].to_numpy()
    ep = marks["value"].to_numpy()
    idx = np.clip(np.searchsorted(at, rest["step"].to_numpy(), side="right") - 1, 0, len(at) - 1)
    rest["epoch"] = ep[idx]
    return rest.reset_index(drop=True)


def find_logs(folder: Path, max_depth: int = 3) -> list[Path]:
    """Regular files under `folder` (at most `max_depth` folders down, hidden and tool folders skipped)
    that may be logs: event files, *.csv, *.json; sorted, at most MAX_FILES. Every entry is resolved
    and must stay inside `folder`: a symlink leading elsewhere (to another run, to `/`, to /proc) is
    not followed, and a folder reached twice through links is walked once. A folder outside the roots
    in force (core.io.paths) is not listed at all."""
    found: list[Path] = []
    try:
        root = folder.resolve()
    except (OSError, RuntimeError):
        return found
    if not within_roots(root):
        return found
    seen: set[Path] = set()

    def walk(d: Path, depth: int) -> None:
        try:
            resolved = d.resolve()
            entries = sorted(d.iterdir())
        except (OSError, RuntimeError):
            return
        if resolved in seen or not resolved.is_relative_to(root):
            return
        seen.add(resolved)
        for entry in entries:
            if len(found) >= MAX_FILES:
                return
            if entry.is_dir():
                if depth < max_depth and entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                    walk(entry, depth + 1)
            elif _log_name(entry) and found_file(entry, root) is not None:
                found.append(entry)

    walk(folder, 0)
    return found


def _log_name(path: Path) -> bool:
    return path.name.startswith("events.out.tfevents.") or path.suffix.lower() in (".csv", ".json")


def _not_a_log(path: Path) -> str | None:
    """Why a JSON or CSV file of a run folder is known not to be a log, from its name alone."""
    name = path.name.lower()
    if name in NOT_LOGS or name.endswith(".index.json"):
        return f"{path.name} is a model, tokenizer or config file, not a training log"
    twin = next((path.with_suffix(s) for s in CHECKPOINT_SUFFIXES if path.with_suffix(s).exists()), None)
    if path.suffix.lower() == ".json" and twin is not None:
        return f"{path.name} is the config of {twin.name}, not a training log"
    return None


def read_log(path: Path) -> tuple[pd.DataFrame, LogSource]:
    """Read one log file by its name: event file, .csv or .json."""
    if path.name.startswith("events.out.tfevents."):
        return read_event_file(path)
    reason = _not_a_log(path)
    if reason:
        raise LogError(reason)
    if path.suffix.lower() == ".csv":
        return read_csv_log(path)
    if path.suffix.lower() == ".json":
        return read_json_log(path)
    raise LogError(f"{path.name} is not a known log type; looked for: {'; '.join(LOOKED_FOR)}")


def _label(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def _read_group(paths: list[Path], label: str) -> tuple[pd.DataFrame, LogSource]:
    """Event files of one folder are one run resumed across restarts: merged, a step written again
    after a restart keeps its latest value."""
    if len(paths) == 1 and not paths[0].name.startswith("events.out.tfevents."):
        frame, source = read_log(paths[0])
        return frame, LogSource(label, source.kind, source.points, source.notes)
    # Names end in .<time>.<host>.<pid>.<writer counter>: read as numbers, writer 10 comes after 9.
    parts = [read_event_file(p) for p in sorted(paths, key=lambda p: natural_key(p.name))]
    frame = pd.concat([f for f, _ in parts], ignore_index=True)
    frame = frame.drop_duplicates(subset=["series", "step"], keep="last")
    notes = tuple(f"{Path(s.path).name}: {n}" if len(parts) > 1 else n for _, s in parts for n in s.notes)
    return frame, LogSource(label, "tensorboard", len(frame), notes)


def scan_run_folder(folder: str | Path, *, max_depth: int = 3) -> RunLog:
    """Every log under `folder` (or the one file given) -> RunLog. TensorBoard series are labelled by
    their folder; a series name found in more than one log gets that log's label appended,
    e.g. `loss [metrics.csv]`."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise LogError(f"{root} does not exist")
    if not root.is_dir():
        regular_file(root, LogError)  # a FIFO or device given as the log is refused, never opened
    paths = [root] if root.is_file() else find_logs(root, max_depth)
    base = root.parent if root.is_file() else root
    groups: dict[str, list[Path]] = {}
    for path in paths:
        if path.name.startswith("events.out.tfevents."):
            label = _label(path.parent, base)
            groups.setdefault("tensorboard" if label == "." else label, []).append(path)
        else:
            groups[_label(path, base)] = [path]
    frames: list[pd.DataFrame] = []
    sources: list[LogSource] = []
    skipped: list[str] = []
    for label, group in groups.items():
        try:
            frame, source = _read_group(group, label)
        except LogError as exc:
            if root.is_file():
                raise
            skipped.append(f"{label}: {exc}")
            continue
        if frame.empty and not source.notes:
            skipped.append(f"{label}: no numeric series")
            continue
        frame["source"] = label
        frames.append(frame)
        sources.append(source)
    if not frames:
        detail = f" Skipped: {'; '.join(skipped)}." if skipped else ""
        raise LogError(
            f"no training logs found in {root} (searched {max_depth} folder levels deep). "
            f"Looked for: {'; '.join(LOOKED_FOR)}.{detail}"
        )
    table = _qualify_shared_names(pd.concat(frames, ignore_index=True))
    table = table.sort_values(["series", "step"], kind="stable").reset_index(drop=True)
    return RunLog(str(root), table[list(COLUMNS)], tuple(sources), tuple(f"skipped {s}" for s in skipped))


def _qualify_shared_names(table: pd.DataFrame) -> pd.DataFrame:
    per_name = table.groupby("series")["source"].nunique()
    shared = set(per_name[per_name > 1].index)
    if shared:
        mask = table["series"].isin(shared)
        table.loc[mask, "series"] = table.loc[mask, "series"] + " [" + table.loc[mask, "source"] + "]"
    return table


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")
_EPOCH_IN_NAME = re.compile(r"(?:epoch|ep)[_=\-]?(\d+)", re.IGNORECASE)


def epoch_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """(epoch, path) of every checkpoint file under `folder` (3 levels at most) whose name carries an
    epoch (`*_epoch_010.pt`, `epoch=3-step=120.ckpt`), sorted by epoch then path."""
    root = Path(folder)
    if root.is_file():
        root = root.parent
    if not root.is_dir():
        return []
    found = []
    for path in root.rglob("*"):
        if path.suffix.lower() not in CHECKPOINT_SUFFIXES or len(path.relative_to(root).parts) > 3:
            continue
        if found_file(path, root) is None:  # a symlink leading out of the run folder, or no regular file
            continue
        match = _EPOCH_IN_NAME.search(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def checkpoint_epochs(folder: str | Path, run_log: RunLog | None = None) -> list[tuple[int, float]]:
    """(epoch, step) of each epoch with a checkpoint in `folder`, for markers on step axes. The step is
    where that epoch ended in `run_log`; without a mapping the epoch itself is used (logs whose step
    axis is the epoch)."""
    ends = run_log.epoch_end_steps() if run_log is not None else {}
    epochs = sorted({epoch for epoch, _ in epoch_checkpoints(folder)})
    return [(epoch, ends.get(epoch, float(epoch))) for epoch in epochs]


CHECKPOINT_FOLDERS = frozenset({"checkpoints", "checkpoint", "ckpt", "ckpts", "weights", "models"})


def find_run_folder(checkpoint: str | Path) -> Path | None:
    """The run folder holding a checkpoint's logs: its own folder (or a subfolder such as `tb/`), else,
    for a `checkpoints/`-style subfolder, the one above; None when neither has a log."""
    path = Path(checkpoint)
    folder = path if path.is_dir() else path.parent
    folders = [folder]
    # Only a folder that is plainly a checkpoint subfolder lends its parent's logs: elsewhere the parent
    # holds other runs (or is /tmp or a home folder) and its logs say nothing about this checkpoint.
    if folder.name.lower() in CHECKPOINT_FOLDERS:
        folders.append(folder.parent)
    return next((f for f in folders if f.is_dir() and find_logs(f, max_depth=1)), None)
