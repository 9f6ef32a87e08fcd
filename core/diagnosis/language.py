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
- logs (trainer_state.json / TRL, on the Training page, kind "training"): a warning when an entropy series
  ends below ENTROPY_FALL (30%) of its first value and below ENTROPY_FLOOR (0.2 nats), or when completions end with one length for every prompt
  (min = max over the last CONSTANT_POINTS logged points, after they differed).
- adapter (LoRA): collapse when lora_B is exactly zero in every adapted module (B·A = 0: the adapter was
  never trained and changes nothing); warning when some modules are zero, when the update is below
  TINY_UPDATE (0.01%) of the base weights, or when it changes no greedy continuation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..config import SamplingConfig
from ..io.errors import ProbeError
from ..metrics.base import is_defined
from ..metrics.language import prompt_sensitivity, repetition_metrics
from ..metrics.text import most_common_output, text_metrics, unique_ratio
from .base import Finding
from .text import SEED, probe_sample

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..io.logs import RunLog
    from ..io.probe import ProbeData

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


@dataclass(frozen=True)
class Continued:
    """Continuations of a prompt sample: prompts, outputs (the base model's too for a LoRA adapter on its
    base, else empty), and the mode and repetition metrics of the outputs."""

    prompts: tuple[str, ...]
    outputs: tuple[str, ...]
    base_outputs: tuple[str, ...]
    metrics: dict[str, object]


def continue_probe(
    adapter: CheckpointAdapter,
    probe: ProbeData | None,
    config: SamplingConfig = GREEDY,
    size: int = SAMPLE_SIZE,
) -> Continued:
    """Continue a seeded sample of at most `size` prompts (probe texts, else the built-in ones) with
    `config`, and measure the outputs. With sampling on, the same prompts are also continued greedily
    (`greedy_unique_output_ratio`), so chance variety can be told from prompt-driven variety."""
    prompts, source = prompts_of(probe)
    if probe is not None and len(prompts) > size:
        prompts = [probe.texts[i] for i in probe_sample(probe, size)]
        source = f"{len(prompts)} prompts from the probe"
    outputs = adapter.complete(prompts, config)
    metrics = mode_metrics(outputs, source)
    metrics.update(repetition_metrics(outputs))
    if config.sampling:
        metrics["greedy_unique_output_ratio"] = unique_ratio(adapter.complete(prompts, GREEDY))
    base: list[str] = []
    if getattr(adapter, "lora_modules", None) is not None:
        base = adapter.complete_base(prompts, config)
        metrics["changed_share"] = sum(a != b for a, b in zip(outputs, base, strict=True)) / len(outputs)
    return Continued(tuple(prompts), tuple(outputs), tuple(base), metrics)


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


ENTROPY_FALL = 0.3
# Nats: a model learning from scratch also loses most of its entropy, but keeps choices (about 1 nat on the
# demo corpus); a collapsed policy has next to none left.
ENTROPY_FLOOR = 0.2
CONSTANT_POINTS = 3
ENTROPY_FIX = (
    "The policy's entropy collapsed: it now writes (nearly) one answer. Raise the KL penalty to the reference "
    "model or add an entropy bonus, lower the learning rate, and check the reward or targets for one answer "
    "that always wins."
)
LENGTH_FIX = (
    "Every completion now has the same length, the mark of one answer for every prompt: check the outputs "
    "(Generation page) and the training targets or reward for a single winning answer."
)


def _last_name(series: str) -> str:
    return series.rsplit("/", 1)[-1].lower()


def log_findings(run_log: RunLog) -> list[Finding]:
    """Warnings (kind "training") from fine-tuning logs: a collapsing policy entropy, a completion length
    collapsing to a constant."""
    found: list[Finding] = []
    names = run_log.series_names
    for name in names:
        if "entropy" not in _last_name(name):
            continue
        steps, values = run_log.series(name)
        finite = np.isfinite(values)
        if finite.sum() < 2 or values[finite][0] <= 0:
            continue
        start, end = float(values[finite][0]), float(values[finite][-1])
        if end < ENTROPY_FALL * start and end < ENTROPY_FLOOR:
            drop = int(steps[finite][np.argmax(values[finite] < ENTROPY_FALL * start)])
            found.append(
                Finding(
                    "training",
                    "warning",
                    f"policy entropy collapses: {name} {start:.3g} -> {end:.3g} ({end / start:.0%} of its start), "
                    f"below {ENTROPY_FALL:.0%} from step {drop}",
                    {"entropy_start": start, "entropy_end": end, "entropy_collapse_step": drop},
                    ENTROPY_FIX,
                )
            )
    lows = [n for n in names if "length" in n.lower() and "min" in _last_name(n)]
    for low in lows:
        high = low.replace("min", "max")
        if high not in names:
            continue
        steps, small = run_log.series(low)
        _, large = run_log.series(high)
        if len(small) != len(large) or len(small) <= CONSTANT_POINTS:
            continue
        same = small == large
        if same[-CONSTANT_POINTS:].all() and not same.all():
            since = int(steps[len(same) - int(np.argmin(same[::-1]))])  # first point of the constant run
            found.append(
                Finding(
                    "training",
                    "warning",
                    f"completion length collapses to a constant: every completion is {small[-1]:.0f} tokens "
                    f"({low} = {high}) from step {since}",
                    {"constant_length": float(small[-1]), "constant_length_step": since},
                    LENGTH_FIX,
                )
            )
    return found
