"""The answer first: one checkpoint's verdict in words, for the verdict strip on every page and the report.

A verdict is what collapsed, the headline number with what it means ("32 distinct endpoints from 1,000
inputs: collapsed" / "988 distinct endpoints from 1,000 inputs: ok") and the known fix as one plain
sentence, with the finding's full fix as the details behind it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .. import DEMO_DIR
from ..diagnosis.base import SEVERITY_ORDER, Finding, Report
from ..io.files import content_digest, write_atomic
from ..io.paths import WEIGHT_SUFFIXES
from ..metrics.base import format_value, is_defined

MEANING = {"collapse": "collapsed", "warning": "warning", "ok": "ok", "undefined": "could not be judged"}

# One plain sentence per kind of finding; the finding's own fix (numbered, model-specific) is the detail.
FIX_SENTENCE = {
    "prototype": "Keep the endpoints apart: add an identity loss and train on targets that flip only 1-2 "
    "attributes of each input.",
    "dimensional": "Keep the endpoints apart: add an identity loss and train on targets that flip only 1-2 "
    "attributes of each input.",
    "codebook": "Bring the dead codes back: reseed unused codes from recent encoder outputs and start the "
    "codebook from the data.",
    "posterior": "Keep the latent in use: give each latent dimension a free-bits floor and normalise the input "
    "features.",
    "mode": "Let the decoder see its input and decode by sampling instead of always taking the likeliest word.",
    "repetition": "Stop the loops: decode with a repetition penalty and fine-tune on answers that end.",
    "adapter": "Train the adapter for real: make its weights trainable, hand them to the optimiser and save "
    "the trained adapter.",
    "training": "Go back to the last healthy checkpoint and train on with a lower learning rate and gradient "
    "clipping.",
}
# A language model's `mode` finding counts prompts; the text bridge's plain fix (sampling, a decoder that
# sees its input) does not apply to a fine-tune that answers every prompt alike.
LANGUAGE_MODE_SENTENCE = (
    "Fine-tune more gently (fewer steps, a lower learning rate) on answers that differ from prompt to prompt."
)
IMPLICIT_CODEBOOK_SENTENCE = (
    "Keep the quantizer's inputs spread over its range, with a LayerNorm or a learned scale in front of it."
)


@dataclass(frozen=True)
class Verdict:
    """One checkpoint's answer: `severity` of its main finding, `what` ("prototype collapse"),
    `headline` (number and meaning), `fix` (one sentence, "" when nothing needs fixing), `details`
    (the finding's full known fix) and `kind` of the main finding ("" when there is none)."""

    severity: str
    what: str
    headline: str
    fix: str = ""
    details: str = ""
    kind: str = ""


def _count(value: object) -> str:
    return format_value(value) if is_defined(value) else "?"


def headline_number(finding: Finding) -> str:
    """The number a finding turns on, in words: '32 distinct endpoints from 1,000 inputs'."""
    m = finding.metrics
    if finding.kind == "prototype" and "distinct_endpoints" in m:
        of = f" from {_count(m['distinct_inputs'])} inputs" if "distinct_inputs" in m else ""
        return f"{_count(m['distinct_endpoints'])} distinct endpoints{of}"
    if finding.kind == "codebook" and "used_codes" in m:
        of = f" of {_count(m['codebook_size'])}" if "codebook_size" in m else ""
        dead = m.get("dead_code_fraction")
        tail = f" ({float(dead):.0%} dead)" if is_defined(dead) else ""  # type: ignore[arg-type]
        return f"{_count(m['used_codes'])}{of} codes used{tail}"
    if finding.kind == "posterior" and "active_units" in m:
        of = f" of {_count(m['latent_dim'])}" if "latent_dim" in m else ""
        return f"{_count(m['active_units'])}{of} latent units active"
    if finding.kind == "mode" and is_defined(m.get("unique_output_ratio")) and "inputs" in m:
        n = int(m["inputs"])  # type: ignore[arg-type]
        distinct = round(float(m["unique_output_ratio"]) * n)  # type: ignore[arg-type]
        output, given = ("continuation", "prompts") if "prompts" in m else ("output", "inputs")
        return f"{distinct:,} distinct {output}{'s' if distinct != 1 else ''} for {n:,} {given}"
    if finding.kind == "dimensional" and is_defined(m.get("rankme_ratio")):
        return f"endpoints keep {float(m['rankme_ratio']):.0%} of the inputs' effective rank"  # type: ignore[arg-type]
    return first_sentence(finding.summary)


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def first_sentence(text: str) -> str:
    """Text up to its first full stop followed by a space (the whole text when it has none)."""
    text = " ".join(str(text).split())
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


def fix_sentence(finding: Finding) -> str:
    """The plain one-sentence fix for a finding that needs one ('' for ok and undefined ones)."""
    if finding.severity not in ("collapse", "warning") or not finding.fix:
        return ""
    if finding.kind == "codebook" and "without a codebook" in finding.fix:
        return IMPLICIT_CODEBOOK_SENTENCE
    if finding.kind == "mode" and "prompts" in finding.metrics:
        return LANGUAGE_MODE_SENTENCE
    return FIX_SENTENCE.get(finding.kind) or first_sentence(finding.fix)


def main_finding(report: Report) -> Finding | None:
    """The finding a verdict leads with: the worst collapse-family finding, training only when it is
    worse than every other (or alone)."""
    if not report.findings:
        return None
    worst = max(report.findings, key=lambda f: SEVERITY_ORDER[f.severity])
    family = [f for f in report.findings if f.kind != "training"]
    if not family:
        return worst
    top = max(family, key=lambda f: SEVERITY_ORDER[f.severity])
    return worst if SEVERITY_ORDER[worst.severity] > SEVERITY_ORDER[top.severity] else top


def verdict_of(report: Report) -> Verdict:
    """The answer for one checkpoint's report (see `Verdict`)."""
    finding = main_finding(report)
    if finding is None:
        why = first_sentence(report.errors[0]) if report.errors else "nothing could be measured"
        return Verdict("undefined", "no finding", why)
    meaning = MEANING[finding.severity]
    what = {
        "collapse": f"{finding.kind} collapse",
        "warning": f"{finding.kind} warning",
        "ok": f"no {finding.kind} collapse",
    }.get(finding.severity, f"{finding.kind} not judged")
    if finding.kind == "training" and finding.severity != "ok":
        what = f"training {'broke down' if finding.severity == 'collapse' else 'warning'}"
    return Verdict(
        finding.severity,
        what,
        f"{_short(headline_number(finding))}: {meaning}",
        fix_sentence(finding),
        finding.fix if fix_sentence(finding) else "",
        finding.kind,
    )


# The shipped demo's verdicts, written by `python -m core.demo build` (core/demo/verdicts.py) beside the
# checkpoints: a cold app shows the first screen's answer from here instead of diagnosing, which needs torch
# and the metric libraries (seconds on 2 cores). Keyed by the bytes of the checkpoint, of what its diagnosis
# reads beside it and of its probe, so a rebuilt or edited file is diagnosed afresh;
# tests/core/test_stored_verdicts.py keeps the store equal to a fresh diagnosis.
VERDICTS_NAME = "verdicts.json"
MAX_STORE_BYTES = 1 << 20


def _under(path: Path, root: Path) -> str | None:
    """`path`'s POSIX name relative to `root` when it lies under it (links resolved), else None."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else None


def _context_digest(checkpoint: Path, probe: Path | None) -> str:
    """Short sha256 of what a checkpoint's diagnosis reads beside it: every file under its folder but
    checkpoints (config, tokenizer, training logs, probe), and the probe wherever it lies."""
    folder = checkpoint.parent
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix not in WEIGHT_SUFFIXES and p.name != VERDICTS_NAME
    )
    if probe is not None and probe not in files:
        files.append(probe)
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(folder.parent).as_posix().encode() + b"\0")
        digest.update(content_digest(file).encode())
    return digest.hexdigest()[:16]


def stored_verdict(
    checkpoint: str | Path, probe: str | Path | None, demo_dir: Path = DEMO_DIR
) -> Verdict | None:
    """The stored verdict of a shipped demo checkpoint measured on `probe` (the probe its diagnosis
    resolves, None for none), or None: a file outside the demo, a byte changed in the checkpoint or the
    probe, another probe, or no store."""
    root = demo_dir.resolve()
    name = _under(Path(checkpoint), root)
    probe_name = None if probe is None else _under(Path(probe), root)
    store = root / VERDICTS_NAME
    if name is None or (probe is not None and probe_name is None) or not store.is_file():
        return None
    try:
        if store.stat().st_size > MAX_STORE_BYTES:
            return None
        table = json.loads(store.read_text(encoding="utf-8"))
        entry = table.get(name) if isinstance(table, Mapping) else None
        if not isinstance(entry, Mapping):
            return None
        key = _key(root / name, None if probe_name is None else root / probe_name, root)
        if any(entry.get(part) != value for part, value in key.items()):
            return None
        kept = entry["verdict"]
        return Verdict(**{f.name: str(kept[f.name]) for f in fields(Verdict)})
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None


def _key(checkpoint: Path, probe: Path | None, root: Path) -> dict:
    """What a stored verdict is kept under: the checkpoint's bytes, what its diagnosis reads beside it,
    and the probe's name under the (resolved) demo folder `root`; paths resolved."""
    return {
        "checkpoint": content_digest(checkpoint),
        "context": _context_digest(checkpoint, probe),
        "probe_name": None if probe is None else _under(probe, root),
    }


def verdict_entry(checkpoint: Path, probe: Path | None, found: Verdict, demo_dir: Path) -> dict:
    """The store's entry of one demo checkpoint's verdict on `probe` (both under `demo_dir`)."""
    probe = None if probe is None else probe.resolve()
    return {**_key(checkpoint.resolve(), probe, demo_dir.resolve()), "verdict": asdict(found)}


def store_verdicts(entries: Mapping[str, dict], demo_dir: Path) -> Path:
    """Write the store (entries keyed by checkpoint name relative to `demo_dir`) and return its path."""
    target = demo_dir / VERDICTS_NAME
    write_atomic(target, json.dumps(dict(sorted(entries.items())), indent=1, ensure_ascii=False) + "\n")
    return target
