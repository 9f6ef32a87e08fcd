"""Training-health rules: from a run's logs (NaN/Inf, gradient blow-up, loss spikes, validation rising
while training falls) and from a checkpoint's weights; plus the loss components to watch against the
usual ranges the flow-field and VAE reports give.

Training has no model of its own, so these rules are no family's `rules` in the family registry
(core.adapters.registry): call `training_findings(run_log, health)` (logs, optionally with weight health)
or `weight_findings(health)` (a checkpoint alone).

Why one module: the training family's rules, from logs and from weights, share the thresholds and the
fix texts they quote.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..io.errors import CollapseExplorerError
from ..io.logs import find_run_folder, scan_run_folder
from ..metrics.base import format_value
from ..metrics.health import weight_health
from ..metrics.training import (
    PhaseSwitch,
    first_nonfinite,
    grad_blowup,
    group_runs,
    is_flag,
    is_grad_norm,
    is_loss,
    loss_spikes,
    model_parts,
    pair_train_val,
    phase_slices,
    phase_switches,
    series_direction,
    split_role,
    train_val_gap,
    val_divergence,
)
from .base import SEVERITY_ORDER, Finding, Severity
from .language import log_findings

if TYPE_CHECKING:
    from ..io.checkpoints import LoadedCheckpoint
    from ..io.logs import RunLog
    from ..metrics.health import WeightHealth


def _numbered(steps: list[str]) -> str:
    return "; ".join(f"({i}) {step}" for i, step in enumerate(steps, start=1))


def _stabilise_steps(parts: frozenset[str]) -> list[str]:
    steps = [
        "clip gradients (torch.nn.utils.clip_grad_norm_, max_norm about 1.0); with AMP call "
        "scaler.unscale_(optimizer) first so the clip sees the true gradients",
        "warm the learning rate up linearly over the first few hundred to thousand steps",
    ]
    if "quantizer" in parts:
        steps.append(
            "bound encoder outputs (LayerNorm or k * tanh before the quantizer) so one batch cannot throw "
            "latents far out"
        )
    if "head" in parts:
        steps.append("give the auxiliary heads a lower learning rate (their own param group, e.g. 0.1x)")
    if {"quantizer", "head"} <= parts:
        steps.append(
            "train the VQ part (reconstruction + commitment) alone for a few epochs before the head losses "
            "join, then ramp their weight up"
        )
    if not parts & {"quantizer", "head"}:
        steps.append("if it recurs with both, lower the peak learning rate 3-10x")
    return steps


def fix_diverged(parts: frozenset[str] = frozenset()) -> str:
    """Known fix for a run that blew up, naming only the parts the model has (`model_parts`)."""
    return (
        f"Stabilise the update: {_numbered(_stabilise_steps(parts))}. Resume from the last checkpoint saved "
        "before the trouble began."
    )


def fix_weights(parts: frozenset[str] = frozenset()) -> str:
    """Known fix for NaN/Inf weights, naming only the parts the model has."""
    return (
        "These weights are unusable: every forward pass through a NaN/Inf weight yields NaN. Go back to the "
        "last checkpoint with finite weights (the Training page shows the step where the logs first went "
        f"NaN) and retrain from there with: {_numbered(_stabilise_steps(parts))}."
    )


def fix_validation(parts: frozenset[str] = frozenset(), *, paired: bool = True) -> str:
    """Known fix for validation getting worse while training improves (`paired`; else with no training
    curve to compare), naming only the parts the model has."""
    steps = [
        "keep the checkpoint from the epoch where validation was best (early stopping)",
        "regularise: weight decay, dropout or data augmentation",
    ]
    if "head" in parts:
        steps.append("lower the auxiliary heads' learning rate and regularise them first")
    if {"quantizer", "head"} <= parts:
        steps.append("start the head losses only after a VQ warm-up")
    steps.append("check that the validation split gets the same preprocessing as training")
    lead = (
        "Validation getting worse while training improves is overfitting"
        if paired
        else "Validation getting worse with no training curve to compare: if training still improves, this "
        "is overfitting"
    )
    return f"{lead}: {_numbered(steps)}."


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

    kind: str  # nonfinite | grad_blowup | spike | divergence | rising | falling
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
    parts: frozenset[str] | None = None,
) -> list[TrainingEvent]:
    """All events in a run, sorted by step. Spikes of one burst are one event (at its first point,
    with its peak value). A validation series getting worse by the factor 1 + `min_rise` while its
    training partner improves is a divergence; one worse by 1 + `unpaired_rise` otherwise (no partner,
    or the partner worsens too) is rising (a loss) or falling (a score). Which way is worse comes from
    `series_direction` (`parts`: the model's parts, default read off the series names).

    A logged flag that switches (e.g. `semantic_losses_on` 0 -> 1) changes the objective: every rule
    looks within one phase, so the jump at a planned switch is not read as instability."""
    events: list[TrainingEvent] = []
    names = run_log.series_names
    parts = model_parts(names) if parts is None else parts
    switches = [s.step for s in run_phase_switches(run_log)]

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
        for phase in phase_slices(steps, switches):
            s, v = steps[phase], values[phase]
            if is_grad_norm(name):
                blow = grad_blowup(s, v, window=spike_window, factor=grad_factor)
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
                for burst in group_runs(loss_spikes(v, window=spike_window, k=spike_k), gap=SPIKE_GAP):
                    peak = burst[np.argmax(v[burst])]
                    detail = f"{len(burst)} point(s) above median + {spike_k:g} MAD-sigma; peak {v[peak]:.4g}"
                    add("spike", name, float(s[burst[0]]), float(v[peak]), detail, "warning")

    def judged(name: str) -> str:
        _, values = run_log.series(name)
        return "neither" if is_flag(values) else series_direction(name, parts)

    diverged = set()
    for train_name, val_name in pair_train_val(names):
        better = judged(val_name)
        if better == "neither" or judged(train_name) != better:
            continue
        ts, tv = run_log.series(train_name)
        vs, vv = run_log.series(val_name)
        for phase, train_phase in zip(phase_slices(vs, switches), _matching(ts, vs, switches), strict=True):
            div = val_divergence(
                vs[phase],
                vv[phase],
                ts[train_phase],
                tv[train_phase],
                window=val_window,
                min_rise=min_rise,
                better=better,
            )
            if div is not None:
                diverged.add(val_name)
                detail = (
                    f"{val_name} {div.val_start:.4g} -> {div.val_end:.4g} while {train_name} "
                    f"{div.train_start:.4g} -> {div.train_end:.4g}"
                )
                add("divergence", val_name, div.start_step, div.val_end, detail, "warning")
                break
    for name in names:
        better = judged(name)
        if name in diverged or split_role(name)[0] != "val" or better == "neither":
            continue
        vs, vv = run_log.series(name)
        for phase in phase_slices(vs, switches):
            div = val_divergence(
                vs[phase], vv[phase], window=val_window, min_rise=unpaired_rise, better=better
            )
            if div is not None:
                kind = "rising" if better == "lower" else "falling"
                add(
                    kind,
                    name,
                    div.start_step,
                    div.val_end,
                    f"{div.val_start:.4g} -> {div.val_end:.4g}",
                    "warning",
                )
                break
    return sorted(events, key=lambda e: (e.step, -SEVERITY_ORDER[e.severity], e.series))


def _matching(train_steps: np.ndarray, val_steps: np.ndarray, switches: list[float]) -> list[slice]:
    """For each phase of the validation series, the training points of the same phase."""
    bounds = [-math.inf, *sorted(switches), math.inf]
    phases = []
    for low, high in itertools.pairwise(bounds):
        if ((val_steps >= low) & (val_steps < high)).any():
            a, b = np.searchsorted(train_steps, [low, high], side="left")
            phases.append(slice(int(a), int(b)))
    return phases


def run_phase_switches(run_log: RunLog) -> list[PhaseSwitch]:
    """Where the run's logged flags switch (a change of schedule, e.g. extra losses turned on)."""
    flags = {}
    for name in run_log.series_names:
        steps, values = run_log.series(name)
        if is_flag(values) and len(values) > 1:
            flags[name] = (steps, values)
    return phase_switches(flags)


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
    run_log: RunLog,
    health: WeightHealth | None = None,
    *,
    events: list[TrainingEvent] | None = None,
    parts: frozenset[str] | None = None,
) -> list[Finding]:
    """Findings (kind "training") for one run's logs, plus weight findings when `health` is given.
    Each names the step where trouble began; an "ok" finding says what was checked when nothing fired.
    `events` reuses a `detect_events(run_log)` result already computed; `parts` (the model's parts,
    default read off the series names) decides which fixes apply."""
    parts = model_parts(run_log.series_names) if parts is None else parts
    events = detect_events(run_log, parts=parts) if events is None else events
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
            Finding(
                "training",
                "collapse",
                summary + "".join(f"; {s}" for s in signs),
                metrics,
                fix_diverged(parts),
            )
        )
    elif signs:
        summary = "training unstable: " + "; ".join(signs)
        findings.append(Finding("training", "warning", summary, {**began, **precursors}, fix_diverged(parts)))
    partners = {val: train for train, val in pair_train_val(run_log.series_names)}
    for e in (e for e in events if e.kind in ("divergence", "rising", "falling")):
        if e.kind == "divergence":
            fix = fix_validation(parts)
        elif e.series in partners:  # its training partner got worse too: unstable, not overfitting
            fix = fix_diverged(parts)
        else:
            fix = fix_validation(parts, paired=False)
        findings.append(
            Finding(
                "training",
                "warning",
                f"{_worsening(e, parts)}: {e.detail}, from {_where(e)}",
                {"divergence_step": e.step, "val_loss_end": e.value, **began},
                fix,
            )
        )
    findings.extend(log_findings(run_log))  # fine-tuning logs: policy entropy, completion lengths
    if not findings:
        steps = run_log.table["step"]
        span = f"steps {format_value(steps.min())}-{format_value(steps.max())}" if len(steps) else "no points"
        findings.append(
            Finding(
                "training",
                "ok",
                f"no NaN/Inf, spikes, gradient blow-up or validation divergence in "
                f"{len(run_log.series_names)} series ({span}){_phases_note(run_log)}",
                {f"val_train_gap[{k}]": v for k, v in final_gap(run_log).items()},
            )
        )
    if health is not None:
        findings.extend(weight_findings(health, parts))
    return findings


def _worsening(event: TrainingEvent, parts: frozenset[str]) -> str:
    if series_direction(event.series, parts) == "higher":
        trend = "falls" if event.kind != "divergence" else "falls while training improves"
        return f"validation {event.series} {trend} (higher is better)"
    trend = "rises" if event.kind != "divergence" else "rises while training falls"
    return f"validation {event.series} {trend} (lower is better)"


def _phases_note(run_log: RunLog) -> str:
    switches = run_phase_switches(run_log)
    if not switches:
        return ""
    listed = ", ".join(
        f"{s.series} {format_value(s.before)} -> {format_value(s.after)} at step {format_value(s.step)}"
        for s in switches
    )
    return f"; each phase judged on its own, as the logged schedule switches ({listed})"


def weight_findings(health: WeightHealth, parts: frozenset[str] | None = None) -> list[Finding]:
    """Training verdict from a checkpoint's weights alone: NaN/Inf weights are collapse; huge weights and
    degenerate BatchNorm running variances are warnings. Fixes name only the model's parts (default:
    read off the tensor names)."""
    parts = model_parts(t.name for t in health.tensors) if parts is None else parts
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
                fix_weights(parts),
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
                fix_diverged(parts),
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

    health = weight_health(loaded)
    keys = list(loaded.state_dict)
    folder = find_run_folder(loaded.path)
    if folder is None:
        return weight_findings(health, model_parts(keys)), []
    try:
        run_log = scan_run_folder(folder)
    except CollapseExplorerError as exc:
        return weight_findings(health, model_parts(keys)), [f"training logs in {folder.name}/: {exc}"]
    parts = model_parts([*keys, *run_log.series_names])
    findings = weight_findings(health, parts)
    step = health.step
    if step is None and health.epoch is not None:
        step = run_log.step_of_epoch(health.epoch)
    if step is None:
        return findings + training_findings(run_log, parts=parts), []
    logged = training_findings(run_log.until(step), parts=parts)
    later = [e for e in detect_events(run_log, parts=parts) if e.kind == "nonfinite" and e.step > step]
    if later and all(f.severity == "ok" for f in logged + findings):
        logged.append(
            Finding(
                "training",
                "ok",
                f"this checkpoint (step {format_value(step)}) predates the run's divergence: "
                f"{later[0].series} went NaN/Inf at {_where(later[0])}; resume from here with the fixes",
                {"first_nonfinite_step": later[0].step},
                fix_diverged(parts),
            )
        )
    return findings + logged, []
