"""Training-curve events: first NaN/Inf, loss spikes, validation rising while training falls,
gradient-norm blow-up; TensorBoard-style smoothing and the train/validation gap.

All functions take `steps` and `values` as float arrays of equal length N, sorted by step, and return
indices into them (or small frozen dataclasses). NaN/Inf values are evidence of divergence, never
silently dropped: the spike and trend rules skip them and `first_nonfinite` reports them.

Why one module: the training family's curve metrics share one input convention (steps and values) and
the smoothing they are measured after.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .base import MetricInfo, Undefined, all_metrics, register_metrics

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
TRAIN_WORDS = ("train", "training", "trn")
VAL_WORDS = ("val", "valid", "validation", "eval", "dev", "test")
GRAD_PATTERN = re.compile(r"grad(ient)?[_\-/ ]?norm|gradient", re.IGNORECASE)

register_metrics(
    MetricInfo(
        "first_nonfinite_step",
        "First NaN/Inf step",
        "neither",
        "Earliest step at which any logged series became NaN or Inf; training is broken from here on.",
        "training",
        unit="step",
        good="not judged: where training broke",
    ),
    MetricInfo(
        "loss_spikes",
        "Loss spikes",
        "lower",
        "Points above median + k x MAD-sigma of the trailing window of the same series.",
        "training",
        unit="count",
        good="fewer loss spikes",
    ),
    MetricInfo(
        "val_train_gap",
        "Validation - training gap",
        "lower",
        "Last validation value minus the training value at that step (same loss, same units).",
        "training",
        unit="loss units",
        good="validation closer to training (less overfitting)",
    ),
    MetricInfo(
        "trouble_start_step",
        "Trouble began at step",
        "neither",
        "Step of the earliest event (spike, blow-up, validation rise, NaN): resume from a checkpoint before it.",
        "training",
        unit="step",
        good="not judged: where trouble began (resume from a checkpoint before it)",
    ),
    MetricInfo(
        "nonfinite_series",
        "Series with NaN/Inf",
        "lower",
        "Logged series that became NaN or Inf.",
        "training",
        unit="series",
        good="fewer logged series broken by NaN/Inf (0 is healthy)",
    ),
    MetricInfo(
        "grad_blowup_step",
        "Gradient blow-up step",
        "neither",
        "First step where a gradient norm exceeded 10x the median of its previous 50 values.",
        "training",
        unit="step",
        good="not judged: where the gradients blew up",
    ),
    MetricInfo(
        "first_spike_step",
        "First spike step",
        "neither",
        "Step of the first loss spike.",
        "training",
        unit="step",
        good="not judged: where the first loss spike came",
    ),
    MetricInfo(
        "divergence_step",
        "Validation rise began",
        "neither",
        "Step where validation was last at its best before rising (while training fell, for a divergence).",
        "training",
        unit="step",
        good="not judged: where validation began to rise",
    ),
    MetricInfo(
        "val_loss_end",
        "Validation loss reached",
        "lower",
        "Validation value at the end of the rise.",
        "training",
        unit="as logged",
        good="a lower validation value where the rise ended",
    ),
    MetricInfo(
        "nonfinite_weights",
        "NaN/Inf weights",
        "lower",
        "Weight values that are NaN or Inf (any is fatal).",
        "training",
        unit="values",
        good="fewer NaN/Inf weights (any one is fatal)",
    ),
    MetricInfo(
        "nonfinite_tensors",
        "Tensors with NaN/Inf",
        "lower",
        "Weight tensors holding NaN or Inf.",
        "training",
        unit="tensors",
        good="fewer weight tensors with NaN/Inf (0 is healthy)",
    ),
    MetricInfo(
        "max_abs_weight",
        "Max |w|",
        "neither",
        "Largest finite weight magnitude in the checkpoint.",
        "training",
        unit="as stored",
        good="not judged: its scale is the model's own; a jump between checkpoints is the signal",
    ),
    MetricInfo(
        "running_var_min",
        "Min BN running var",
        "neither",
        "Smallest BatchNorm running variance.",
        "training",
        unit="as stored",
        good="not judged: its scale is the data's own; near 0 can mean a dead channel",
    ),
    MetricInfo(
        "running_var_max",
        "Max BN running var",
        "neither",
        "Largest BatchNorm running variance.",
        "training",
        unit="as stored",
        good="not judged: its scale is the data's own; a jump between checkpoints is the signal",
    ),
    MetricInfo(
        "grad_norm_ratio",
        "Gradient-norm blow-up ratio",
        "lower",
        "Largest gradient norm divided by the median of its trailing window; >= 10 is a blow-up.",
        "training",
        unit="x trailing median",
        good="steadier gradients (10 or more is a blow-up)",
    ),
)


def ema_smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: debiased exponential moving average, float64[N].

    s_i = (w * a_{i-1} + (1 - w) * v_i) / (1 - w^k) with k finite points seen so far, so the first
    point is not pulled towards 0. Non-finite points pass through unchanged and do not update the
    average (as in TensorBoard). weight 0 returns the input.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    last, seen = 0.0, 0
    for i, x in enumerate(v):
        if not np.isfinite(x):
            continue
        last = last * weight + (1.0 - weight) * x
        seen += 1
        out[i] = last / (1.0 - weight**seen)
    return out


@dataclass(frozen=True)
class FirstNonFinite:
    """Where a series first became NaN or Inf."""

    index: int
    step: float
    value: float  # nan, inf or -inf


def first_nonfinite(steps: np.ndarray, values: np.ndarray) -> FirstNonFinite | None:
    """First NaN/Inf point of a series, or None when every value is finite."""
    bad = np.flatnonzero(~np.isfinite(np.asarray(values, dtype=np.float64)))
    if bad.size == 0:
        return None
    i = int(bad[0])
    return FirstNonFinite(i, float(steps[i]), float(values[i]))


def _trailing_median(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """For each i: (median, count) of the finite values among the `window` points before i (NaN median
    where there are none). pandas' rolling median is O(N log window)."""
    v = pd.Series(np.where(np.isfinite(values), values, np.nan).astype(np.float64)).shift(1)
    rolling = v.rolling(window, min_periods=1)
    return rolling.median().to_numpy(), rolling.count().to_numpy().astype(np.int64)


def _trailing_mad(values: np.ndarray, median: np.ndarray, window: int, at: np.ndarray) -> np.ndarray:
    """MAD of the finite values among the `window` points before each index in `at` (around `median`)."""
    v = np.where(np.isfinite(values), values, np.nan).astype(np.float64)
    padded = np.concatenate([np.full(window, np.nan), v])
    win = np.lib.stride_tricks.sliding_window_view(padded, window)[at]  # row j: the points before at[j]
    dev = np.abs(win - median[at, None])
    mad = np.full(len(at), np.nan)
    full = np.isfinite(win).all(axis=1)  # the common case: np.median is far faster than np.nanmedian
    if full.any():
        mad[full] = np.median(dev[full], axis=1)
    partial = ~full & np.isfinite(win).any(axis=1)
    if partial.any():
        mad[partial] = np.nanmedian(dev[partial], axis=1)
    return mad


def spike_threshold(median: np.ndarray, mad: np.ndarray, k: float, rel_floor: float) -> np.ndarray:
    """median + k * max(1.4826 * MAD, rel_floor * |median|): the floor stops a perfectly flat history
    (MAD 0) from calling every rounding wiggle a spike."""
    scale = np.maximum(MAD_TO_SIGMA * mad, rel_floor * np.abs(median))
    return median + k * scale


def loss_spikes(
    values: np.ndarray, *, window: int = 50, k: float = 6.0, min_history: int = 10, rel_floor: float = 0.05
) -> np.ndarray:
    """Indices of upward spikes, int64[M].

    Point i is a spike when it is finite and above `spike_threshold` of the finite values among the
    `window` points before it (trailing, so a spike does not raise its own bar), and at least
    `min_history` such values exist. k = 6 MAD-sigmas keeps ordinary minibatch noise out.
    """
    v = np.asarray(values, dtype=np.float64)
    med, count = _trailing_median(v, window)
    with np.errstate(invalid="ignore"):
        # Only points above the lowest bar the rule allows (MAD 0: the floor) need their window's MAD.
        candidates = np.flatnonzero(
            np.isfinite(v)
            & (count >= min_history)
            & (v > spike_threshold(med, np.zeros_like(med), k, rel_floor))
        )
    mad = _trailing_mad(v, med, window, candidates)
    hit = v[candidates] > spike_threshold(med[candidates], mad, k, rel_floor)
    return candidates[hit]


def group_runs(indices: np.ndarray, gap: int = 1) -> list[np.ndarray]:
    """Consecutive indices (no more than `gap` apart) -> one group each, so a burst is one event."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(idx) > gap) + 1
    return np.split(idx, cuts)


@dataclass(frozen=True)
class GradBlowup:
    """First gradient norm that exceeded `factor` x the median of its trailing window."""

    index: int
    step: float
    value: float
    ratio: float  # value / trailing median at that point
    max_ratio: float  # largest ratio anywhere in the series


def _ratio_to_median(values: np.ndarray, window: int, min_history: int) -> np.ndarray:
    """value / median of the trailing window, NaN where undefined (too little history, median <= 0)."""
    v = np.asarray(values, dtype=np.float64)
    med, count = _trailing_median(v, window)
    with np.errstate(all="ignore"):
        return np.where((count >= min_history) & (med > 0) & np.isfinite(v), v / med, np.nan)


def grad_blowup(
    steps: np.ndarray, values: np.ndarray, *, window: int = 50, factor: float = 10.0, min_history: int = 5
) -> GradBlowup | None:
    """First point where a gradient norm jumps above `factor` times its trailing median (finite values
    only; a NaN gradient norm is reported by `first_nonfinite`). None when it never does."""
    ratio = _ratio_to_median(values, window, min_history)
    hits = np.flatnonzero(ratio >= factor)
    if hits.size == 0:
        return None
    i = int(hits[0])
    return GradBlowup(i, float(steps[i]), float(values[i]), float(ratio[i]), float(np.nanmax(ratio)))


def grad_norm_ratio(values: np.ndarray, *, window: int = 50, min_history: int = 5) -> float | Undefined:
    """Largest gradient norm over the median of its trailing window (the blow-up size)."""
    ratio = _ratio_to_median(values, window, min_history)
    if not np.isfinite(ratio).any():
        return Undefined(f"fewer than {min_history} finite positive gradient norms before any point")
    return float(np.nanmax(ratio))


def align(steps_from: np.ndarray, values_from: np.ndarray, steps_to: np.ndarray) -> np.ndarray:
    """Linear interpolation of a series onto other steps (finite points only), NaN outside its range."""
    s = np.asarray(steps_from, dtype=np.float64)
    v = np.asarray(values_from, dtype=np.float64)
    ok = np.isfinite(v) & np.isfinite(s)
    if not ok.any():
        return np.full(len(steps_to), np.nan)
    return np.interp(steps_to, s[ok], v[ok], left=np.nan, right=np.nan)


def train_val_gap(
    train_steps: np.ndarray, train: np.ndarray, val_steps: np.ndarray, val: np.ndarray
) -> np.ndarray:
    """val - train at each validation step (train interpolated), float64[len(val)]; NaN where unknown."""
    return np.asarray(val, dtype=np.float64) - align(train_steps, train, val_steps)


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - x.mean()
    denom = float(np.sum(xc * xc))
    return float(np.sum(xc * (y - y.mean())) / denom) if denom > 0 else 0.0


@dataclass(frozen=True)
class Divergence:
    """Validation rising while training falls, from `start_step` to `end_step`."""

    start_index: int  # into the validation arrays
    start_step: float
    end_step: float
    val_start: float
    val_end: float
    train_start: float | None  # None when no training series was given
    train_end: float | None

    @property
    def rise(self) -> float:
        """Relative validation rise from its best in the window, e.g. 2.0 for 1.5 -> 4.5."""
        return self.val_end / self.val_start - 1.0 if self.val_start else float("inf")


def val_divergence(
    val_steps: np.ndarray,
    val: np.ndarray,
    train_steps: np.ndarray | None = None,
    train: np.ndarray | None = None,
    *,
    window: int = 3,
    min_rise: float = 0.1,
    better: Literal["lower", "higher"] = "lower",
) -> Divergence | None:
    """First window of `window` consecutive finite validation points whose least-squares trend gets
    worse and whose last value is worse than its first by the factor 1 + `min_rise`, while the training
    series (interpolated at the same steps) improves over that window. Worse is up for a quantity where
    lower is better (a loss) and down where higher is better (accuracy, BLEU): 0.9 -> 0.6 is as bad for
    an accuracy as 0.6 -> 0.9 for a loss. Without a training series only the validation change is
    required. Returns None when no window qualifies.
    """
    sign = 1.0 if better == "lower" else -1.0
    vs = np.asarray(val_steps, dtype=np.float64)
    vv = np.asarray(val, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(vv))
    if window < 2 or ok.size < window:
        return None
    tv = align(train_steps, train, vs) if train is not None and train_steps is not None else None
    for j in range(ok.size - window + 1):
        idx = ok[j : j + window]
        x, y = vs[idx], vv[idx]
        first, last = (y[0], y[-1]) if better == "lower" else (y[-1], y[0])
        if not (_slope(x, sign * y) > 0 and last >= first * (1.0 + min_rise) and last > first):
            continue
        if tv is not None:
            t = tv[idx]
            if not np.isfinite(t).all() or _slope(x, sign * t) >= 0:
                continue
        best = int(np.argmin(sign * y[:-1]))  # trouble starts where validation was last at its best
        return Divergence(
            int(idx[best]),
            float(x[best]),
            float(x[-1]),
            float(y[best]),
            float(y[-1]),
            None if tv is None else float(tv[idx[best]]),
            None if tv is None else float(tv[idx[-1]]),
        )
    return None


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def split_role(name: str) -> tuple[str | None, str]:
    """'val/cls_loss' -> ('val', 'cls_loss'); 'train_loss_step' -> ('train', 'loss'); role None when
    the name says neither. Lightning's _step/_epoch suffixes are dropped from the stem."""
    words = _words(name)
    role = None
    for w in words:
        if w in TRAIN_WORDS:
            role = "train"
        elif w in VAL_WORDS:
            role = "val"
    stem = [w for w in words if w not in TRAIN_WORDS + VAL_WORDS]
    if len(stem) > 1 and stem[-1] in ("step", "epoch"):
        stem = stem[:-1]
    return role, "_".join(stem) or "loss"


def pair_train_val(names: list[str]) -> list[tuple[str, str]]:
    """(train name, validation name) pairs of the same quantity, matched on the name without the
    train/val words: ('train_loss', 'val_loss'), ('loss/train', 'loss/val'), and a name with no role
    word counts as training ('classification', 'val_classification'). Lightning's per-epoch training
    series is preferred over its per-step one."""
    train: dict[str, list[str]] = {}
    plain: dict[str, list[str]] = {}
    val: list[tuple[str, str]] = []
    for name in names:
        role, stem = split_role(name)
        if role == "val":
            val.append((stem, name))
        else:
            (train if role == "train" else plain).setdefault(stem, []).append(name)
    pairs = []
    for stem, v in sorted(val):
        options = train.get(stem) or plain.get(stem)
        if not options:
            continue
        mirrored = [t for t in options if re.sub(r"train(ing)?", "", t) == re.sub(r"val(id(ation)?)?", "", v)]
        epochwise = [t for t in options if t.lower().endswith("epoch")]
        pairs.append(((mirrored or epochwise or options)[0], v))
    return pairs


def is_grad_norm(name: str) -> bool:
    """Series names that log gradient norms (grad_norm, grad-norm, gradient/...)."""
    return bool(GRAD_PATTERN.search(name))


# Words of logged quantities where higher is better (scores, diversity, codebook or latent use).
HIGHER_WORDS = frozenset(
    {"acc", "accuracy", "bleu", "rouge", "meteor", "chrf", "f1", "auc", "precision", "recall", "iou"}
    | {"miou", "psnr", "ssim", "map", "score", "reward", "unique", "distinct", "diversity", "active"}
    | {"used", "usage"}
)
# Words of quantities with no good direction of their own: settings, counters, norms, and the KL to the
# prior, which a healthy VAE raises while it learns to use its latents.
NEUTRAL_WORDS = frozenset(
    {"lr", "learning", "rate", "norm", "weight", "weights", "time", "samples", "tokens", "momentum"}
    | {"scale", "temperature", "kl", "epoch", "step", "steps", "batch"}
)
NOT_LOSS_WORDS = HIGHER_WORDS | (NEUTRAL_WORDS - {"kl"}) | {"perplexity", "ppl"}
PERPLEXITY_WORDS = frozenset({"perplexity", "ppl"})

Direction = Literal["lower", "higher", "neither"]

# Parts a model may have, recognised from words in its tensor names and logged series: fix texts name
# only the parts that are there.
PART_WORDS: dict[str, frozenset[str]] = {
    "quantizer": frozenset({"quantizer", "quantize", "vq", "codebook", "commitment", "codes", "code"}),
    "head": frozenset({"semantic", "classification", "classifier", "cls", "head", "heads"}),
    "language_model": frozenset({"bleu", "t5", "lm", "decoder_input_ids", "tokens"}),
}
FAMILY_PARTS: dict[str, frozenset[str]] = {
    "codebook": frozenset({"quantizer"}),
    "text": frozenset({"language_model"}),
}


def model_parts(names: Iterable[str], family: str | None = None) -> frozenset[str]:
    """Parts ('quantizer', 'head', 'language_model') named by any of `names` (tensor keys or logged
    series), plus those the model family implies."""
    found = set(FAMILY_PARTS.get(family or "", ()))
    for name in names:
        words = set(_words(name))
        if "lm" in words:  # `lm_head` is a language model's output layer, not an auxiliary head
            words -= {"head", "heads"}
        found |= {part for part, vocabulary in PART_WORDS.items() if words & vocabulary}
    return frozenset(found)


def series_direction(name: str, parts: frozenset[str] = frozenset()) -> Direction:
    """Which way a logged series should go: 'lower' (losses, errors), 'higher' (accuracy, BLEU, unique
    outputs, active units, codebook perplexity) or 'neither' (learning rates, norms, counters, KL).

    A metric key of the METRICS table (after the train/val words) gives its own direction. Perplexity
    is a codebook's usage (higher is better) in a model with a quantizer and a language model's error
    (lower is better) in one with a decoder; alone it is 'neither'. A name with no known word is a loss
    component ('recon', 'classification'), so 'lower'.
    """

    if "loss" in name.lower():
        return "lower"
    info = all_metrics().get(split_role(name)[1])
    if info is not None and info.better != "neither":
        return info.better
    words = set(_words(name))
    if words & HIGHER_WORDS:
        return "higher"
    if words & PERPLEXITY_WORDS:
        if "quantizer" in parts:
            return "higher"
        return "lower" if "language_model" in parts else "neither"
    if words & NEUTRAL_WORDS:
        return "neither"
    return "lower"


def is_loss(name: str) -> bool:
    """Series that are minimised: anything named 'loss', else any name without a word of a quantity
    that is not a loss (accuracy, lr, perplexity, diversity, norms, weights, counters ...). Component
    names such as 'train/recon', 'classification' or 'kl' count as losses."""
    words = _words(name)
    return "loss" in name.lower() or not NOT_LOSS_WORDS.intersection(words)


def is_flag(values: np.ndarray) -> bool:
    """A logged switch (at most two distinct finite values, e.g. 0/1), not a curve."""
    v = np.asarray(values, dtype=np.float64)
    return np.unique(v[np.isfinite(v)]).size <= 2


MAX_SWITCHES = 3  # a flag that flips more often is a per-step indicator, not a change of schedule


@dataclass(frozen=True)
class PhaseSwitch:
    """A logged flag (e.g. `semantic_losses_on`) changing value: the objective changed at `step`."""

    series: str
    step: float
    before: float
    after: float


def phase_switches(flags: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> list[PhaseSwitch]:
    """Where logged flags (name -> (steps, values)) change value, sorted by step. A flag that changes
    more than MAX_SWITCHES times is left out: it marks steps, not phases of the schedule."""
    found = []
    for name, (steps, values) in flags.items():
        v = np.asarray(values, dtype=np.float64)
        ok = np.flatnonzero(np.isfinite(v))
        changes = ok[1:][np.diff(v[ok]) != 0]
        if 0 < changes.size <= MAX_SWITCHES:
            prior = ok[np.searchsorted(ok, changes) - 1]
            found += [
                PhaseSwitch(name, float(steps[i]), float(v[j]), float(v[i]))
                for i, j in zip(changes, prior, strict=True)
            ]
    return sorted(found, key=lambda s: (s.step, s.series))


def phase_slices(steps: np.ndarray, switches: Iterable[float]) -> list[slice]:
    """Index ranges of a step-sorted series between phase switches (a switch step opens a new phase);
    empty phases are dropped."""
    s = np.asarray(steps, dtype=np.float64)
    cuts = [0, *(int(np.searchsorted(s, step, side="left")) for step in sorted(switches)), len(s)]
    return [slice(a, b) for a, b in itertools.pairwise(cuts) if b > a]
