"""Mode-collapse rules for text generators: one sentence (or a few) written for every input.

The probe embeddings (a seeded subsample) are decoded greedily; the verdict reads the unique-output ratio,
the share of the most common output and how far BLEU is above the BLEU of writing that output everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..config import SUGGESTED_SAMPLING, SamplingConfig
from ..io.errors import ProbeError
from ..metrics.base import Undefined, format_value, is_defined
from ..metrics.text import most_common_output, text_metrics, unique_ratio
from .base import Finding

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..io.probe import ProbeData

SAMPLE_SIZE = 64
SEED = 0
# Thresholds: at most 1 distinct output in 10 inputs, or half the inputs on one sentence, is collapse.
COLLAPSE_UNIQUE = 0.1
COLLAPSE_SHARE = 0.5
WARN_UNIQUE = 0.5
WARN_SHARE = 0.2
# Mean cosine of bridge outputs across inputs above which the decoder cannot tell inputs apart.
BRIDGE_SAME = 0.99
# BLEU points above the constant-output baseline below which references are not being followed.
BLEU_MARGIN = 1.0

FIX = (
    "Let the decoder see the embedding: replace the additive bridge with an attention bridge, where 32 learned "
    "queries attend to the embedding (nn.MultiheadAttention) before T5; then decode by sampling with a "
    f"repetition penalty ({SUGGESTED_SAMPLING.repetition_penalty}), temperature "
    f"({SUGGESTED_SAMPLING.temperature}) and top-p ({SUGGESTED_SAMPLING.top_p})."
)
ATTENTION_FIX = (
    "The attention bridge already lets the decoder see the embedding: check that its queries still differ "
    "across inputs (bridge output similarity near 1 means they do not) and retrain it with a diversity term if "
    "not; decode by sampling with a "
    f"repetition penalty ({SUGGESTED_SAMPLING.repetition_penalty}), temperature "
    f"({SUGGESTED_SAMPLING.temperature}) and top-p ({SUGGESTED_SAMPLING.top_p})."
)


def mode_fix(parts: tuple[str, ...]) -> str:
    """The known fix for the model's parts: an attention bridge is not told to become one."""
    return ATTENTION_FIX if "attention bridge" in parts else FIX


def probe_sample(probe: ProbeData, size: int = SAMPLE_SIZE, seed: int = SEED) -> np.ndarray:
    """Sorted row indices of a seeded subsample of at most `size` probe rows."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(probe.n, size=min(size, probe.n), replace=False))


@dataclass(frozen=True)
class Decoded:
    """Outputs for a probe subsample: row indices, references (may be empty), outputs, text metrics."""

    rows: np.ndarray
    references: tuple[str, ...]
    outputs: tuple[str, ...]
    metrics: dict[str, object]


def _require_embeddings(probe: ProbeData | None) -> np.ndarray:
    if probe is None or probe.embeddings is None:
        raise ProbeError(
            "mode-collapse diagnosis needs probe embeddings: pass --data with an `embeddings [N, D]` array "
            "(and `texts` references for BLEU), or put probe.npz beside the checkpoint"
        )
    return probe.embeddings


def decode_probe(
    adapter: CheckpointAdapter,
    probe: ProbeData | None,
    config: SamplingConfig,
    size: int = SAMPLE_SIZE,
) -> Decoded:
    """Decode a seeded subsample of `size` probe embeddings with `config` and measure the outputs.

    With sampling on, the same inputs are also decoded greedily (`greedy_unique_output_ratio`): random
    draws make outputs differ even when the model ignores its input, and the greedy outputs show how
    much of the variety comes from the inputs."""
    embeddings = _require_embeddings(probe)
    rows = probe_sample(probe, size)
    hyps = adapter.generate(embeddings[rows], config)
    refs = tuple(probe.texts[i] for i in rows) if probe.texts else ()
    bridge = getattr(adapter, "bridge_outputs", None)
    outputs = bridge(embeddings[rows]) if bridge is not None else None
    # Without a tokenizer the outputs are token ids: diversity reads them as tokens, BLEU cannot.
    ids_only = getattr(adapter, "tokenizer", True) is None
    metrics: dict[str, object] = dict(
        text_metrics(hyps, None if ids_only else refs or None, outputs, seed=SEED)
    )
    if ids_only:
        metrics["bleu"] = Undefined(f"BLEU needs a tokenizer ({getattr(adapter, 'tokenizer_note', '')})")
    if config.sampling:
        metrics["greedy_unique_output_ratio"] = unique_ratio(
            adapter.generate(embeddings[rows], SamplingConfig())
        )
    metrics["inputs"] = len(hyps)
    metrics["most_common_output"] = most_common_output(hyps) or ""
    return Decoded(rows, refs, tuple(hyps), metrics)


# Sampled outputs at least this many times more varied than greedy ones owe their variety to chance.
NOISE_FACTOR = 2.0


def sampling_noise(metrics: dict[str, object]) -> str | None:
    """Why the diversity of sampled outputs comes from sampling noise rather than from the inputs (the
    greedy outputs of the same inputs are far less varied, or the bridge hands the decoder the same
    input for every embedding), or None when it does not."""
    sampled, greedy = metrics.get("unique_output_ratio"), metrics.get("greedy_unique_output_ratio")
    if not (is_defined(sampled) and is_defined(greedy)):
        return None
    n = int(metrics.get("inputs", 0))
    similarity = metrics.get("bridge_similarity")
    same_input = is_defined(similarity) and float(similarity) >= BRIDGE_SAME
    noisy = float(greedy) <= WARN_UNIQUE and float(sampled) >= NOISE_FACTOR * float(greedy)
    if not (noisy or (same_input and float(sampled) > float(greedy))):
        return None
    text = (
        f"{round(float(sampled) * n)} distinct outputs for {n} inputs under sampling, but greedy decoding "
        f"writes {round(float(greedy) * n)}: the variety comes from sampling noise, not from the inputs"
    )
    if same_input:
        text += f" (the bridge hands the decoder nearly the same input for every embedding, cosine {float(similarity):.3f})"
    return text


LIVE_FIX = (
    "Mode collapse in a trained text model: check that the decoder attends to the source (cross-attention "
    "weights that are uniform or ignored, a context vector that is the same for every input), lower the "
    "label smoothing or the weight of any term that rewards a generic output, and compare greedy with "
    "sampled decoding (repetition penalty, temperature, top-p) on the same inputs."
)


def live_text_findings(adapter: CheckpointAdapter, probe: ProbeData | None) -> list[Finding]:
    """A live text model decoded greedily on a seeded subsample of probe token ids x (kind "mode")."""
    tokenizer = getattr(adapter, "tokenizer", None)
    if probe is None or (probe.x is None and not (probe.texts and tokenizer is not None)):
        return [
            Finding(
                "mode",
                "undefined",
                "a live text model needs probe token ids x [N, T] (or texts, with a module tokenizer) to decode",
            )
        ]
    rows = probe_sample(probe)
    if probe.x is not None:
        inputs = probe.x[rows]
        refs = tuple(probe.texts[i] for i in rows) if probe.texts else None
    else:  # the texts are the inputs here, not references
        from ..adapters.live.text import encode_texts

        inputs, refs = encode_texts(tokenizer, tuple(probe.texts[i] for i in rows)), None
    hyps = adapter.greedy_outputs(inputs)  # type: ignore[attr-defined]
    ids_only = tokenizer is None
    metrics: dict[str, object] = dict(text_metrics(hyps, None if ids_only else refs, seed=SEED))
    if ids_only:
        metrics["bleu"] = Undefined(f"BLEU needs a tokenizer ({getattr(adapter, 'tokenizer_note', '')})")
    metrics["inputs"] = len(hyps)
    metrics["most_common_output"] = most_common_output(hyps) or ""
    finding = _verdict(metrics, LIVE_FIX)
    distinct = ", ".join(f"distinct-{n} {format_value(metrics[f'distinct_{n}'], 3)}" for n in (1, 2))
    detail = f"; pooled over all outputs {distinct}; {adapter.spec().description}"
    return [Finding(finding.kind, finding.severity, finding.summary + detail, finding.metrics, finding.fix)]


def findings(adapter: CheckpointAdapter, probe: ProbeData | None) -> list[Finding]:
    """Greedy-decode a probe subsample and judge mode collapse (kind "mode")."""
    if hasattr(adapter, "greedy_outputs"):
        return live_text_findings(adapter, probe)
    _require_embeddings(probe)
    if not adapter.spec().supports_generation:
        return [Finding("mode", "undefined", f"adapter {adapter.name!r} cannot generate text")]
    return [_verdict(decode_probe(adapter, probe, SamplingConfig()).metrics, mode_fix(adapter.spec().parts))]


def _verdict(metrics: dict[str, object], fix: str = FIX) -> Finding:
    unique, share = metrics["unique_output_ratio"], metrics["most_common_share"]
    bleu, baseline = metrics.get("bleu"), metrics.get("bleu_constant_baseline")
    n = metrics["inputs"]
    if not (is_defined(unique) and is_defined(share)):
        return Finding("mode", "undefined", f"no outputs to judge ({unique})", metrics)
    distinct = round(float(unique) * n)
    common = f"{float(share):.0%} of inputs get {metrics['most_common_output']!r}"
    summary = f"{distinct} distinct outputs for {n} inputs; {common}"
    bleu_reason = metrics.get("bleu")
    if isinstance(bleu_reason, Undefined) and "tokenizer" in bleu_reason.reason:
        summary += "; judged from generated token ids (no tokenizer: BLEU needs one)"
    near_baseline = is_defined(bleu) and is_defined(baseline) and float(bleu) - float(baseline) < BLEU_MARGIN
    if near_baseline:
        summary += f"; BLEU {float(bleu):.1f} is no better than writing that output everywhere ({float(baseline):.1f})"
    similarity = metrics.get("bridge_similarity")
    if is_defined(similarity) and float(similarity) >= BRIDGE_SAME:
        summary += f"; the bridge hands T5 nearly the same input for every embedding (cosine {float(similarity):.3f})"
    if float(unique) <= COLLAPSE_UNIQUE or float(share) >= COLLAPSE_SHARE:
        summary += (
            "; judged with greedy decoding, since sampling would make outputs differ by chance and hide "
            "that they do not follow the inputs"
        )
        return Finding("mode", "collapse", "mode collapse: " + summary, metrics, fix)
    if float(unique) < WARN_UNIQUE or float(share) >= WARN_SHARE or near_baseline:
        return Finding("mode", "warning", "low output diversity: " + summary, metrics, fix)
    return Finding("mode", "ok", "outputs follow the inputs: " + summary, metrics)
