"""Language-model metrics beyond the text family's diversity (core.metrics.text): how much a continuation
follows its prompt, loops inside continuations, and the size of a LoRA update.

Words are sacrebleu's 13a tokens, as for distinct-n. A loop is a unit of 1 to MAX_UNIT words written
MIN_REPEATS or more times back to back ("Hi Hi Hi", "I am I am I am"); a word merely used three times in
a sentence is not one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import combinations

import numpy as np

from .base import MetricInfo, MetricValue, Undefined, register_metrics
from .text import _TOKENIZE

MAX_UNIT = 8
MIN_REPEATS = 3
MAX_PAIRS = 500


def words(text: str) -> list[str]:
    """13a tokens of a text (the tokens distinct-n counts)."""
    return _TOKENIZE(text).split()


@dataclass(frozen=True)
class Loop:
    """The longest back-to-back repetition in one text: the repeated unit, how often, words covered."""

    unit: tuple[str, ...]
    repeats: int

    @property
    def length(self) -> int:
        return len(self.unit) * self.repeats


def longest_loop(
    tokens: Sequence[str], max_unit: int = MAX_UNIT, min_repeats: int = MIN_REPEATS
) -> Loop | None:
    """The repeated unit covering the most words (ties: the shorter unit), or None when no unit of at most
    `max_unit` words repeats `min_repeats` times in a row. [a, b, a, b, a, b] -> unit (a, b), 3 repeats."""
    best: Loop | None = None
    n = len(tokens)
    for size in range(1, max_unit + 1):
        start = 0
        while start + size * min_repeats <= n:
            unit = tuple(tokens[start : start + size])
            repeats = 1
            while tuple(tokens[start + repeats * size : start + (repeats + 1) * size]) == unit:
                repeats += 1
            if repeats >= min_repeats and (best is None or size * repeats > best.length):
                best = Loop(unit, repeats)
            start += 1
    return best


def repetition_metrics(texts: Sequence[str]) -> dict[str, MetricValue | str]:
    """Share of texts holding a loop, the longest loop (words) and its unit, over `texts`."""
    if not texts:
        return {"looping_share": Undefined("no outputs"), "longest_loop": Undefined("no outputs")}
    loops = [longest_loop(words(t)) for t in texts]
    found = [loop for loop in loops if loop is not None]
    longest = max(found, key=lambda loop: loop.length) if found else None
    return {
        "looping_share": len(found) / len(texts),
        "longest_loop": longest.length if longest else 0,
        "loop_unit": " ".join(longest.unit) if longest else "",
    }


def prompt_sensitivity(texts: Sequence[str], seed: int = 0) -> MetricValue:
    """How much the continuation changes when the prompt changes: the mean word-level difference
    (1 - difflib ratio) between the continuations of two different prompts, over at most MAX_PAIRS seeded
    pairs. 0 = every prompt gets the same continuation, 1 = no two share a word in order."""
    if len(texts) < 2:
        return Undefined("fewer than two prompts")
    tokenised = [words(t) for t in texts]
    pairs = list(combinations(range(len(texts)), 2))
    if len(pairs) > MAX_PAIRS:
        rng = np.random.default_rng(seed)
        pairs = [pairs[i] for i in rng.choice(len(pairs), MAX_PAIRS, replace=False)]
    diffs = [
        1.0 - SequenceMatcher(None, tokenised[i], tokenised[j], autojunk=False).ratio() for i, j in pairs
    ]
    return float(np.mean(diffs))


register_metrics(
    MetricInfo(
        "prompt_sensitivity",
        "Prompt sensitivity",
        "higher",
        "Mean word-level difference between the continuations of two different prompts (1 - difflib "
        "ratio): 0 = the continuation ignores the prompt.",
        "language",
        unit="share 0-1",
        good="continuations follow their prompts more",
    ),
    MetricInfo(
        "looping_share",
        "Looping continuations",
        "lower",
        f"Share of continuations where a unit of 1-{MAX_UNIT} words repeats {MIN_REPEATS}+ times back to back.",
        "language",
        unit="share 0-1",
        good="fewer continuations stuck in a loop",
    ),
    MetricInfo(
        "longest_loop",
        "Longest loop",
        "lower",
        "Words covered by the longest back-to-back repetition in any continuation.",
        "language",
        unit="words",
        good="shorter repetitions in the continuations",
    ),
    MetricInfo(
        "changed_share",
        "Prompts changed by the adapter",
        "neither",
        "Share of prompts whose greedy continuation differs with the adapter from the base model's: "
        "0 = the fine-tune changes no output.",
        "language",
        unit="share 0-1",
        good="depends: 0 means the adapter changes no output; how many should change depends "
        "on what it was trained for",
    ),
    MetricInfo(
        "relative_update",
        "LoRA update / base weight",
        "neither",
        "Median over adapted modules of ||B·A||·(alpha/r) / ||W_base|| (Frobenius): 0 = the adapter changes nothing.",
        "language",
        unit="ratio",
        good="depends: 0 is an adapter that changes nothing; how large an update is right "
        "depends on the task",
    ),
    MetricInfo(
        "update_norm",
        "LoRA update norm",
        "neither",
        "Median over adapted modules of ||B·A||·(alpha/r) (Frobenius), from the adapter's weights alone.",
        "language",
        unit="Frobenius norm",
        good="not judged: the adapter's update in the weights' own scale (see its ratio to the base)",
    ),
    MetricInfo(
        "zero_b_share",
        "Untrained LoRA modules",
        "lower",
        "Share of adapted modules whose lora_B is exactly zero (its initial value): such a module changes nothing.",
        "language",
        unit="share 0-1",
        good="fewer adapted modules left untrained",
    ),
)
