"""Text-generator metrics: quality against references, and diversity across inputs (mode collapse).

BLEU is sacrebleu's corpus BLEU (0-100, default 13a tokenisation, references as one stream). Diversity is
measured across the whole corpus of outputs: distinct-n pools n-grams over every output, because averaging it
per sentence gives full marks to a model that writes the same good sentence for every input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import sacrebleu
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from .base import MetricInfo, MetricValue, Undefined, register_metrics

_TOKENIZE = Tokenizer13a()


def _empty_reason(hyps: Sequence[str]) -> Undefined | None:
    if len(hyps) == 0:
        return Undefined("no outputs")
    if not any(h.strip() for h in hyps):
        return Undefined("every output is empty")
    return None


def _check_pairs(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} outputs for {len(refs)} references")


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str]) -> MetricValue:
    """sacrebleu corpus BLEU (0-100) of outputs against one reference each."""
    _check_pairs(hyps, refs)
    return _empty_reason(hyps) or float(sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score)


def most_common_output(hyps: Sequence[str]) -> str | None:
    """The output written most often (first seen wins a tie), or None for no outputs."""
    return Counter(hyps).most_common(1)[0][0] if hyps else None


def constant_baseline_bleu(hyps: Sequence[str], refs: Sequence[str]) -> MetricValue:
    """BLEU of writing the most common output for every input: what a fully collapsed model scores."""
    _check_pairs(hyps, refs)
    reason = _empty_reason(hyps)
    if reason is not None:
        return reason
    constant = most_common_output(hyps)
    return float(sacrebleu.corpus_bleu([constant] * len(refs), [list(refs)]).score)


def unique_ratio(hyps: Sequence[str]) -> MetricValue:
    """Distinct outputs / outputs: 1 when every input gets its own sentence, 1/N when all are the same."""
    if not hyps:
        return Undefined("no outputs")
    return len(set(hyps)) / len(hyps)


def most_common_share(hyps: Sequence[str]) -> MetricValue:
    """Fraction of inputs that get the single most common output."""
    if not hyps:
        return Undefined("no outputs")
    return Counter(hyps).most_common(1)[0][1] / len(hyps)


def distinct_n(hyps: Sequence[str], n: int) -> MetricValue:
    """Distinct n-grams / n-grams, pooled over all outputs (13a tokens)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    reason = _empty_reason(hyps)
    if reason is not None:
        return reason
    grams: list[tuple[str, ...]] = []
    for hyp in hyps:
        tokens = _TOKENIZE(hyp).split()
        grams.extend(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    if not grams:
        return Undefined(f"no output has {n} tokens")
    return len(set(grams)) / len(grams)


def self_bleu(hyps: Sequence[str], max_samples: int = 100, seed: int = 0) -> MetricValue:
    """Mean sentence BLEU of each output against all the others (100 = every output alike).

    At most `max_samples` outputs are scored (chosen with `seed`), each against every other output.
    """
    reason = _empty_reason(hyps)
    if reason is not None:
        return reason
    if len(hyps) < 2:
        return Undefined("fewer than two outputs")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(hyps), size=min(max_samples, len(hyps)), replace=False)
    scores = [
        sacrebleu.sentence_bleu(hyps[i], [h for j, h in enumerate(hyps) if j != i]).score for i in chosen
    ]
    return float(np.mean(scores))


def bridge_similarity(bridge_outputs: np.ndarray) -> MetricValue:
    """Mean pairwise cosine similarity of flattened bridge outputs [N, ...] across inputs (1 = identical)."""
    flat = np.asarray(bridge_outputs, dtype=np.float64).reshape(len(bridge_outputs), -1)
    if len(flat) < 2:
        return Undefined("fewer than two inputs")
    if not np.isfinite(flat).all():
        return Undefined("bridge outputs are not finite")
    norms = np.linalg.norm(flat, axis=1)
    if (norms == 0).any():
        return Undefined("a bridge output is all zeros")
    unit = flat / norms[:, None]
    total = unit.sum(axis=0)
    n = len(unit)
    # Sum over all pairs from the norm of the sum, so no N x N matrix is built.
    return float((total @ total - n) / (n * (n - 1)))


def text_metrics(
    hyps: Sequence[str],
    refs: Sequence[str] | None = None,
    bridge_outputs: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, MetricValue]:
    """Every text metric that the inputs allow, keyed as in METRICS."""
    values: dict[str, MetricValue] = {
        "unique_output_ratio": unique_ratio(hyps),
        "most_common_share": most_common_share(hyps),
        "distinct_1": distinct_n(hyps, 1),
        "distinct_2": distinct_n(hyps, 2),
        "self_bleu": self_bleu(hyps, seed=seed),
    }
    if refs is not None:
        values["bleu"] = corpus_bleu(hyps, refs)
        values["bleu_constant_baseline"] = constant_baseline_bleu(hyps, refs)
    if bridge_outputs is not None:
        values["bridge_similarity"] = bridge_similarity(bridge_outputs)
    return values


register_metrics(
    MetricInfo(
        "bleu",
        "BLEU",
        "higher",
        "sacrebleu corpus BLEU (0-100) against the reference texts.",
        "text",
        unit="0-100",
        good="outputs closer to the reference texts",
    ),
    MetricInfo(
        "bleu_constant_baseline",
        "BLEU of the constant output",
        "neither",
        "BLEU when the most common output is written for every input; a collapsed model scores about this.",
        "text",
        unit="0-100",
        good="not judged: what writing one sentence for every input scores, the floor for BLEU",
    ),
    MetricInfo(
        "unique_output_ratio",
        "Unique outputs",
        "higher",
        "Distinct outputs / inputs: 1 = every input gets its own sentence, 1/N = one sentence for all.",
        "text",
        unit="share 0-1",
        good="more inputs get a sentence of their own",
    ),
    MetricInfo(
        "greedy_unique_output_ratio",
        "Unique outputs, greedy",
        "higher",
        "Distinct outputs / inputs for the same inputs decoded greedily: with sampling on, the share of "
        "the variety that comes from the inputs rather than from chance.",
        "text",
        unit="share 0-1",
        good="more of the variety comes from the inputs",
    ),
    MetricInfo(
        "most_common_share",
        "Most common output share",
        "lower",
        "Fraction of inputs that get the single most common output.",
        "text",
        unit="share 0-1",
        good="fewer inputs get the same sentence",
    ),
    MetricInfo(
        "distinct_1",
        "Distinct-1 (pooled)",
        "higher",
        "Distinct words / words, pooled over all outputs (not averaged per sentence).",
        "text",
        unit="share 0-1",
        good="more varied words",
    ),
    MetricInfo(
        "distinct_2",
        "Distinct-2 (pooled)",
        "higher",
        "Distinct word pairs / word pairs, pooled over all outputs.",
        "text",
        unit="share 0-1",
        good="more varied word pairs",
    ),
    MetricInfo(
        "self_bleu",
        "Self-BLEU",
        "lower",
        "Mean sentence BLEU of each output against the other outputs: 100 = all outputs alike.",
        "text",
        unit="0-100",
        good="outputs less alike (100 = all the same)",
    ),
    MetricInfo(
        "bridge_similarity",
        "Bridge output similarity",
        "lower",
        "Mean pairwise cosine of the bridge outputs across inputs: near 1 = the decoder sees the same input.",
        "text",
        unit="cosine -1 to 1",
        good="the decoder sees different inputs (near 1 = the same for all)",
    ),
)
