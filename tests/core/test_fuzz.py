"""Fuzz test (issue 11): seeded random and mutated checkpoints, probes, configs and logs fed to
`inspect` / `diagnose` and the loaders, each case under a time and address-space limit, must give a
verdict or exit 2 with one line: no traceback, no file written, no payload run.

A few hundred cases here; set COLLAPSE_EXPLORER_FUZZ_CASES for more, or run the long version by hand:
`.venv/bin/python -m tests.fuzz_harness --cases 20000 --seed 7`.
"""

import json
import os

import pytest

from tests.fuzz_harness import MUTATIONS, fuzz

CASES = int(os.environ.get("COLLAPSE_EXPLORER_FUZZ_CASES", "200"))


def test_fuzzed_files_keep_the_exit_code_contract(tmp_path):
    failures = fuzz(CASES, seed=20_240, workdir=tmp_path, keep_failures=tmp_path / "failures")
    assert failures == [], "\n".join(f"case {f.case} ({f.seed}, {f.mutation}): {f.why}" for f in failures)


def test_the_harness_catches_what_it_is_meant_to(tmp_path, monkeypatch):
    """A harness that cannot fail proves nothing: break the contract on purpose and see it noticed."""
    import core.cli as cli

    def traceback_and_exit_1(args):
        print("Traceback (most recent call last):", file=__import__("sys").stderr)
        return 1

    monkeypatch.setitem(cli.COMMANDS, "inspect", traceback_and_exit_1)
    monkeypatch.setitem(cli.COMMANDS, "diagnose", traceback_and_exit_1)
    failures = fuzz(12, seed=1, workdir=tmp_path)
    assert failures and all("traceback" in f.why for f in failures if f.seed not in ("probe", "probe_plain"))
    assert set(MUTATIONS) >= {"flip", "truncate", "inner", "random"}


OUTPUT_CASES = int(os.environ.get("COLLAPSE_EXPLORER_FUZZ_OUTPUT_CASES", "8"))


def test_hostile_names_stay_text_in_every_output(tmp_path):
    """Issue 26: random names from a corpus of Markdown, HTML, CSV-formula and control-character payloads
    as tensor keys, config and metadata values, run folder names and probe texts, through inspect,
    diagnose, the report's HTML, the leaderboard and a CSV download."""
    from tests.fuzz_harness import fuzz_output

    assert fuzz_output(OUTPUT_CASES, seed=26, workdir=tmp_path) == []


@pytest.mark.parametrize(
    ("target", "broken", "caught"),
    [
        ("core.cli.terminal", str, "control byte"),
        ("core.report.html.script_json", lambda v: json.dumps(v), "inside a script"),
        ("core.io.encode.csv_cell", lambda v: v, "formula cell"),
    ],
)
def test_the_output_fuzz_notices_a_sink_left_open(tmp_path, monkeypatch, target, broken, caught):
    from tests.fuzz_harness import fuzz_output

    monkeypatch.setattr(target, broken)
    failures = fuzz_output(4, seed=26, workdir=tmp_path)
    assert failures and any(caught in f for f in failures), failures
