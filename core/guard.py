"""Collapse guard: the family diagnosis run on the live model every N training steps.

`CollapseGuard(probe, every_n_steps)` takes the model being trained, puts it in eval mode under
`torch.no_grad()`, runs the same family rules as `diagnose` on the probe, and puts every module's train
flag, every parameter's `requires_grad` and the random number generators back exactly as they were, so
a guarded run trains the same as an unguarded one. On a collapse finding it warns, asks the loop to
stop, or raises `CollapseDetected`. The demo's reference models are read by their own adapters; any
other model (a public repository's VQ-VAE or VAE, the user's own class) by role through the live
adapter (core.adapters.live), which runs the model's forward with hooks where its weights are.

Each check can write its metrics as TensorBoard scalars (`collapse/<kind>/<metric>`, plus
`collapse/<kind>/severity`: 0 ok, 1 undefined, 2 warning, 3 collapse) and appends one JSON line to
`collapse_guard.jsonl` in `log_dir`; the Timeline page reads that file (core.timeline.guard_points).

Loops: `guard.check(model, step)` in a plain loop, `guard.lightning_callback()` for PyTorch Lightning
and `guard.hf_callback()` for the Hugging Face Trainer. Lightning and transformers are imported only
when their callback is asked for, so importing this module stays light.
"""

from __future__ import annotations

import importlib
import itertools
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from .adapters.live.base import evaluating
from .adapters.live.builder import adapter_from_module
from .diagnosis.base import SEVERITY_ORDER, Finding, diagnose
from .io.errors import AdapterError, CollapseExplorerError
from .io.probe import ProbeData, load_probe
from .metrics.base import is_defined
from .timeline import GUARD_FILE as FINDINGS_FILE
from .timeline import GUARD_FORMAT as FORMAT

if TYPE_CHECKING:
    from .adapters.base import CheckpointAdapter

OnCollapse = Literal["warn", "stop", "raise"]
AdapterFactory = Callable[[nn.Module], "CheckpointAdapter"]
SCALAR_PREFIX = "collapse"


class GuardError(CollapseExplorerError):
    """The guard cannot watch this model or probe (the message says what to give instead)."""


@dataclass(frozen=True)
class GuardCheck:
    """One check: the step (and epoch) it ran at, the findings, and what the guard did about them."""

    step: int
    epoch: float | None
    findings: tuple[Finding, ...]
    errors: tuple[str, ...] = ()
    adapters: tuple[str, ...] = ()
    seconds: float = 0.0
    action: str = "none"  # none | warn | stop | raise

    @property
    def collapsed(self) -> bool:
        return any(f.severity == "collapse" for f in self.findings)

    def scalars(self) -> dict[str, float]:
        """TensorBoard tag -> value: every defined numeric metric and each finding's severity level."""
        out: dict[str, float] = {}
        for finding in self.findings:
            base = f"{SCALAR_PREFIX}/{finding.kind}"
            out.setdefault(f"{base}/severity", float(SEVERITY_ORDER[finding.severity]))
            for key, value in finding.metrics.items():
                numeric = isinstance(value, int | float | np.number) and not isinstance(value, bool)
                if numeric and is_defined(value):
                    out.setdefault(f"{base}/{key}", float(value))
        return out

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "step": self.step,
            "epoch": self.epoch,
            "time": time.time(),
            "seconds": round(self.seconds, 6),
            "adapters": list(self.adapters),
            "collapsed": self.collapsed,
            "action": self.action,
            "findings": [f.to_json() for f in self.findings],
            "errors": list(self.errors),
        }


class CollapseDetected(RuntimeError):
    """Raised by a guard with `on_collapse="raise"`; `.check` holds the findings."""

    def __init__(self, check: GuardCheck) -> None:
        worst = next(f for f in check.findings if f.severity == "collapse")
        super().__init__(f"collapse at step {check.step}: {worst.kind}: {worst.summary}")
        self.check = check


def as_probe(probe: ProbeData | str | Path | np.ndarray | torch.Tensor | Mapping[str, Any]) -> ProbeData:
    """ProbeData from a probe file, an array of model inputs `x`, a list of prompts (`texts`), or a mapping
    of probe fields."""
    if isinstance(probe, ProbeData):
        return probe
    if isinstance(probe, str | Path):
        return load_probe(probe)
    if isinstance(probe, torch.Tensor | np.ndarray):
        return ProbeData(x=_numpy(probe), source="x given to the guard")
    if isinstance(probe, list | tuple) and probe and all(isinstance(t, str) for t in probe):
        return ProbeData(texts=tuple(probe), source="prompts given to the guard")
    if isinstance(probe, Mapping):
        arrays = {k: (_numpy(v) if isinstance(v, torch.Tensor | np.ndarray) else v) for k, v in probe.items()}
        try:
            return ProbeData(**arrays, source="arrays given to the guard")
        except TypeError as exc:
            raise GuardError(f"probe fields must be named like ProbeData's: {exc}") from None
    raise GuardError(
        f"probe must be ProbeData, a probe file, an array of inputs or a mapping, not {type(probe)}"
    )


def subsample(probe: ProbeData, max_rows: int | None, seed: int = 0) -> ProbeData:
    """The probe cut to `max_rows` rows (a seeded random subset, the same rows in every field), so each
    check measures the same inputs and costs a bounded amount; unchanged when it is small enough."""
    if max_rows is None or probe.n <= max_rows:
        return probe
    rows = np.sort(np.random.default_rng(seed).choice(probe.n, max_rows, replace=False))
    cut = {
        f.name: getattr(probe, f.name)[rows]
        for f in fields(probe)
        if isinstance(getattr(probe, f.name), np.ndarray)
    }
    if probe.texts:
        cut["texts"] = tuple(probe.texts[i] for i in rows)
    return replace(probe, **cut, source=f"{probe.source} ({max_rows} of {probe.n} rows)")


def _numpy(value: torch.Tensor | np.ndarray) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _reference_module(model: nn.Module) -> nn.Module | None:
    """The first reference architecture of core.models (the demo's) inside `model`, or None."""
    from .models.codebook import VQVAE
    from .models.flow import AttributeMLPField, VectorFieldNetwork
    from .models.posterior import FeatureVAE

    kinds = (VQVAE, FeatureVAE, VectorFieldNetwork, AttributeMLPField)
    # a LightningModule or a Trainer's wrapper holds the model inside
    return next((m for m in model.modules() if isinstance(m, kinds)), None)


def _reference_adapter(module: nn.Module, probe: ProbeData) -> CheckpointAdapter:
    """The reference adapter of a module `_reference_module` found."""
    from .adapters.codebook import ReferenceVQVAEAdapter
    from .adapters.flow import FlowAttrMLPAdapter, FlowNetworkAdapter, attribute_names
    from .adapters.posterior import FcMuVAEAdapter, MuLogvarVAEAdapter
    from .models.codebook import VQVAE
    from .models.flow import VectorFieldNetwork
    from .models.posterior import FeatureVAE

    if isinstance(module, VQVAE):
        return ReferenceVQVAEAdapter(module)
    if isinstance(module, FeatureVAE):
        return (FcMuVAEAdapter if module.mu_name == "fc_mu" else MuLogvarVAEAdapter)(module)
    cls = FlowNetworkAdapter if isinstance(module, VectorFieldNetwork) else FlowAttrMLPAdapter
    names = probe.attribute_names or attribute_names({}, module.num_attributes)
    return cls(module, tuple(names))


def _as_rebuilt(module: nn.Module) -> bool:
    """Whether every floating tensor of `module` is float32 on the CPU, as a checkpoint is rebuilt."""
    tensors = itertools.chain(module.parameters(), module.buffers())
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors if t.is_floating_point())


def _language_model(model: nn.Module) -> bool:
    """A transformers text generator (or a PEFT model around one): it has `generate` and a model_type."""
    return callable(getattr(model, "generate", None)) and isinstance(
        getattr(getattr(model, "config", None), "model_type", None), str
    )


def live_adapters(
    model: nn.Module,
    probe: ProbeData,
    families: tuple[str, ...] | None,
    config: Mapping | None = None,
    tokenizer: Any = None,
) -> list[CheckpointAdapter]:
    """The adapters that read `model` as it is now, one per guarded family it has.

    A reference model (core.models) as a checkpoint rebuilds it, float32 on the CPU, gets its own
    adapter. Any other module goes through the role-based live adapter (core.adapters.live), which
    finds the parts by role and runs the model's own forward with hooks, where its weights are; so does
    a reference model kept elsewhere (float64, half precision, a GPU), which the reference adapters
    would feed CPU float32 inputs. Wanted families the model lacks are skipped; GuardError when it has
    none of them, so a guard that would watch nothing says so.
    """
    if _language_model(model) and (families is None or "language" in families):
        from .adapters.language import LanguageModelAdapter

        if tokenizer is None:
            raise GuardError(
                f"{type(model).__name__} is a language model: give its tokenizer, "
                "CollapseGuard(prompts, tokenizer=tokenizer), and prompts as probe `texts`"
            )
        return [LanguageModelAdapter.live(model, tokenizer)]
    reference = _reference_module(model)
    if reference is not None and _as_rebuilt(reference):
        adapter = _reference_adapter(reference, probe)
        family = adapter.spec().family
        if families is not None and family not in families:
            raise GuardError(f"{type(model).__name__} is a {family} model: it has no {' or '.join(families)}")
        return [adapter]
    target = model if reference is None else reference
    adapters, missing = [], []
    for family in families if families is not None else (None,):
        try:
            adapters.append(adapter_from_module(target, family=family, config=config, probe_x=probe.x))
        except AdapterError as exc:
            missing.append(str(exc))
    if not adapters:
        raise GuardError("; ".join(missing))
    return adapters


@dataclass
class CollapseGuard:
    """Diagnose the live model on `probe` every `every_n_steps` steps.

    probe: ProbeData, a probe file, model inputs x [N, ...] or a mapping of probe fields.
    families: the families to diagnose (e.g. ("codebook",)); None: whatever the model is.
    on_collapse: "warn" (a warning, training goes on), "stop" (`should_stop` becomes True; the
    callbacks stop their trainer) or "raise" (CollapseDetected).
    log_dir: folder for TensorBoard scalars and `collapse_guard.jsonl`; None writes nothing (the
    callbacks default it to their trainer's log folder).
    adapter: your own function model -> CheckpointAdapter, for a model no adapter reads.
    tokenizer: the tokenizer of a language model (transformers causal LM or seq2seq, PEFT or not): each
    check continues the probe's `texts` (prompts) greedily and judges `mode` and `repetition`.
    max_rows: probe rows per check for the posterior, flow and text families (a fixed seeded subset;
    None: all). A check runs the model forward on them, so they set its cost: 128 rows keep a check
    of every demo model under 5% of one of its training epochs and give the verdicts all rows give
    (benchmarks/bench_guard.py). Codebook checks always use the whole probe: usage needs more tokens
    than codes, and counting codes is cheap.
    """

    probe: Any
    every_n_steps: int = 200
    families: tuple[str, ...] | None = None
    on_collapse: OnCollapse = "warn"
    log_dir: str | Path | None = None
    adapter: AdapterFactory | None = None
    config: Mapping | None = None
    tensorboard: bool = True
    max_rows: int | None = 128
    tokenizer: Any = None
    checks: list[GuardCheck] = field(default_factory=list, init=False)
    stopped_at: int | None = field(default=None, init=False)
    _cut: ProbeData = field(default=None, init=False, repr=False)  # type: ignore[assignment]
    _writer: Any = field(default=None, init=False, repr=False)
    _last_step: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if int(self.every_n_steps) != self.every_n_steps or self.every_n_steps < 1:
            raise GuardError(f"every_n_steps must be a positive integer, got {self.every_n_steps!r}")
        if self.on_collapse not in ("warn", "stop", "raise"):
            raise GuardError(f"on_collapse must be 'warn', 'stop' or 'raise', got {self.on_collapse!r}")
        if isinstance(self.families, str):
            self.families = (self.families,)
        self.probe = as_probe(self.probe)
        self._cut = subsample(self.probe, self.max_rows)

    @property
    def should_stop(self) -> bool:
        """True once a check found a collapse with on_collapse="stop"."""
        return self.stopped_at is not None

    def due(self, step: int) -> bool:
        """A check is due every `every_n_steps` steps, once per step (gradient accumulation repeats steps)."""
        return step > 0 and step % self.every_n_steps == 0 and step != self._last_step

    def check(self, model: nn.Module, step: int, *, epoch: float | None = None) -> GuardCheck | None:
        """Run a check when one is due at `step` (see `due`); None otherwise."""
        return self.run(model, step, epoch=epoch) if self.due(step) else None

    def run(
        self, model: nn.Module, step: int, *, epoch: float | None = None, write_scalars: bool = True
    ) -> GuardCheck:
        """Diagnose `model` now, log the result, and act on a collapse (warn, stop or raise)."""
        start = time.perf_counter()
        findings: list[Finding] = []
        errors: list[str] = []
        names: list[str] = []
        with evaluating(model):
            try:
                adapters = [self.adapter(model)] if self.adapter else self._adapters(model)
            except CollapseExplorerError as exc:
                adapters, errors = [], [" ".join(str(exc).split())]
            for adapter in adapters:
                probe = self.probe if adapter.spec().family == "codebook" else self._cut
                names.append(adapter.name)
                try:
                    report = diagnose(adapter, probe, f"step {step}")
                except CollapseExplorerError as exc:  # a probe that does not fit: warn, keep training
                    errors.append(" ".join(str(exc).split()))
                    continue
                findings.extend(report.findings)
                errors.extend(report.errors)
        collapsed = any(f.severity == "collapse" for f in findings)
        check = GuardCheck(
            int(step),
            epoch,
            tuple(findings),
            tuple(errors),
            tuple(names),
            seconds=time.perf_counter() - start,
            action=self.on_collapse if collapsed else "none",
        )
        self._last_step = check.step
        self.checks.append(check)
        self._write(check, write_scalars)
        if errors and not findings:
            warnings.warn(f"collapse guard at step {step} decided nothing: {'; '.join(errors)}", stacklevel=2)
        if check.collapsed:
            self._act(check)
        return check

    def _adapters(self, model: nn.Module) -> list[CheckpointAdapter]:
        return live_adapters(model, self.probe, self.families, self.config, self.tokenizer)

    def _act(self, check: GuardCheck) -> None:
        if self.on_collapse == "raise":
            raise CollapseDetected(check)
        if self.on_collapse == "stop" and self.stopped_at is None:
            self.stopped_at = check.step
        worst = next(f for f in check.findings if f.severity == "collapse")
        warnings.warn(f"collapse at step {check.step}: {worst.kind}: {worst.summary}", stacklevel=3)

    def _write(self, check: GuardCheck, write_scalars: bool) -> None:
        if self.log_dir is None:
            return
        folder = Path(self.log_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / FINDINGS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(check.to_json(), allow_nan=False) + "\n")
        if write_scalars and self.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(folder))
            for tag, value in check.scalars().items():
                self._writer.add_scalar(tag, value, check.step)
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard writer (a later check opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def lightning_callback(self, package: str = "lightning.pytorch") -> Any:
        """A Lightning `Callback` that runs this guard (`package="pytorch_lightning"` for the old name)."""
        return _lightning_class(package)(self)

    def hf_callback(self) -> Any:
        """A Hugging Face `TrainerCallback` that runs this guard."""
        return _hf_class()(self)


_CALLBACK_CLASSES: dict[str, type] = {}


def _lightning_class(package: str) -> type:
    """The Lightning callback class, built on first use against the Lightning package in use."""
    if package not in ("lightning.pytorch", "pytorch_lightning"):
        raise GuardError(f"package must be 'lightning.pytorch' or 'pytorch_lightning', got {package!r}")
    if package in _CALLBACK_CLASSES:
        return _CALLBACK_CLASSES[package]
    base = importlib.import_module(package).Callback

    class CollapseGuardCallback(base):
        """Runs the guard after each optimiser step; metrics go through the trainer's loggers."""

        def __init__(self, guard: CollapseGuard) -> None:
            super().__init__()
            self.guard = guard

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            guard = self.guard
            step = int(trainer.global_step)
            if not guard.due(step):
                return
            if guard.log_dir is None:
                guard.log_dir = trainer.log_dir or trainer.default_root_dir
            loggers = list(trainer.loggers)
            check = guard.run(pl_module, step, epoch=trainer.current_epoch, write_scalars=not loggers)
            for logger in loggers:
                logger.log_metrics(check.scalars(), step=step)
            if guard.should_stop:
                trainer.should_stop = True

        def on_train_end(self, trainer, pl_module) -> None:
            self.guard.close()

    _CALLBACK_CLASSES[package] = CollapseGuardCallback
    return CollapseGuardCallback


def _hf_class() -> type:
    """The Hugging Face TrainerCallback class, built on first use."""
    if "transformers" in _CALLBACK_CLASSES:
        return _CALLBACK_CLASSES["transformers"]
    from transformers import TrainerCallback

    class CollapseGuardTrainerCallback(TrainerCallback):
        """Runs the guard at each step end; the metrics also join `state.log_history`
        (trainer_state.json, which the Training page reads)."""

        def __init__(self, guard: CollapseGuard) -> None:
            self.guard = guard

        def on_step_end(self, args, state, control, model=None, **kwargs):
            guard = self.guard
            step = int(state.global_step)
            if model is None or not guard.due(step):
                return control
            if guard.log_dir is None:
                guard.log_dir = getattr(args, "logging_dir", None) or args.output_dir
            epoch = None if state.epoch is None or not math.isfinite(state.epoch) else float(state.epoch)
            check = guard.run(model, step, epoch=epoch)
            state.log_history.append({**check.scalars(), "step": step})
            if guard.should_stop:
                control.should_training_stop = True
            return control

        def on_train_end(self, args, state, control, **kwargs):
            self.guard.close()
            return control

    _CALLBACK_CLASSES["transformers"] = CollapseGuardTrainerCallback
    return CollapseGuardTrainerCallback
