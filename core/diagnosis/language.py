"""Collapse rules for fine-tuned language models: prompt-independence (`mode`), loops (`repetition`) and
a fine-tune adapter that changes nothing (`adapter`).

The prompts are probe `texts` (a seeded subsample of at most SAMPLE_SIZE), else a small built-in set of
neutral prompts, which the findings name. Continuations are greedy (sampling would make them differ by
chance and hide that they ignore the prompt) and at most MAX_NEW_TOKENS tokens long.

Thresholds:
- mode: collapse when the most common continuation is written for COLLAPSE_SHARE (80%) of prompts or more,
  or at most COLLAPSE_UNIQUE (1 in 10) of continuations are distinct; warning from WARN_SHARE (30%), below
  WARN_UNIQUE (a quarter distinct), or a prompt sensitivity below WARN_SENSITIVITY (0.2). Greedy
  continuations of a model trained on templated text repeat often (the most likely tail whatever the
  subject), so a language model is held to a quarter distinct, not the text bridge's half.
- repetition: collapse when LOOP_COLLAPSE (50%) of continuations or more loop (a unit of 1-8 words written
  3+ times back to back), warning from LOOP_WARN (10%).
- adapter (LoRA): collapse when lora_B is exactly zero in every adapted module (B·A = 0: the adapter was
  never trained and changes nothing); warning when some modules are zero, when the update is below
  TINY_UPDATE (0.01%) of the base weights, or when it changes no greedy continuation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import ProbeError
from ..metrics import is_defined
from ..metrics.language import prompt_sensitivity, repetition_metrics
from ..metrics.text import most_common_output, text_metrics
from ..sampling import SamplingConfig
from . import Finding
from .mode import SEED, probe_sample

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..probe import ProbeData

SAMPLE_SIZE = 64
MAX_NEW_TOKENS = 32
GREEDY = SamplingConfig(max_new_tokens=MAX_NEW_TOKENS)
COLLAPSE_SHARE = 0.8
COLLAPSE_UNIQUE = 0.1
WARN_SHARE = 0.3
WARN_UNIQUE = 0.25
WARN_SENSITIVITY = 0.2
LOOP_COLLAPSE = 0.5
LOOP_WARN = 0.1
TINY_UPDATE = 1e-4

# Neutral openings of plain English prose, used when no probe is given.
BUILTIN_PROMPTS = (
    "The weather today",
    "My favourite food is",
    "In the morning I",
    "The old house",
    "She opened the door and",
    "A good book",
    "The children",
    "Yesterday we went to",
)

MODE_FIX = (
    "The model writes the same continuation whatever the prompt: lower the learning rate or the number of "
    "fine-tuning steps, check that the training targets differ across examples (one repeated answer or a "
    "constant template teaches exactly this), keep the loss on the answer tokens only, and mix in general "
    "data; for RL fine-tunes, raise the KL penalty to the reference model or add an entropy bonus."
)
REPETITION_FIX = (
    "Continuations loop: decode with a repetition penalty (1.2) or no_repeat_ngram_size, and check that "
    "training examples end with the eos token (a model that never learnt to stop repeats itself)."
)
ADAPTER_FIX = (
    "The adapter changes nothing: check that its parameters were trainable and given to the optimiser "
    "(lora_B starts at zero and stays there without gradient steps), that the learning rate is not zero, "
    "and that the trained adapter, not a freshly initialised one, was saved."
)


def prompts_of(probe: ProbeData | None) -> tuple[list[str], str]:
    """(the prompts, where they came from): probe texts (a seeded subsample) or the built-in set."""
    if probe is None:
        return list(BUILTIN_PROMPTS), f"no probe: {len(BUILTIN_PROMPTS)} built-in neutral prompts"
    if not probe.texts:
        raise ProbeError(
            "a language model is probed with prompts: give probe data with `texts` (one prompt per row), "
            "or no probe for the built-in prompts"
        )
    rows = probe_sample(probe, SAMPLE_SIZE)
    return [probe.texts[i] for i in rows], f"{len(rows)} prompts from the probe"


def findings(adapter: CheckpointAdapter, probe: ProbeData | None) -> list[Finding]:
    """`adapter` (LoRA only), `mode` and `repetition` findings of a language model on the probe's prompts."""
    prompts, source = prompts_of(probe)
    out: list[Finding] = []
    spec = adapter.spec()
    continuations: list[str] | None = None
    if spec.supports_prompts:
        continuations = adapter.complete(prompts, GREEDY)
    if hasattr(adapter, "lora_modules"):
        base = adapter.complete_base(prompts, GREEDY) if continuations is not None else None
        out.append(adapter_finding(adapter, continuations, base, source))
    if continuations is None:
        why = getattr(adapter, "tokenizer_note", "") or getattr(getattr(adapter, "base", None), "note", "")
        reason = f"the model cannot continue prompts here ({why or 'no tokenizer'})"
        out += [Finding("mode", "undefined", reason), Finding("repetition", "undefined", reason)]
        return out
    out.append(mode_finding(continuations, source))
    out.append(repetition_finding(continuations, source))
    return out


def mode_metrics(continuations: list[str], source: str) -> dict[str, object]:
    """Diversity of the continuations across prompts, keyed as in METRICS."""
    metrics: dict[str, object] = dict(text_metrics(continuations, seed=SEED))
    metrics["prompt_sensitivity"] = prompt_sensitivity(continuations, seed=SEED)
    metrics["inputs"] = len(continuations)
    metrics["most_common_output"] = most_common_output(continuations) or ""
    metrics["prompts"] = source
    return metrics


def mode_finding(continuations: list[str], source: str) -> Finding:
    """Prompt-independence: the same continuation for (nearly) every prompt is a collapse."""
    metrics = mode_metrics(continuations, source)
    unique, share, sensitivity = (
        metrics["unique_output_ratio"],
        metrics["most_common_share"],
        metrics["prompt_sensitivity"],
    )
    n = len(continuations)
    if not (is_defined(unique) and is_defined(share)):
        return Finding("mode", "undefined", f"no continuations to judge ({unique})", metrics)
    common = metrics["most_common_output"]
    shown = repr(common[:80]) if common else "an empty continuation"
    summary = (
        f"{round(float(unique) * n)} distinct continuations for {n} prompts; {float(share):.0%} of prompts "
        f"get {shown}"
    )
    if is_defined(sensitivity):
        summary += f"; prompt sensitivity {float(sensitivity):.2f}"
    summary += f" (greedy, {source})"
    if float(share) >= COLLAPSE_SHARE or float(unique) <= COLLAPSE_UNIQUE:
        return Finding("mode", "collapse", "mode collapse: " + summary, metrics, MODE_FIX)
    low_sensitivity = is_defined(sensitivity) and float(sensitivity) < WARN_SENSITIVITY
    if float(share) >= WARN_SHARE or float(unique) < WARN_UNIQUE or low_sensitivity:
        return Finding(
            "mode", "warning", "continuations depend little on the prompt: " + summary, metrics, MODE_FIX
        )
    return Finding("mode", "ok", "continuations follow the prompts: " + summary, metrics)


def repetition_finding(continuations: list[str], source: str) -> Finding:
    """Loops inside continuations, by the share of continuations that loop."""
    metrics: dict[str, object] = dict(repetition_metrics(continuations))
    metrics["inputs"] = len(continuations)
    metrics["prompts"] = source
    share = metrics["looping_share"]
    if not is_defined(share):
        return Finding("repetition", "undefined", f"no continuations to judge ({share})", metrics)
    looping = round(float(share) * len(continuations))
    summary = f"{looping} of {len(continuations)} continuations loop"
    if looping:
        summary += f"; the longest repeats {metrics['loop_unit'][:60]!r} over {metrics['longest_loop']} words"
    summary += f" (greedy, {source})"
    if float(share) >= LOOP_COLLAPSE:
        return Finding("repetition", "collapse", "degenerate repetition: " + summary, metrics, REPETITION_FIX)
    if float(share) >= LOOP_WARN:
        return Finding(
            "repetition", "warning", "some continuations loop: " + summary, metrics, REPETITION_FIX
        )
    return Finding("repetition", "ok", "no repetition loops: " + summary, metrics)


def adapter_finding(
    adapter: CheckpointAdapter, tuned: list[str] | None, base: list[str] | None, source: str
) -> Finding:
    """Whether a LoRA adapter changes anything: B·A per module from the weights, and (with its base and
    prompts) the share of prompts whose continuation it changes."""
    modules = adapter.lora_modules  # type: ignore[attr-defined]
    zero = sum(m.b_zero for m in modules)
    metrics: dict[str, object] = {
        "adapted_modules": len(modules),
        "zero_b_share": zero / len(modules),
        "lora_rank": modules[0].rank,
        "lora_scale": modules[0].scale,
        "update_norm": float(np.median([m.update_norm for m in modules])),
    }
    relative = [m.relative for m in modules if np.isfinite(m.relative)]
    if relative:
        metrics["relative_update"] = float(np.median(relative))
        metrics["relative_update_max"] = float(np.max(relative))
    changed = None
    if tuned is not None and base is not None:
        changed = sum(a != b for a, b in zip(tuned, base, strict=True))
        metrics["changed_share"] = changed / len(tuned)
        metrics["prompts"] = source
    outputs = (
        f"; it changes the greedy continuation of {changed} of {len(tuned)} prompts ({source})"
        if changed is not None and tuned
        else ""
    )
    base_note = adapter.base.note  # type: ignore[attr-defined]
    if zero == len(modules):
        summary = (
            f"the fine-tune changes nothing: lora_B is exactly zero in all {len(modules)} adapted modules, so "
            f"B·A = 0 (the adapter was never trained){outputs}"
        )
        return Finding("adapter", "collapse", summary, metrics, ADAPTER_FIX)
    size = (
        f"B·A is {metrics['relative_update']:.2%} of the base weights (median of {len(modules)} modules)"
        if relative
        else f"||B·A||·scale {metrics['update_norm']:.3g} (median of {len(modules)} modules); its size relative "
        f"to the base is unknown: {base_note} (weight-only estimate)"
    )
    if zero:
        return Finding(
            "adapter",
            "warning",
            f"{zero} of {len(modules)} adapted modules were never trained (lora_B exactly zero); {size}{outputs}",
            metrics,
            ADAPTER_FIX,
        )
    if relative and metrics["relative_update"] < TINY_UPDATE:
        return Finding(
            "adapter",
            "warning",
            f"the adapter barely changes the weights: {size}{outputs}",
            metrics,
            ADAPTER_FIX,
        )
    if changed == 0:
        return Finding(
            "adapter", "warning", f"the adapter changes no output: {size}{outputs}", metrics, ADAPTER_FIX
        )
    return Finding("adapter", "ok", f"the adapter changes the model: {size}{outputs}", metrics)
