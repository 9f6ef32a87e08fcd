"""`python -m core inspect|diagnose|report|sweep ...`.

Exit codes: 0 nothing collapsed, 1 collapse found, 2 bad input (one line on stderr, never a
traceback), 3 inconclusive (no collapse finding could be decided).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .io.errors import CollapseExplorerError, NeedsTrustError

EXIT_OK, EXIT_COLLAPSE, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3
EXIT_CODES = """exit codes:
  0  nothing collapsed: every collapse finding that could be decided is ok or a warning
  1  collapse found
  2  bad input: a file that cannot be read, refused for safety or over a limit, a probe that does
     not fit the model, an unknown layout; one line on stderr, never a traceback
  3  inconclusive: no collapse finding could be decided (all undefined, or none; weight health
     alone is no verdict), e.g. no probe data where the family needs it"""


def _parser() -> argparse.ArgumentParser:
    # Installed, the package is `collapse_explorer` and the command `collapse-explorer`.
    prog = "python -m core" if __package__ == "core" else "collapse-explorer"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Find collapse in PyTorch checkpoints.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    verdict = {"epilog": EXIT_CODES, "formatter_class": argparse.RawDescriptionHelpFormatter}

    inspect = sub.add_parser("inspect", help="list what a checkpoint holds")
    inspect.add_argument("path")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--config", help="config file to use when the checkpoint carries none")
    _add_base(inspect)
    _add_trust(inspect)

    diagnose = sub.add_parser("diagnose", help="report collapse findings (exit 0/1/2/3)", **verdict)
    diagnose.add_argument("path")
    diagnose.add_argument(
        "--data", help="probe data (.npz / .safetensors); default: probe.npz beside the file"
    )
    diagnose.add_argument("--adapter", help="adapter name (default: detected from the keys)")
    diagnose.add_argument(
        "--builder",
        help="module:function taking the loaded checkpoint and returning your nn.Module with the weights "
        "loaded; its parts are found by role and run on probe x (runs your code)",
    )
    diagnose.add_argument("--config", help="config file to use when the checkpoint carries none")
    diagnose.add_argument("--json", action="store_true", help="machine-readable output")
    _add_base(diagnose)
    _add_trust(diagnose)
    _add_device(diagnose)

    report = sub.add_parser("report", help="export findings and metrics as HTML or JSON", **verdict)
    report.add_argument("path")
    report.add_argument("--compare", help="a second checkpoint (B) of the same family")
    report.add_argument(
        "--out", help="output .html (writes the .json beside it too) or .json (default: JSON on stdout)"
    )
    report.add_argument("--data", help="probe data for both (default: probe.npz beside each file)")
    _add_trust(report)
    _add_device(report)

    sweep = sub.add_parser("sweep", help="diagnose every checkpoint of every run folder under ROOT")
    sweep.add_argument("root", help="folder whose subfolders (at any depth) hold checkpoints")
    sweep.add_argument("--jobs", type=int, default=1, help="parallel workers on this machine (default 1)")
    sweep.add_argument(
        "--backend", choices=["loky", "dask", "ray"], default="loky", help="joblib backend (default loky)"
    )
    sweep.add_argument(
        "--scheduler",
        help="address of an existing cluster: a Dask scheduler (tcp://host:8786) or a Ray head (ray://host:10001)",
    )
    sweep.add_argument(
        "--out", help="table path (.parquet; the leaderboard goes beside it as .html); default: the cache"
    )
    sweep.add_argument("--data", help="probe data for every checkpoint (default: probe.npz beside each)")
    _add_trust(sweep, plural=True)
    _add_device(sweep)
    return parser


def _add_trust(parser: argparse.ArgumentParser, *, plural: bool = False) -> None:
    what = "the files" if plural else "the file"
    parser.add_argument(
        "--trust", action="store_true", help=f"allow full unpickling (may run code in {what})"
    )


def _add_base(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        help="base model folder of a fine-tune adapter (PEFT LoRA); default: the adapter's "
        "base_model_name_or_path, relative to its folder",
    )


def _loaded(args: argparse.Namespace):
    """The checkpoint of `args.path`, with the adapter's base folder from --base when given."""
    from .io.checkpoints import load_checkpoint

    loaded = load_checkpoint(args.path, trust=args.trust, config_path=args.config)
    if getattr(args, "base", None):
        base = Path(args.base)
        if not base.is_dir():
            raise CollapseExplorerError(f"--base {base.name}: no such folder")
        loaded.base = base
    return loaded


def _add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="cpu",
        help="where models run: cpu (default), cuda, cuda:N, or auto (CUDA when torch sees a GPU)",
    )


def load_builder(spec: str) -> Callable:
    """`module:function` -> a builder (see core.adapters.live.load_builder)."""
    from .adapters.live.builder import load_builder as load

    return load(spec)


def cmd_inspect(args: argparse.Namespace) -> int:
    from .adapters.language import language_summary
    from .adapters.registry import detect
    from .metrics.health import weight_health

    try:
        loaded = _loaded(args)
    except NeedsTrustError as exc:
        for row in exc.listing:
            print(f"{row.name}\t{list(row.shape)}\t{row.dtype}")
        raise
    summary = loaded.summary()
    summary["adapter"] = detect(loaded.shapes(), loaded.config) if loaded.state_dict else None
    summary["roles"] = _roles(loaded)
    summary["language"] = language_summary(loaded)
    health = weight_health(loaded)
    summary["health"] = health.to_json()
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    print(f"{loaded.path}  [{loaded.format}]")
    print(f"  parameters: {loaded.parameter_count:,} in {len(loaded.state_dict)} tensors")
    print(f"  components: {', '.join(f'{k} ({v})' for k, v in summary['components'].items()) or '-'}")
    print(f"  adapter:    {summary['adapter'] or 'none detected'}")
    for line in summary["roles"]["found"] or ["none of a known kind"]:
        print(f"  role:       {line}")
    for line in [] if summary["language"] else summary["roles"]["lacking"]:
        print(f"  lacking:    {line}")
    if "data" in summary["roles"]:
        print(f"  data:       {summary['roles']['data']}")
    for key, value in (summary["language"] or {}).items():
        if value is not None:
            print(f"  {key + ':':11s} {_plain(value)}")
    print(f"  config:     {loaded.config_source or 'none found'}")
    if loaded.metadata:
        print("  metadata:   " + ", ".join(f"{k}={v}" for k, v in list(loaded.metadata.items())[:12]))
    print("  health:     " + " · ".join(f"{k} {v}" for k, v in health.cards().items()))
    for name in health.nonfinite_tensors[:3]:
        print(f"      non-finite values in {name}")
    if loaded.stripped_prefixes:
        print(f"  stripped:   {', '.join(loaded.stripped_prefixes)}")
    for row in loaded.tensors():
        tied = f"  (tied to {row.tied_to})" if row.tied_to else ""
        print(f"    {row.name}\t{list(row.shape)}\t{row.dtype}{tied}")
    return EXIT_OK


def _roles(loaded) -> dict:
    """Roles found and lacking (core.roles) for `inspect`; for a data file, what its tensors look like."""
    from .adapters.registry import data_message
    from .roles.found import roles_of

    if not loaded.state_dict and loaded.data_tensors:
        return {"family": None, "found": [], "lacking": [], "data": data_message(loaded)}
    return roles_of(loaded.shapes()).to_json()


def _plain(value: object) -> str:
    """A value read from an untrusted config, as one line of text (no terminal escapes)."""
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)[:300]


def cmd_diagnose(args: argparse.Namespace) -> int:
    from .diagnosis.checkpoint import diagnose_checkpoint
    from .io.probe import find_probe, load_probe
    from .models.device import resolve_device

    device = resolve_device(args.device)
    loaded = _loaded(args)
    probe_path = Path(args.data) if args.data else find_probe(args.path)
    probe = load_probe(probe_path) if probe_path is not None else None
    builder = load_builder(args.builder) if args.builder else None
    report = diagnose_checkpoint(loaded, probe, adapter_name=args.adapter, builder=builder, device=device)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"{args.path}  [adapter {report.adapter}; probe {probe_path or 'none'}]")
        for finding in report.findings:
            print(f"  {finding.severity.upper():9s} {finding.kind}: {finding.summary}")
            for key, value in finding.metrics.items():
                print(f"      {key} = {_fmt(value)}")
            if finding.fix and finding.severity in ("collapse", "warning"):
                print(f"      fix: {finding.fix}")
        for error in report.errors:
            print(f"  ERROR {error}")
    return report.exit_code()


def _fmt(value: object) -> str:
    from .metrics.base import format_value

    return format_value(value)


def cmd_report(args: argparse.Namespace) -> int:
    from .io.probe import find_probe
    from .report.compare import check_comparable, compare_metrics
    from .report.figures import report_figures
    from .report.html import Entry, export_both, export_text, write_atomic
    from .timeline import report_for

    # A comparison measures both checkpoints on the same inputs: A's probe unless --data names one.
    probe = args.data or (find_probe(args.path) if args.compare else None)
    _, spec_a, _, report_a = report_for(args.path, probe, trust=args.trust, device=args.device)
    items, deltas = [("A", args.path, report_a)], None
    if args.compare:
        _, spec_b, _, report_b = report_for(args.compare, probe, trust=args.trust, device=args.device)
        check_comparable(spec_a, spec_b)
        items.append(("B", args.compare, report_b))
        deltas = compare_metrics(report_a, report_b)
    entries = [
        Entry(label, path, report, str(probe or find_probe(path) or "") or None)
        for label, path, report in items
    ]
    fmt = Path(args.out).suffix.lstrip(".").lower() if args.out else "json"
    forbidden = [Path(path) for _, path, _ in items]
    if fmt == "html":
        # The document and its data side by side: report.html and report.json.
        document, data = export_both(entries, deltas, report_figures(items, probe, trust=args.trust))
        json_out = Path(args.out).with_suffix(".json")
        for target, text in ((args.out, document), (json_out, data)):
            print(f"wrote {write_atomic(target, text, forbidden=forbidden)}")
    elif args.out:
        written = write_atomic(args.out, export_text(entries, deltas, fmt), forbidden=forbidden)
        print(f"wrote {written}")
    else:
        print(export_text(entries, deltas, "json"))
    return combined_exit(r.exit_code() for _, _, r in items)


def combined_exit(codes: Iterable[int]) -> int:
    """One exit code for several reports: a collapse anywhere wins, then inconclusive, then ok."""
    codes = set(codes)
    return next((c for c in (EXIT_COLLAPSE, EXIT_INCONCLUSIVE) if c in codes), EXIT_OK)


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import sweep

    if args.jobs < 1:
        raise CollapseExplorerError(f"--jobs must be at least 1, got {args.jobs}")

    def progress(done: int, total: int) -> None:
        print(f"  diagnosed {done:,} of {total:,} new or changed checkpoints", file=sys.stderr, flush=True)

    result = sweep(
        args.root,
        jobs=args.jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        out=args.out,
        probe=args.data,
        trust=args.trust,
        device=args.device,
        progress=progress,
    )
    table = result.table
    collapsed = sorted(table.loc[table["severity"] == "collapse", "run"].unique())
    print(
        f"{result.runs:,} runs, {len(table):,} checkpoints: {result.diagnosed:,} diagnosed, "
        f"{result.cached:,} from the cache; {len(collapsed):,} runs collapsed"
    )
    for run in collapsed[:20]:
        first = table.loc[table["run"] == run, "first_collapsed_epoch"].iloc[0]
        print(f"  COLLAPSE  {run} (first at epoch {first})")
    print(f"table:       {result.table_path}\nleaderboard: {result.leaderboard_path}")
    if collapsed:
        return EXIT_COLLAPSE
    return EXIT_INCONCLUSIVE if (table["severity"] == "undefined").all() else EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "inspect": cmd_inspect,
    "diagnose": cmd_diagnose,
    "report": cmd_report,
    "sweep": cmd_sweep,
}


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library warnings would break the one-line error contract
            return COMMANDS[args.command](args)
    except CollapseExplorerError as exc:
        return _fail(str(exc))
    except MemoryError:
        return _fail("out of memory: the input needs more memory than this machine allows")
    except RecursionError:
        return _fail("the input nests too deeply to be read")
    except Exception as exc:
        # Last resort only: every known bad input raises CollapseExplorerError above. A bug must never
        # read as "no collapse" (0) or "collapse" (1), so it is exit 2 with what happened.
        return _fail(
            f"internal error ({type(exc).__name__}: {exc}); please report it with the file that caused it"
        )
