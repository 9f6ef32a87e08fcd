"""Settings: the COLLAPSE_EXPLORER_* environment, read here and nowhere else, and the settings objects.

Environment (each name prefixed with `COLLAPSE_EXPLORER_`): `ROOTS` (folders a user path may lie under,
os.pathsep-separated), `BUILDER` (`module:function` the app may import for trusted files), `FRAME_CACHE`
(where fitted projection frames are kept), and the limits of core/io/limits.py and the upload figures
of core/io/paths.py (`MAX_ELEMENTS`, `MAX_UPLOAD_BYTES`, ...). Limits are read once, when their module is
imported; roots and the builder are read when asked for, since the app and the tests change them while
running. Cached files live under `CACHE_DIR`.

Decoding settings for text generators: one frozen dataclass whose field metadata drives the UI sliders.
Each field's metadata holds `min`, `max`, `step` and `help`, so a page can build one widget per field without
repeating bounds. Impossible values raise ValueError on construction; values that are valid but have no
effect under the other settings (top-k while sampling is off) are listed by `inert_settings()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import GenerationConfig

ENV_PREFIX = "COLLAPSE_EXPLORER_"
CACHE_DIR = Path.home() / ".cache" / "collapse-explorer"


def env_text(name: str) -> str:
    """COLLAPSE_EXPLORER_<name>, stripped; "" when unset."""
    return os.environ.get(ENV_PREFIX + name, "").strip()


def env_int(name: str, default: int) -> int:
    """COLLAPSE_EXPLORER_<name> as an int (`4294967296` or `4.3e9`), else `default`."""
    text = env_text(name)
    try:
        return int(float(text)) if text else default
    except ValueError:
        return default


def thread_environment(count: int) -> None:
    """Ask OpenMP, OpenBLAS and MKL pools loaded from now on for `count` threads (unless already set)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(count))


def env_paths(name: str) -> list[Path]:
    """COLLAPSE_EXPLORER_<name> as os.pathsep-separated folders, `~` expanded and resolved."""
    return [
        Path(entry.strip()).expanduser().resolve()
        for entry in env_text(name).split(os.pathsep)
        if entry.strip()
    ]


def _knob(default: Any, low: float, high: float, step: float, help: str) -> Any:
    return field(default=default, metadata={"min": low, "max": high, "step": step, "help": help})


@dataclass(frozen=True)
class SamplingConfig:
    """How to decode: greedy, beam search or sampling. `temperature == 0` means greedy."""

    do_sample: bool = field(
        default=False,
        metadata={
            "help": "Draw tokens at random from the (filtered) distribution instead of taking the best."
        },
    )
    temperature: float = _knob(
        1.0,
        0.0,
        2.0,
        0.05,
        "Divides the logits before sampling: below 1 sharper, above 1 flatter; 0 = greedy.",
    )
    top_k: int = _knob(0, 0, 200, 1, "Sample only among the k most likely tokens; 0 = no limit.")
    top_p: float = _knob(
        1.0, 0.05, 1.0, 0.05, "Nucleus: sample among the fewest tokens whose mass reaches p."
    )
    num_beams: int = _knob(1, 1, 8, 1, "Beam search width; 1 = no beam search.")
    repetition_penalty: float = _knob(
        1.0, 1.0, 2.0, 0.05, "Divides the score of tokens already generated; 1 = no penalty."
    )
    no_repeat_ngram_size: int = _knob(0, 0, 5, 1, "Forbid repeating any n-gram of this size; 0 = off.")
    max_new_tokens: int = _knob(32, 1, 128, 1, "Longest output, in tokens.")
    seed: int = _knob(0, 0, 2**31 - 1, 1, "Random seed for sampling; the same seed gives the same outputs.")

    def __post_init__(self) -> None:
        problems = []
        if self.temperature < 0:
            problems.append(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.do_sample and self.temperature == 0:
            problems.append(
                "temperature 0 means greedy decoding, which contradicts sampling: "
                "turn sampling off or set a temperature above 0"
            )
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            problems.append(f"top_k must be >= 0 (0 = no limit), got {self.top_k}")
        if self.num_beams < 1:
            problems.append(f"num_beams must be >= 1, got {self.num_beams}")
        if self.repetition_penalty <= 0:
            problems.append(f"repetition_penalty must be > 0 (1 = none), got {self.repetition_penalty}")
        if self.no_repeat_ngram_size < 0:
            problems.append(f"no_repeat_ngram_size must be >= 0 (0 = off), got {self.no_repeat_ngram_size}")
        if self.max_new_tokens < 1:
            problems.append(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.seed < 0:
            problems.append(f"seed must be >= 0, got {self.seed}")
        if problems:
            raise ValueError("invalid sampling settings: " + "; ".join(problems))

    @property
    def sampling(self) -> bool:
        """True when tokens are drawn at random (sampling on and a temperature above 0)."""
        return self.do_sample and self.temperature > 0

    def inert_settings(self) -> list[str]:
        """Settings that are valid but change nothing under the others, one sentence each."""
        notes = []
        if not self.sampling:
            for name, neutral in (("temperature", 1.0), ("top_k", 0), ("top_p", 1.0)):
                if getattr(self, name) != neutral:
                    notes.append(f"{name} has no effect without sampling (decoding is greedy or beam search)")
        if self.sampling and self.num_beams > 1:
            notes.append("num_beams > 1 with sampling runs beam-search sampling, which is slower")
        return notes

    def effective(self) -> SamplingConfig:
        """The same decoding with the settings it ignores at their neutral values (without sampling:
        temperature, top-k, top-p and the seed), so settings that decode alike compare (and cache) equal."""
        if self.sampling:
            return self
        return replace(self, do_sample=False, temperature=1.0, top_k=0, top_p=1.0, seed=0)

    def to_generation_config(self, **token_ids: int) -> GenerationConfig:
        """The transformers GenerationConfig for these settings; `token_ids` adds pad/eos/decoder-start ids."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "num_beams": self.num_beams,
            "do_sample": self.sampling,
            "repetition_penalty": self.repetition_penalty,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            **token_ids,
        }
        # Sampling-only knobs are left unset when greedy so transformers does not warn about them.
        if self.sampling:
            kwargs.update(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        else:
            kwargs.update(temperature=None, top_k=None, top_p=None)
        from transformers import GenerationConfig  # imported late: transformers takes seconds to load

        return GenerationConfig(**kwargs)


# The decoding half of the known fix for mode collapse (the other half is an attention bridge).
SUGGESTED_SAMPLING = SamplingConfig(do_sample=True, temperature=0.7, top_p=0.9, repetition_penalty=1.2)


@dataclass(frozen=True)
class FlowConfig:
    """How a vector field is flowed and drawn: the settings the flow functions share (core.plots.flow.view,
    core.plots.flow.text, the Trajectories page), in one frozen, hashable object.

    Typical values: `steps` 10 Euler steps (the learning-to-flow default; the page offers 1-50, 0 moves
    nothing); `alpha` 0.1 step size (0.01-1: larger steps overshoot the targets); `targets` one control
    per attribute ("keep", "flip", "set 0", "set 1"; empty: the diagnosis's targets, row i flipping
    attribute i mod A);
    `sample_size` 300-500 paths drawn (the metrics always use every row); `seed` 0 for the drawn sample
    and the rows decoded.
    """

    steps: int = 10
    alpha: float = 0.1
    targets: tuple[str, ...] = ()
    sample_size: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.sample_size < 0:
            raise ValueError(f"flow steps and sample size must be >= 0, got {self.steps}, {self.sample_size}")
