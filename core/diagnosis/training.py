"""Training-health rules: from a run's logs (NaN/Inf, gradient blow-up, loss spikes, validation rising
while training falls) and from a checkpoint's weights; plus the loss components to watch against the
usual ranges the flow-field and VAE reports give.

Training is not a model family, so these rules are not in FAMILY_RULES: call `training_findings(run_log,
health)` (logs, optionally with weight health) or `weight_findings(health)` (a checkpoint alone).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..metrics import format_value
from ..metrics.training import (
    first_nonfinite,
    grad_blowup,
    group_runs,
    is_flag,
    is_grad_norm,
    is_loss,
    loss_spikes,
    pair_train_val,
    split_role,
    train_val_gap,
    val_divergence,
)
from . import SEVERITY_ORDER, Finding, Severity

if TYPE_CHECKING:
    from ..checkpoints import LoadedCheckpoint
    from ..health import WeightHealth
    from ..logs import RunLog

FIX_DIVERGED = (
    "Stabilise the update: (1) clip gradients (torch.nn.utils.clip_grad_norm_, max_norm about 1.0); with "
    "AMP call scaler.unscale_(optimizer) first so the clip sees the true gradients; (2) warm the learning "
    "rate up linearly over the first few hundred to thousand steps; (3) bound encoder outputs (LayerNorm or "
    "k * tanh before the quantizer) so one batch cannot throw latents far out; (4) give semantic heads a "
    "lower learning rate (own param group, e.g. 0.1x); (5) train the VQ part (reconstruction + commitment) "
    "alone for a few epochs before semantic losses join, then ramp their weight up. Resume from the last "
    "checkpoint saved before the trouble began."
)
FIX_VAL = (
    "Validation rising while training falls: keep the checkpoint from the epoch where validation was best "
    "(early stopping); lower the semantic head learning rate and add weight decay or dropout on the heads; "
    "start semantic losses only after a VQ warm-up; check the validation split sees the same preprocessing."
)
FIX_WEIGHTS = (
    "These weights are unusable: every forward pass through a NaN/Inf weight yields NaN. Go back to the last "
    "checkpoint with finite weights (the Training page shows the step where the logs first went NaN) and "
    "retrain from there with: " + FIX_DIVERGED.split(": ", 1)[1]
)
SPIKE_GAP = 5  # spikes fewer than this many points apart belong to one burst
HUGE_WEIGHT = 1e4  # |w| above this in a trained net almost always means a blow-up in progress
RUNNING_VAR_LOW, RUNNING_VAR_HIGH = 1e-8, 1e6


@dataclass(frozen=True)
class WatchRange:
    """Usual range of a loss component (from the flow-field and VAE reports), matched by name words."""

    words: tuple[str, ...]
    low: float | None
    high: float | None
    meaning: str

    def outside(self, level: float) -> bool:
        return (self.low is not None and level < self.low) or (self.high is not None and level > self.high)

    @property
    def span(self) -> str:
        if self.low is None:
            return f"< {self.high:g}"
        return f"> {self.low:g}" if self.high is None else f"{self.low:g}-{self.high:g}"


WATCH_RANGES = (
    WatchRange(
        ("contrastive",), 1.0, 2.0, "below 1 prototypes have merged; above 2 classes are not separating"
    ),
    WatchRange(("div", "divergence"), None, 1.0, "a field with divergence >= 1 pulls points into sinks"),
    WatchRange(("curl",), None, 0.1, "curl >= 0.1 means the field swirls instead of flowing to the target"),
    WatchRange(("identity", "idt"), 0.001, 0.01, "near 0 the field ignores its input; above 0.01 it drifts"),
    WatchRange(("kl",), 50.0, None, "KL under about 50 (with free bits) means the posterior has collapsed"),
)


@dataclass(frozen=True)
class TrainingEvent:
    """Something that went wrong in one series, at one step."""

    kind: str  # nonfinite | grad_blowup | spike | divergence | rising
    series: str
    step: float
    epoch: float | None
    value: float
    detail: str
    severity: Severity
    ratio: float | None = None  # grad_blowup: the norm over its trailing median

    def row(self) -> dict[str, object]:
        return {
            "step": int(self.step) if float(self.step).is_integer() else self.step,
            "epoch": None if self.epoch is None else int(self.epoch),
            "event": self.kind.replace("_", " "),
            "series": self.series,
            "value": format_value(self.value) if math.isfinite(self.value) else str(self.value),
            "severity": self.severity,
            "detail": self.detail,
        }


def _epoch_at(run_log: RunLog, series: str, step: float) -> float | None:
    rows = run_log.table[(run_log.table["series"] == series) & (run_log.table["step"] == step)]
    epochs = rows["epoch"].dropna()
    return float(epochs.iloc[0]) if len(epochs) else None


def _tail_level(values: np.ndarray) -> float:
    """Level a curve ended at: median of the last 10% of finite points (at least 1)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan
    return float(np.median(finite[-max(1, finite.size // 10) :]))


def _watch(name: str) -> WatchRange | None:
    words = set(re.split(r"[^a-z0-9]+", name.lower()))
    return next((w for w in WATCH_RANGES if words.intersection(w.words)), None)


def watch_table(run_log: RunLog) -> list[dict[str, object]]:
    """Loss components with a usual range from the flow-field and VAE reports, where each ended
    (median of its last 10% of points) and whether that is inside the range. These ranges are rules
    of thumb for those setups, so they are shown beside the findings rather than turned into verdicts."""
    rows = []
    for name in run_log.series_names:
        watch = _watch(name)
        if watch is None or split_role(name)[0] == "val":
            continue
        level = _tail_level(run_log.series(name)[1])
        if not math.isfinite(level):
            status = "no finite value"
        elif watch.outside(level):
            status = "below" if watch.low is not None and level < watch.low else "above"
        else:
            status = "inside"
        rows.append(
            {
                "series": name,
                "ends at": level,
                "usual": watch.span,
                "status": status,
                "meaning": watch.meaning,
            }
        )
    return rows


def detect_events(
    run_log: RunLog,
    *,
    spike_window: int = 50,
    spike_k: float = 6.0,
    grad_factor: float = 10.0,
    val_window: int = 3,
    min_rise: float = 0.25,
    unpaired_rise: float = 0.5,
) -> list[TrainingEvent]:
    """All events in a run, sorted by step. Spikes of one burst are one event (at its first point,
    with its peak value). A validation loss rising by `min_rise` while its training partner falls is a
    divergence; one rising by `unpaired_rise` otherwise (no partner, or the partner rises too) is rising."""
    events: list[TrainingEvent] = []
    names = run_log.series_names

    def add(
        kind: str,
        series: str,
        step: float,
        value: float,
        detail: str,
        severity: Severity,
        ratio: float | None = None,
    ) -> None:
        epoch = _epoch_at(run_log, series, step)
        events.append(TrainingEvent(kind, series, step, epoch, value, detail, severity, ratio))

    for name in names:
        steps, values = run_log.series(name)
        bad = first_nonfinite(steps, values)
        if bad is not None:
            count = int((~np.isfinite(values)).sum())
            add(
                "nonfinite",
                name,
                bad.step,
                bad.value,
                f"{count} of {len(values)} points non-finite",
                "collapse",
            )
        if is_grad_norm(name):
            blow = grad_blowup(steps, values, window=spike_window, factor=grad_factor)
            if blow is not None:
                add(
                    "grad_blowup",
                    name,
                    blow.step,
                    blow.value,
                    f"{blow.ratio:.1f}x its trailing median",
                    "warning",
                    blow.ratio,
                )
        elif is_loss(name) and not is_flag(values):
            for burst in group_runs(loss_spikes(values, window=spike_window, k=spike_k), gap=SPIKE_GAP):
                peak = burst[np.argmax(values[burst])]
                detail = (
                    f"{len(burst)} point(s) above median + {spike_k:g} MAD-sigma; peak {values[peak]:.4g}"
                )
                add("spike", name, float(steps[burst[0]]), float(values[peak]), detail, "warning")

    diverged = set()
    for train_name, val_name in pair_train_val(names):
        if not (is_loss(train_name) and is_loss(val_name)):
            continue
        ts, tv = run_log.series(train_name)
        vs, vv = run_log.series(val_name)
        div = val_divergence(vs, vv, ts, tv, window=val_window, min_rise=min_rise)
        if div is not None:
            diverged.add(val_name)
            detail = (
                f"{val_name} {div.val_start:.4g} -> {div.val_end:.4g} while {train_name} "
                f"{div.train_start:.4g} -> {div.train_end:.4g}"
            )
            add("divergence", val_name, div.start_step, div.val_end, detail, "warning")
    for name in names:
        if name in diverged or split_role(name)[0] != "val" or not is_loss(name):
            continue
        vs, vv = run_log.series(name)
        div = val_divergence(vs, vv, window=val_window, min_rise=unpaired_rise)
        if div is not None:
            detail = f"{div.val_start:.4g} -> {div.val_end:.4g}"
            add("rising", name, div.start_step, div.val_end, detail, "warning")
    return sorted(events, key=lambda e: (e.step, -SEVERITY_ORDER[e.severity], e.series))


def final_gap(run_log: RunLog) -> dict[str, float]:
    """Validation name -> last (val - train) gap for each train/validation pair of losses, training
    interpolated (unsmoothed) at the validation step."""
    gaps: dict[str, float] = {}
    for train_name, val_name in pair_train_val(run_log.series_names):
        ts, tv = run_log.series(train_name)
        vs, vv = run_log.series(val_name)
        gap = train_val_gap(ts, tv, vs, vv)
        finite = gap[np.isfinite(gap)]
        if finite.size:
            gaps[val_name] = float(finite[-1])
    return gaps


def _where(event: TrainingEvent) -> str:
    at = f"step {format_value(event.step)}"
    return at + (f" (epoch {int(event.epoch)})" if event.epoch is not None else "")


def training_findings(
    run_log: RunLog, health: WeightHealth | None = None, *, events: list[TrainingEvent] | None = None
) -> list[Finding]:
    """Findings (kind "training") for one run's logs, plus weight findings when `health` is given.
    Each names the step where trouble began; an "ok" finding says what was checked when nothing fired.
    `events` reuses a `detect_events(run_log)` result already computed."""
    events = detect_events(run_log) if events is None else events
    findings: list[Finding] = []
    began = {"trouble_start_step": events[0].step} if events else {}
    nonfinite = [e for e in events if e.kind == "nonfinite"]
    blowups = [e for e in events if e.kind == "grad_blowup"]
    spikes = [e for e in events if e.kind == "spike"]
    precursors: dict[str, object] = {}
    signs: list[str] = []
    if blowups:
        b = blowups[0]
        precursors |= {"grad_blowup_step": b.step, "grad_norm_ratio": b.ratio}
        signs.append(f"gradient norm {b.series} jumped {b.detail} at {_where(b)}")
    if spikes:
        series = sorted({e.series for e in spikes})
        listed = ", ".join(series[:4]) + ("..." if len(series) > 4 else "")
        precursors |= {"loss_spikes": len(spikes), "first_spike_step": spikes[0].step}
        signs.append(f"{len(spikes)} loss spike(s) in {listed} from {_where(spikes[0])}")
    if nonfinite:
        first = nonfinite[0]
        start = events[0]
        summary = (
            f"training diverged: {first.series} first NaN/Inf at {_where(first)}, {len(nonfinite)} series "
            f"went non-finite; trouble began at {_where(start)} ({start.kind.replace('_', ' ')} in {start.series})"
        )
        metrics = {
            "first_nonfinite_step": first.step,
            "nonfinite_series": len(nonfinite),
            **began,
            **precursors,
        }
        findings.append(
            Finding("training", "collapse", summary + "".join(f"; {s}" for s in signs), metrics, FIX_DIVERGED)
        )
    elif signs:
        summary = "training unstable: " + "; ".join(signs)
        findings.append(Finding("training", "warning", summary, {**began, **precursors}, FIX_DIVERGED))
    for e in (e for e in events if e.kind in ("divergence", "rising")):
        if e.kind == "divergence":
            what = "validation loss rises while training loss falls"
        else:
            what = f"validation loss {e.series} rises"
        findings.append(
            Finding(
                "training",
                "warning",
                f"{what}: {e.detail}, from {_where(e)}",
                {"divergence_step": e.step, "val_loss_end": e.value, **began},
                FIX_VAL,
            )
        )
    if not findings:
        steps = run_log.table["step"]
        span = f"steps {format_value(steps.min())}-{format_value(steps.max())}" if len(steps) else "no points"
        findings.append(
            Finding(
                "training",
                "ok",
                f"no NaN/Inf, spikes, gradient blow-up or validation divergence in "
                f"{len(run_log.series_names)} series ({span})",
                {f"val_train_gap[{k}]": v for k, v in final_gap(run_log).items()},
            )
        )
    if health is not None:
        findings.extend(weight_findings(health))
    return findings


def weight_findings(health: WeightHealth) -> list[Finding]:
    """Training verdict from a checkpoint's weights alone: NaN/Inf weights are collapse; huge weights and
    degenerate BatchNorm running variances are warnings."""
    saved = "" if health.epoch is None else f" (saved at epoch {health.epoch})"
    bad = health.nonfinite_tensors
    if bad:
        names = ", ".join(t.name for t in bad[:3]) + ("..." if len(bad) > 3 else "")
        return [
            Finding(
                "training",
                "collapse",
                f"weights{saved} hold {health.nan:,} NaN and {health.inf:,} Inf values in {len(bad)} "
                f"tensor(s) ({names}): training diverged before this checkpoint was written",
                {"nonfinite_weights": health.nan + health.inf, "nonfinite_tensors": len(bad)},
                FIX_WEIGHTS,
            )
        ]
    found: list[Finding] = []
    if health.max_abs > HUGE_WEIGHT:
        worst = max((t for t in health.weights if math.isfinite(t.max_abs)), key=lambda t: t.max_abs)
        found.append(
            Finding(
                "training",
                "warning",
                f"weights{saved} are finite but {worst.name} reaches |w| = {worst.max_abs:.3g}: "
                "a blow-up may be under way",
                {"max_abs_weight": health.max_abs},
                FIX_DIVERGED,
            )
        )
    odd = [r for r in health.running_vars if r.min < RUNNING_VAR_LOW or r.max > RUNNING_VAR_HIGH]
    if odd:
        found.append(
            Finding(
                "training",
                "warning",
                f"BatchNorm running variance out of range in {len(odd)} layer(s) ({odd[0].name}: "
                f"{odd[0].min:.3g}-{odd[0].max:.3g}); eval-mode outputs will be scaled wildly",
                {"running_var_min": min(r.min for r in odd), "running_var_max": max(r.max for r in odd)},
                "Recompute BatchNorm statistics on clean data (a pass in train mode with momentum=None), "
                "or check that the inputs were normalised when the statistics were gathered.",
            )
        )
    if not found:
        found.append(
            Finding(
                "training",
                "ok",
                f"weights{saved} finite: {health.numel:,} values, max |w| {format_value(health.max_abs)}",
                {"nonfinite_weights": 0, "max_abs_weight": health.max_abs},
            )
        )
    return found


def checkpoint_training_findings(loaded: LoadedCheckpoint) -> tuple[list[Finding], list[str]]:
    """Training findings for one checkpoint: its weight health, plus its run's logs up to the step it
    was saved at (when a log sits in its folder or the one above). Events logged after the checkpoint
    do not count against it; a later divergence becomes an "ok" note that this checkpoint predates it
    (a candidate to resume from). Returns (findings, notes on logs that could not be used)."""
    from ..errors import CollapseExplorerError
    from ..health import weight_health
    from ..logs import find_run_folder, scan_run_folder

    health = weight_health(loaded)
    findings = weight_findings(health)
    folder = find_run_folder(loaded.path)
    if folder is None:
        return findings, []
    try:
        run_log = scan_run_folder(folder)
    except CollapseExplorerError as exc:
        return findings, [f"training logs in {folder}: {exc}"]
    step = health.step
    if step is None and health.epoch is not None:
        step = run_log.step_of_epoch(health.epoch)
    if step is None:
        return findings + training_findings(run_log), []
    logged = training_findings(run_log.until(step))
    later = [e for e in detect_events(run_log) if e.kind == "nonfinite" and e.step > step]
    if later and all(f.severity == "ok" for f in logged + findings):
        logged.append(
            Finding(
                "training",
                "ok",
                f"this checkpoint (step {format_value(step)}) predates the run's divergence: "
                f"{later[0].series} went NaN/Inf at {_where(later[0])}; resume from here with the fixes",
                {"first_nonfinite_step": later[0].step},
                FIX_DIVERGED,
            )
        )
    return findings + logged, []
