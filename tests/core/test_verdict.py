"""The one-sentence fix a verdict leads with fits the kind of model that collapsed."""

import pytest

from core.diagnosis import Finding, Report
from core.report.verdict import FIX_SENTENCE, LANGUAGE_MODE_SENTENCE, verdict_of


def _verdict(kind: str, metrics: dict, severity: str = "collapse"):
    return verdict_of(
        Report("m", "x", (Finding(kind, severity, "summary. more", metrics, "Long fix. More."),))
    )


def test_a_language_model_answering_alike_is_told_to_fine_tune_gently_not_to_sample():
    language = _verdict("mode", {"prompts": 64.0, "inputs": 64.0, "unique_output_ratio": 3 / 64})
    bridge = _verdict("mode", {"inputs": 256.0, "unique_output_ratio": 1 / 256})
    assert language.fix == LANGUAGE_MODE_SENTENCE and bridge.fix == FIX_SENTENCE["mode"]
    assert language.headline == "3 distinct continuations for 64 prompts: collapsed"
    assert bridge.headline == "1 distinct output for 256 inputs: collapsed"
    assert language.details == bridge.details == "Long fix. More."


@pytest.mark.parametrize("kind", ["repetition", "adapter"])
def test_language_kinds_have_their_own_plain_fix(kind):
    verdict = _verdict(kind, {"prompts": 8.0})
    assert verdict.fix == FIX_SENTENCE[kind] and verdict.what == f"{kind} collapse"
    assert _verdict(kind, {"prompts": 8.0}, "ok").fix == ""
