"""Seeded fuzzing of the loaders and the CLI with random and mutated checkpoints, probes, configs, logs.

Each case takes a valid seed file (a torch zip with optimizer state, a codebook, a Lightning file with
OmegaConf hyper-parameters, a legacy pickle, safetensors, a code-running pickle, probes, configs,
logs), mutates it (bit flips, random spans, truncation, insertion, duplication, extreme integers,
splices, random bytes behind a real magic number, or a mutation of the pickle inside a re-zipped
archive), writes it where the product looks for such a file, and runs `inspect` / `diagnose` or the
loader on it. A case passes when:
- the CLI exits 0/1/3 with nothing on stderr, or 2 with exactly one `error: ` line and no
  "internal error"; a loader returns or raises CollapseExplorerError;
- it finishes within CASE_SECONDS, under an address-space limit (RLIMIT_AS) a little above what the
  process had, so a blow-up fails fast as MemoryError and must become exit 2 like any bad input;
- no file in its folder was created or changed, and the marker a code-running payload would write
  does not exist.

CI runs a few hundred cases (tests/core/test_fuzz.py). A longer run by hand:
    .venv/bin/python -m tests.fuzz_harness --cases 20000 --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.io.limits import ARCHIVE_ERRORS

CASE_SECONDS = 30.0
EXTRA_ADDRESS_SPACE = 3 << 30  # bytes above the process's current size allowed to one case
DIAGNOSE_EVERY = 10  # diagnose (model rebuilt, metrics run) on one case in this many; inspect otherwise


@dataclass(frozen=True)
class Seed:
    """A valid file to mutate: where it goes in a case folder, and how the case is run."""

    name: str
    kind: str  # "checkpoint" | "probe" | "config" | "log"
    target: str  # file name (relative path) inside the case folder
    data: bytes


@dataclass(frozen=True)
class Failure:
    case: int
    seed: str
    mutation: str
    why: str
    saved: str = ""


def _bytes(write: Callable[[Path], object], name: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        write(path)
        return path.read_bytes()


def build_seeds(marker: Path) -> tuple[list[Seed], dict[str, bytes]]:
    """The seed files, and the valid companions (checkpoint, probe) a case folder starts with."""
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    from tests.adapters import cases_codebook, cases_flow
    from tests.hostile_files import RunsCode, small_state
    from tests.training_fixtures import write_csv, write_events, write_json

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        flow = cases_flow.network_case(folder).read_bytes()
        probe = (folder / "probe.npz").read_bytes()
        codebook = cases_codebook.ema_codebook(folder).read_bytes()
        write_events(folder / "tb", {"loss": np.linspace(2, 1, 30), "grad_norm": np.ones(30)})
        events = next((folder / "tb").glob("events.out.tfevents.*")).read_bytes()
    state = small_state()
    lightning = {
        "state_dict": {f"model.{k}": v for k, v in state.items()},
        "hyper_parameters": OmegaConf.create({"lr": 0.1, "env": "${oc.env:HOME}", "layers": [4, 4]}),
        "pytorch-lightning_version": "2.4",
        "global_step": 7,
        "epoch": 1,
    }
    rng = np.random.default_rng(0)
    seeds = [
        Seed("flow", "checkpoint", "fclf_epoch_5.pt", flow),
        Seed("codebook", "checkpoint", "vq_ema.pt", codebook),
        Seed("lightning", "checkpoint", "last.ckpt", _bytes(lambda p: torch.save(lightning, p), "x")),
        Seed(
            "legacy",
            "checkpoint",
            "old.pt",
            _bytes(lambda p: torch.save(state, p, _use_new_zipfile_serialization=False), "x"),
        ),
        Seed("safetensors", "checkpoint", "model.safetensors", _bytes(lambda p: save_file(state, p), "x")),
        Seed(
            "payload",
            "checkpoint",
            "evil.pt",
            _bytes(lambda p: torch.save({"state_dict": state, "cb": RunsCode(marker)}, p), "x"),
        ),
        Seed("probe", "probe", "probe.npz", probe),
        Seed(
            "probe_plain",
            "probe",
            "probe.npz",
            _bytes(
                lambda p: np.savez(
                    p, embeddings=rng.normal(size=(24, 12)).astype(np.float32), attributes=np.ones((24, 3))
                ),
                "p.npz",
            ),
        ),
        Seed(
            "config_json",
            "config",
            "config.json",
            b'{"embedding_dim": 12, "names": ["a", "b"], "x": {"y": 1}}',
        ),
        Seed(
            "config_yaml",
            "config",
            ".hydra/config.yaml",
            b"model:\n  latent_dim: 16\n  a: &a [1, 2]\n  b: *a\n",
        ),
        Seed("log_json", "log", "training_log.json", _bytes(lambda p: write_json(p, _rows()), "l.json")),
        Seed(
            "log_csv",
            "log",
            "metrics.csv",
            _bytes(lambda p: write_csv(p, ["epoch", "step", "loss", "val_loss"], _csv_rows()), "m.csv"),
        ),
        Seed("log_events", "log", "tb/events.out.tfevents.1.fuzz", events),
    ]
    return seeds, {"fclf_epoch_5.pt": flow, "probe.npz": probe}


def _rows() -> list[dict]:
    return [{"epoch": i // 3, "step": i, "loss": 2.0 / (i + 1), "val_loss": 1.0 + i % 2} for i in range(12)]


def _csv_rows() -> list[list]:
    return [[i // 3, i, 2.0 / (i + 1), "" if i % 2 else 1.0] for i in range(12)]


# --- mutations ------------------------------------------------------------------------------------------

EXTREMES = (0, 1, 0x7F, 0xFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 40, (1 << 63) - 1, (1 << 64) - 1)
TEXT_INSERTS = (
    b"[" * 3000,
    b'{"a": ' * 600,
    b"!!python/object/apply:os.system ['touch x']",
    b"&anchor [*anchor, *anchor]",
    b"NaN",
    b"1e999999",
    b"\x00\xff\xfe",
    b"${oc.env:HOME}",
    b"'" * 50,
)


def _flip(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _span(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    n = rng.randint(1, 64)
    return data[:at] + rng.randbytes(n) + data[at + n :]


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _insert(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    piece = rng.choice(TEXT_INSERTS) if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 256))
    return data[:at] + piece + data[at:]


def _duplicate(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data * 2
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 512))
    return data[:b] + data[a:b] * rng.randint(1, 50) + data[b:]


def _extreme_int(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 8:
        return data
    width = rng.choice((2, 4, 8))
    at = rng.randrange(len(data) - width + 1)
    value = rng.choice(EXTREMES) & ((1 << (8 * width)) - 1)
    return data[:at] + value.to_bytes(width, "little") + data[at + width :]


def _random_behind_magic(rng: random.Random, data: bytes) -> bytes:
    magic = rng.choice(
        (b"PK\x03\x04", b"\x80\x02", b"\x80", struct.pack("<Q", rng.randint(1, 4096)) + b"{", b"")
    )
    return magic + rng.randbytes(rng.randint(0, 2048))


def _inner_pickle(rng: random.Random, data: bytes) -> bytes:
    """Mutate a member of a zip (a torch data.pkl, an .npy) and re-zip it with valid checksums, so the
    mutation reaches the unpickler or the array reader instead of stopping at a CRC check."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zin:
            members = [(i.filename, zin.read(i)) for i in zin.infolist()]
    except ARCHIVE_ERRORS:  # an earlier mutation broke the archive: mutate its bytes instead
        return _span(rng, data)
    index = rng.randrange(len(members))
    pkl = [i for i, (name, _) in enumerate(members) if name.endswith(("data.pkl", ".npy"))]
    if pkl and rng.random() < 0.8:
        index = rng.choice(pkl)
    name, body = members[index]
    mutate = rng.choice((_flip, _span, _truncate, _insert, _duplicate, _extreme_int))
    members[index] = (name, mutate(rng, body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for member, content in members:
            zout.writestr(member, content)
    return out.getvalue()


MUTATIONS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "flip": _flip,
    "span": _span,
    "truncate": _truncate,
    "insert": _insert,
    "duplicate": _duplicate,
    "extreme_int": _extreme_int,
    "random": _random_behind_magic,
    "inner": _inner_pickle,
}


# --- running a case -------------------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _cli(argv: list[str]) -> str | None:
    """None when `python -m core argv` kept the contract, else why not."""
    from core.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse only
            return f"SystemExit {exc.code}"
    text, lines = out.getvalue() + err.getvalue(), err.getvalue().strip().splitlines()
    if "Traceback" in text:
        return f"traceback (exit {code})"
    if code == 2:
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return f"exit 2 with {len(lines)} stderr line(s): {err.getvalue()[:300]!r}"
        if "internal error" in lines[0]:
            return lines[0][:300]
        return None
    if code not in (0, 1, 3):
        return f"exit {code}"
    return f"exit {code} with stderr {err.getvalue()[:300]!r}" if lines else None


def _loader(fn: Callable[[], object]) -> str | None:
    from core.io.errors import CollapseExplorerError

    try:
        fn()
    except CollapseExplorerError as exc:
        return None if str(exc).strip() else "empty error message"
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return None


def run_case(
    seed: Seed, data: bytes, folder: Path, companions: dict[str, bytes], diagnose: bool
) -> str | None:
    """Write the mutated file where the product looks for it, run the product on it; None or why not."""
    from core.io.checkpoints import load_checkpoint
    from core.io.configs import read_config_file
    from core.io.logs import scan_run_folder
    from core.io.probe import load_probe

    for name, content in companions.items():
        if name != seed.target:
            (folder / name).write_bytes(content)
    target = folder / seed.target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    checkpoint = folder / ("fclf_epoch_5.pt" if seed.kind != "checkpoint" else seed.target)
    before = _snapshot(folder)
    if seed.kind == "checkpoint":
        why = _cli(["diagnose" if diagnose else "inspect", str(target)])
        why = why or _loader(lambda: load_checkpoint(target))
    elif seed.kind == "probe":
        why = _loader(lambda: load_probe(target))
        if diagnose and why is None:
            why = _cli(["diagnose", str(checkpoint), "--data", str(target)])
    elif seed.kind == "config":
        why = _cli(["inspect", str(checkpoint)]) or _loader(lambda: read_config_file(target))
    else:
        why = _loader(lambda: scan_run_folder(folder))
        if diagnose and why is None:
            why = _cli(["diagnose", str(checkpoint)])
    if why is None and _snapshot(folder) != before:
        why = "files in the case folder were created or changed"
    return why


@contextlib.contextmanager
def address_space_limit(extra: int = EXTRA_ADDRESS_SPACE) -> Iterator[None]:
    """RLIMIT_AS at the current size plus `extra` while fuzzing (Linux), restored afterwards."""
    try:
        import resource

        with open("/proc/self/statm") as fh:
            size = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + extra if hard == resource.RLIM_INFINITY else min(hard, size + extra)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _in_time(fn: Callable[[], str | None], seconds: float) -> str | None:
    result: list[str | None] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # a case must never escape: report what did
            result.append(f"escaped {type(exc).__name__}: {str(exc)[:300]}")

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return f"still running after {seconds:.0f} s (a hang)" if thread.is_alive() else result[0]


def fuzz(
    cases: int,
    seed: int = 0,
    *,
    workdir: Path | None = None,
    keep_failures: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Failure]:
    """Run `cases` seeded cases; the failures, each with its file saved under `keep_failures`."""
    rng = random.Random(seed)
    base = Path(tempfile.mkdtemp(prefix="fuzz-", dir=workdir))
    marker = base / "MARKER"
    seeds, companions = build_seeds(marker)
    failures: list[Failure] = []
    try:
        with address_space_limit():
            for case in range(cases):
                chosen = rng.choice(seeds)
                mutation = rng.choice(list(MUTATIONS))
                data = MUTATIONS[mutation](rng, chosen.data)
                if rng.random() < 0.15:  # a second mutation on top: deeper into the parsers
                    data = MUTATIONS[rng.choice(list(MUTATIONS))](rng, data)
                folder = base / f"case{case}"
                folder.mkdir()
                run = functools.partial(
                    run_case, chosen, data, folder, companions, case % DIAGNOSE_EVERY == 0
                )
                why = _in_time(run, CASE_SECONDS)
                if why is None and marker.exists():
                    why = "the payload ran: its marker file exists"
                if why is not None:
                    saved = ""
                    if keep_failures is not None:
                        keep_failures.mkdir(parents=True, exist_ok=True)
                        saved = str(keep_failures / f"case{case}-{chosen.name}-{mutation}.bin")
                        Path(saved).write_bytes(data)
                    failures.append(Failure(case, chosen.name, mutation, why, saved))
                    if why.startswith("still running"):
                        break  # the stuck thread still holds the process; stop here
                else:
                    shutil.rmtree(folder, ignore_errors=True)
                if progress is not None:
                    progress(case)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz the loaders and the CLI with mutated files.")
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", default="fuzz-failures", help="folder for the files of failing cases")
    args = parser.parse_args(argv)
    start = time.monotonic()

    def progress(case: int) -> None:
        if (case + 1) % 500 == 0:
            print(f"{case + 1} cases, {time.monotonic() - start:.0f} s", file=sys.stderr)

    failures = fuzz(args.cases, args.seed, keep_failures=Path(args.keep), progress=progress)
    for f in failures:
        print(f"case {f.case} ({f.seed}, {f.mutation}): {f.why}  [{f.saved}]")
    print(
        f"{args.cases} cases, {len(failures)} failure(s), {time.monotonic() - start:.0f} s", file=sys.stderr
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())


# --- output encoding (issue 26): hostile names through every sink ---------------------------------------


def _hostile_name(rng: random.Random) -> str:
    """An ordinary name with one to three payloads from the corpus spliced in."""
    from tests.hostile_files import PAYLOADS

    parts = ["w", *rng.sample(sorted(PAYLOADS.values()), rng.randint(1, 3))]
    rng.shuffle(parts)
    return "".join(parts)


def _folder_name(name: str) -> str:
    return name.replace("/", "_").replace("\0", "_")[:80] or "_"


def _terminal_problem(argv: list[str]) -> str | None:
    """None when the command's output holds no control byte, no forged line and at most one error line."""
    from core.cli import main
    from tests.hostile_files import CONTROL_BYTES

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    text = out.getvalue() + err.getvalue()
    if any(c in text for c in CONTROL_BYTES if c not in "\n\t"):
        return f"{argv[0]}: a control byte reached the terminal"
    if sum(line.startswith("  adapter:") for line in out.getvalue().splitlines()) > 1:
        return f"{argv[0]}: a name forged an extra line"
    if code == 2 and (len(err.getvalue().strip().splitlines()) != 1 or "internal error" in err.getvalue()):
        return f"{argv[0]}: exit 2 without one clear error line: {err.getvalue()[:200]!r}"
    return None


def _html_problem(document: str) -> str | None:
    """None when no script holds '<' and nothing links or loads from a name."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        in_script = False

        def handle_starttag(self, tag, attrs):
            self.in_script = tag == "script"
            found.extend(f"{tag} {k}" for k, v in attrs if k in ("href", "src") and v)

        def handle_endtag(self, tag):
            self.in_script = False

        def handle_data(self, data):
            if self.in_script and "<" in data:
                found.append("'<' inside a script")

    Parser().feed(document)
    return f"report: {found[0]}" if found else None


def _csv_problem(text: str) -> str | None:
    import csv

    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            if cell.startswith(("=", "+", "-", "@", "\t", "\r")):
                try:
                    float(cell)
                except ValueError:
                    return f"csv: formula cell {cell[:40]!r}"
    return None


def output_case(rng: random.Random, folder: Path) -> str | None:
    """One case: hostile names as tensor keys, a config value, metadata and the run folder's name, then
    inspect / diagnose (terminal), the report's HTML and a CSV of probe texts; None or why not."""
    import pandas as pd
    import plotly.graph_objects as go

    from core.diagnosis import Finding, Report
    from core.io.encode import csv_frame
    from core.report.html import Entry, Table, report_html
    from core.sweep import leaderboard_html
    from tests.hostile_files import payload_keys

    names = list(dict.fromkeys(_hostile_name(rng) for _ in range(3)))
    run = folder / _folder_name(rng.choice(names))
    run.mkdir(parents=True)
    path = payload_keys(run, names)
    before = _snapshot(folder)
    for argv in (["inspect", str(path)], ["diagnose", str(path)], ["inspect", str(path), "--json"]):
        why = _terminal_problem(argv)
        if why:
            return why
    if _snapshot(folder) != before:
        return "files in the case folder were created or changed"
    finding = Finding("codebook", "collapse", f"{names[0]} collapsed", {"used_codes": 1}, fix=names[-1])
    report = Report(str(path), names[0], (finding,), tuple(names))
    figure = go.Figure([go.Bar(x=names, y=[1] * len(names), name=n, text=names) for n in names])
    figure.update_layout(title=names[0])
    table = Table(names[0], tuple(names), (tuple(names),), caption=names[-1])
    document = report_html(
        [Entry("A", str(path), report, str(run / f"{names[1 % len(names)]}.npz"))], None, [figure, table]
    )
    why = _html_problem(document) or _html_problem(
        leaderboard_html(pd.DataFrame({"run": names, "status": ["ok"] * len(names)}), run)
    )
    texts = pd.DataFrame({"text": names, "reference": names[::-1], "score": [-1.5] * len(names)})
    return why or _csv_problem(csv_frame(texts).to_csv(index=False))


def fuzz_output(cases: int, seed: int = 0, *, workdir: Path | None = None) -> list[str]:
    """Run `cases` output-encoding cases; the failures as 'case N: why'."""
    rng = random.Random(seed)
    base = Path(tempfile.mkdtemp(prefix="fuzz-out-", dir=workdir))
    failures = []
    try:
        for case in range(cases):
            why = _in_time(functools.partial(output_case, rng, base / f"case{case}"), CASE_SECONDS)
            if why is not None:
                failures.append(f"case {case}: {why}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return failures
