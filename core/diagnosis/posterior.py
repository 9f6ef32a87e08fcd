"""Posterior-collapse rules for VAEs: latents that carry nothing and a decoder that ignores them.

With probe `x` the verdict is measured (active units, KL per dimension, reconstruction diversity).
Without it, an estimate from the weights says which latents the decoder ignores (a rebuilt decoder run
on prior samples) or, when the model cannot be rebuilt, which units the heads and the decoder's input
layer leave out (the summary says "estimate" and names its assumption).

Some inactive units are not collapse: a VAE given more latents than its data has factors of variation
leaves the rest at the prior (6 of 16 active on data with 6 factors is healthy), so that is a warning
with the count. Collapse is (nearly) every unit inactive, or a decoder that ignores z.

Why one module: the measured verdict, the weight-only estimate, the learned-prior and variance-reading
texts and the run timeline share one analysis (PosteriorAnalysis) and one set of thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..adapters.registry import build_adapter
from ..io.checkpoints import load_checkpoint
from ..io.errors import AdapterError, ProbeError
from ..io.paths import checkpoint_files
from ..metrics.base import MetricValue, Undefined, format_value, is_defined
from ..metrics.posterior import (
    ACTIVE_THRESHOLD,
    active_units,
    as_logvar,
    dead_dims_estimate,
    decoder_sensitivity,
    diversity_ratio,
    floor_fraction,
    from_logvar,
    input_spread,
    kl_per_dim,
    kl_to_mixture,
    mu_variance,
    prior_spread,
    sigma_per_dim,
    weight_only_units,
)
from .base import SEVERITY_ORDER, Finding, Severity
from .memo import of_inputs

if TYPE_CHECKING:
    from ..adapters.base import CheckpointAdapter
    from ..adapters.posterior import HeadWeights
    from ..io.probe import ProbeData

COLLAPSE_ACTIVE = 0.125  # (nearly) every unit inactive: at most 1 in 8 active
COLLAPSE_DIVERSITY = 0.2  # reconstructions keep under a fifth of the inputs' spread: the decoder ignores z
WARN_DIVERSITY = 0.4
ESTIMATE_SAMPLES = 64
SEED = 0

FIX = (
    "Posterior collapse fixes: "
    "(1) normalise features channel-wise (per-feature mean / std from the training set) so a few "
    "large-scale features do not dominate and the reconstruction term is on the scale of the KL; "
    "(2) keep the KL term (weight ~1, reconstruction summed over features, not averaged) but with "
    "free bits: a per-dimension floor such as max(KL_j, 0.5 nats), so the optimiser gains nothing by "
    "pushing a latent to the prior; "
    "(3) add a cosine term on reconstructions, (1 - cos(x_hat, x)), so predicting the average input "
    "is penalised; KL annealing from 0 over the first epochs also helps."
)


@dataclass(frozen=True)
class PosteriorAnalysis:
    """Posterior statistics of one model on probe inputs x [N, F].

    mu, logvar [N, Z]; recon [N, F] = decode(mu) (the model's own reconstructions when it cannot decode,
    None when it can do neither); kl, mu_var, sigma [Z] (or Undefined); metrics by key.
    """

    mu: np.ndarray
    logvar: np.ndarray
    recon: np.ndarray | None
    kl: np.ndarray | Undefined
    mu_var: np.ndarray | Undefined
    sigma: np.ndarray | Undefined
    metrics: dict[str, MetricValue]

    @property
    def active_mask(self) -> np.ndarray | None:
        """bool [Z]: Var_x(mu_j) >= 0.01, or None when undefined."""
        return None if isinstance(self.mu_var, Undefined) else self.mu_var >= ACTIVE_THRESHOLD


def _percent(value: MetricValue) -> str:
    return str(value) if isinstance(value, Undefined) else f"{100 * float(value):.0f}%"


def _summary_stats(values: np.ndarray | Undefined, reduce: str) -> MetricValue:
    if isinstance(values, Undefined):
        return values
    return float(getattr(np, reduce)(values))


def analyse(adapter: CheckpointAdapter, x: np.ndarray, floor: float = 0.0) -> PosteriorAnalysis:
    """Encode probe inputs, decode their posterior means and measure collapse (metrics keyed as METRICS)."""
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise ProbeError(f"probe x must be [N, features] with N >= 1, got shape {x.shape}")
    if not adapter.spec().supports_posterior:
        raise AdapterError(
            f"{adapter.name}: this VAE cannot run from its weights alone (only its heads were read); "
            "give your own model class with --builder module:function to measure it on probe x"
        )
    mu, logvar = adapter.posterior(x)
    rebuilt = _reconstructions(adapter, x, mu)
    recon = None if isinstance(rebuilt, Undefined) else rebuilt
    kl = kl_per_dim(mu, logvar)
    var = mu_variance(mu)
    sigma = sigma_per_dim(logvar)
    au = active_units(mu)
    z = mu.shape[1]
    metrics: dict[str, MetricValue] = {
        "latent_dim": z,
        "probe_rows": len(x),
        "active_units": au,
        "active_fraction": au if isinstance(au, Undefined) else au / z,
        "kl_total": _summary_stats(kl, "sum"),
        "kl_dim_min": _summary_stats(kl, "min"),
        "free_bits_floor": floor,
        "floor_fraction": floor_fraction(kl, floor),
        "mean_sigma": _summary_stats(sigma, "mean"),
        "diversity_ratio": _recon_diversity(rebuilt, x),
    }
    metrics.update(_learned_prior(adapter, mu, logvar))
    return PosteriorAnalysis(mu, logvar, recon, kl, var, sigma, metrics)


def _recon_diversity(recon: np.ndarray | Undefined | None, x: np.ndarray) -> MetricValue:
    """Reconstruction spread over input spread, undefined (with why) where reconstructions and inputs
    cannot be compared: none, token scores [N, T, V] for token ids [N, T], or another width."""
    if isinstance(recon, Undefined):
        return recon
    if recon is None:
        return Undefined("the model can neither decode mu nor reconstruct its inputs")
    flat = x.reshape(len(x), -1)
    if recon.shape != flat.shape:
        ids = " (token ids in, scores over a vocabulary out)" if x.dtype.kind in "iu" else ""
        return Undefined(
            f"reconstructions have {recon.shape[1]:,} values per input and inputs {flat.shape[1]:,}{ids}: "
            "their spreads cannot be compared"
        )
    if x.dtype.kind in "iu" and x.ndim == 2:
        return Undefined("inputs are integer ids: their Euclidean spread means nothing")
    return _diversity(recon, flat)


def _learned_prior(adapter: CheckpointAdapter, mu: np.ndarray, logvar: np.ndarray) -> dict[str, MetricValue]:
    """KL to the model's own learned mixture prior and units active against that prior's spread."""
    tables = getattr(adapter, "prior_tables", lambda: None)()
    if tables is None:
        return {}
    prior_mu, prior_logvar = tables
    if prior_mu.shape[1] != mu.shape[1]:
        reason = Undefined(f"the prior's tables are {prior_mu.shape[1]}-dim, the posterior {mu.shape[1]}-dim")
        return {"kl_learned_prior": reason, "active_units_learned_prior": reason}
    spread = prior_spread(prior_mu, prior_logvar)
    return {
        "kl_learned_prior": kl_to_mixture(mu, logvar, prior_mu, prior_logvar, seed=SEED),
        "active_units_learned_prior": active_units(mu, ACTIVE_THRESHOLD * spread),
        "prior_components": len(prior_mu),
    }


def _diversity(recon: np.ndarray, flat: np.ndarray) -> MetricValue:
    """diversity_ratio with the inputs' spread paid once per probe (finite inputs only: NaN rows make
    the ratio undefined before the spread is read)."""
    if len(flat) < 2 or not np.isfinite(flat).all():
        return diversity_ratio(recon, flat)
    return diversity_ratio(recon, flat, spread=of_inputs("input_spread", flat, lambda: input_spread(flat)))


def _reconstructions(
    adapter: CheckpointAdapter, x: np.ndarray, mu: np.ndarray
) -> np.ndarray | Undefined | None:
    """decode(mu) [N, F] when the adapter decodes, else its own reconstructions of x, else None; a model
    whose decode or forward does not take them (a text decoder wanting target ids) is Undefined."""
    try:
        if adapter.spec().supports_decode:
            return adapter.decode(mu)
        reconstruct = getattr(adapter, "reconstruct", None)
        return None if reconstruct is None else reconstruct(x)
    except ProbeError as exc:
        return Undefined(f"no reconstructions: {exc}")


def estimate_dead_dims(adapter: CheckpointAdapter) -> tuple[np.ndarray | Undefined, dict[str, MetricValue]]:
    """ESTIMATE without probe data: bool [Z] dead mask and its metrics (prior samples, seeded)."""
    z_dim = adapter.spec().latent_dim or 0
    if z_dim == 0:
        reason = Undefined("the adapter does not state its latent size")
        return reason, {"latent_dim": z_dim, "estimated_dead_fraction": reason}
    base = np.random.default_rng(SEED).standard_normal((ESTIMATE_SAMPLES, z_dim)).astype(np.float32)
    steps = np.stack([np.stack([base] * z_dim)] * 2)  # [2, Z, N, Z]
    for j in range(z_dim):
        steps[0, j, :, j] += 1.0
        steps[1, j, :, j] -= 1.0
    decoded = adapter.decode(steps.reshape(-1, z_dim)).reshape(2, z_dim, ESTIMATE_SAMPLES, -1)
    # RMS over the prior samples, not at z = 0 alone: a decoder of zero-mean data often outputs 0 there.
    scale = float(np.sqrt(np.mean(adapter.decode(base).astype(np.float64) ** 2)))
    heads = getattr(adapter, "head_weights", None)
    extra: dict[str, np.ndarray] = {}
    if heads is not None:
        w = heads()
        extra = {
            "mu_row_norm": np.linalg.norm(w.mu_weight, axis=1),
            "logvar_row_norm": np.linalg.norm(w.logvar_weight, axis=1),
            "logvar_bias": w.logvar_bias,
        }
    dead = dead_dims_estimate(decoder_sensitivity(decoded[0], decoded[1]), scale, **extra)
    fraction: MetricValue = dead if isinstance(dead, Undefined) else float(dead.mean())
    return dead, {"latent_dim": z_dim, "estimated_dead_fraction": fraction}


def latent_traversal(
    adapter: CheckpointAdapter, base: np.ndarray, dims: Sequence[int], values: Sequence[float]
) -> np.ndarray:
    """Decoded outputs float32 [len(dims), len(values), F]: `base` [Z] with z_j set to each value."""
    if not adapter.spec().supports_decode:
        raise AdapterError(f"{adapter.name}: the model cannot decode latents, so there is no traversal")
    base = np.asarray(base, dtype=np.float32).reshape(-1)
    z_dim = base.shape[0]
    bad = [d for d in dims if not 0 <= d < z_dim]
    if bad:
        raise ProbeError(f"latent dimensions {bad} out of range: the model has {z_dim} (0..{z_dim - 1})")
    if len(dims) == 0 or len(values) == 0:
        return np.zeros((len(dims), len(values), 0), np.float32)
    z = np.tile(base, (len(dims), len(values), 1))
    for i, d in enumerate(dims):
        z[i, :, d] = np.asarray(values, dtype=np.float32)
    return adapter.decode(z.reshape(-1, z_dim)).reshape(len(dims), len(values), -1)


def severity_of(active_fraction: MetricValue, diversity: MetricValue) -> Severity:
    """Collapse when (nearly) no latent is active or reconstructions lose most diversity; warning when
    some latents are inactive (spare capacity or partial collapse) or diversity is low."""
    if isinstance(active_fraction, Undefined):
        return "undefined"
    af = float(active_fraction)
    div = None if isinstance(diversity, Undefined) else float(diversity)
    if af <= COLLAPSE_ACTIVE or (div is not None and div < COLLAPSE_DIVERSITY):
        return "collapse"
    if af < 1.0 or (div is not None and div < WARN_DIVERSITY):
        return "warning"
    return "ok"


def _inactive_note(active: int, z: int) -> str:
    if active in (0, z):
        return ""
    return (
        f"; {z - active} of {z} units carry nothing: spare capacity if the data has about {active} factors "
        "of variation, a partial collapse otherwise"
    )


def _estimate_finding(adapter: CheckpointAdapter, why: str) -> Finding:
    if not adapter.spec().supports_decode:
        return _weight_estimate_finding(adapter, why)
    dead, metrics = estimate_dead_dims(adapter)
    if isinstance(dead, Undefined):
        return Finding(
            "posterior", "undefined", f"estimate without probe data impossible: {dead.reason}", metrics
        )
    severity = _estimate_severity(dead, blind=False)
    summary = (
        f"estimate ({why}): the decoder ignores or the heads pin to the prior {int(dead.sum())} of "
        f"{len(dead)} latent dimensions ({', '.join(map(str, np.flatnonzero(dead)[:12])) or 'none'})"
        f"{_inactive_note(len(dead) - int(dead.sum()), len(dead))}; give probe x for measured active units and KL"
    )
    return Finding("posterior", severity, summary, metrics, FIX if severity != "ok" else "")


def _estimate_severity(dead: np.ndarray, *, blind: bool) -> Severity:
    """Collapse when (nearly) every unit is dead, warning when some are; ok only when the decoder was run."""
    active = 1.0 - float(dead.mean())
    if active <= COLLAPSE_ACTIVE:
        return "collapse"
    if dead.any():
        return "warning"
    return "undefined" if blind else "ok"


def _levels(
    adapter: CheckpointAdapter,
) -> list[tuple[str, HeadWeights, tuple[np.ndarray, float] | None, bool]]:
    """(mean head path, head weights, decoder columns, whether one 2 x Z layer gives both) of each level
    of heads the adapter reads."""
    levels = getattr(adapter, "head_levels", None)
    if levels is not None:
        return [(lv.heads.mean, lv.weights, lv.decoder, lv.heads.variance is None) for lv in levels()]
    heads = getattr(adapter, "head_weights", None)
    if heads is None:
        return []
    columns = getattr(adapter, "decoder_columns", lambda: None)()
    role = getattr(adapter, "heads", None)
    return [(getattr(role, "mean", "heads"), heads(), columns, getattr(role, "variance", "") is None)]


def _interleaved_reading(w: HeadWeights, columns: tuple[np.ndarray, float] | None, z: int) -> str:
    """What the weights show when a 2 x Z head read as halves is split as interleaved pairs instead,
    or "" when both readings agree on the active units."""
    weight = np.concatenate([w.mu_weight, w.logvar_weight])
    bias = np.concatenate([w.mu_bias, w.logvar_bias])
    halves = weight_only_units(w.mu_weight, w.logvar_weight, w.logvar_bias, columns)["dead"]
    pairs = weight_only_units(weight[0::2], weight[1::2], bias[1::2], columns)["dead"]
    if int(halves.sum()) == int(pairs.sum()):
        return ""
    return (
        f"; read as interleaved pairs instead (mu, logvar = out.view(-1, {z}, 2).unbind(-1), as some projects "
        f"split a 2 x Z head), {z - int(pairs.sum())} of {z} units look active: the weights cannot say which"
    )


def _weight_estimate_finding(adapter: CheckpointAdapter, why: str) -> Finding:
    """Estimate from head rows and decoder input columns alone (the model cannot run); with several
    levels of heads (a hierarchical VAE), the level that looks most collapsed speaks for the model."""
    levels = _levels(adapter)
    if not levels:
        return Finding("posterior", "undefined", f"{why}; and the adapter exposes no head weights")
    read = [
        (path, weight_only_units(w.mu_weight, w.logvar_weight, w.logvar_bias, cols))
        for path, w, cols, _ in levels
    ]
    order = {"collapse": 0, "warning": 1, "undefined": 2}
    worst = min(
        range(len(read)),
        key=lambda i: (
            order[_estimate_severity(read[i][1]["dead"], blind=True)],
            -float(read[i][1]["dead"].mean()),
        ),
    )
    path, masks = read[worst]
    dead = masks["dead"]
    z = len(dead)
    active = z - int(dead.sum())
    metrics: dict[str, MetricValue] = {
        "latent_dim": z,
        "estimated_active_units": active,
        "estimated_dead_fraction": float(dead.mean()),
        "units_at_prior_estimate": int(masks["prior"].sum()),
        "decoder_ignored_units": int(masks["ignored"].sum())
        if "ignored" in masks
        else Undefined("no decoder input layer found"),
    }
    severity = _estimate_severity(dead, blind=True)
    decoder = (
        f"{metrics['decoder_ignored_units']} of whose inputs the decoder's first layer ignores"
        if "ignored" in masks
        else "decoder not checked (no layer taking z found)"
    )
    assumption = (
        "assumption: a unit whose mean-head row is under 5% of the largest row (and of the default init scale) "
        "barely moves with the input, since all units read the same inputs"
    )
    evidence = (
        f"{active} of {z} latent units look active from the weights ({int(masks['inactive'].sum())} with "
        f"near-zero mean rows, {metrics['units_at_prior_estimate']} pinned to the prior; {decoder})"
    )
    if masks["flat"].any():
        evidence += (
            "; every row of both heads is under a fifth of a default initialisation and the log-variance "
            "biases are near 0: mu and logvar stay near their biases for every input (heads that cannot "
            "vary with the input)"
        )
    _, weights, columns, moments = levels[worst]
    if moments:
        evidence += _interleaved_reading(weights, columns, z)
    if len(read) > 1:
        others = ", ".join(
            f"{other} {len(m['dead']) - int(m['dead'].sum())} of {len(m['dead'])}"
            for other, m in read
            if other != path
        )
        evidence = f"worst of {len(read)} levels of heads, {path}: {evidence}; active units at the other levels: {others}"
    need = "give probe x with --builder module:function (your own model class) for measured activity and KL"
    if severity == "undefined":
        summary = (
            f"activity not seen (weight-only estimate, {why}): {evidence}; the weights show no inactive unit but "
            f"cannot show activity on data ({assumption}); {need}"
        )
        return Finding("posterior", severity, summary, metrics)
    verdict = "posterior collapse" if severity == "collapse" else "partly collapsed posterior"
    summary = f"{verdict} (weight-only estimate, {why}): {evidence}{_inactive_note(active, z)}; {assumption}; {need}"
    return Finding("posterior", severity, summary, metrics, FIX)


def findings(adapter: CheckpointAdapter, probe: ProbeData | None) -> list[Finding]:
    """One `posterior` finding: measured on probe x when present, else an estimate from the weights."""
    if probe is None or probe.x is None:
        return [_estimate_finding(adapter, "no probe x")]
    if not adapter.spec().supports_posterior:
        return [_estimate_finding(adapter, "probe x given, but this model cannot run from its weights alone")]
    x = np.asarray(probe.x)
    floor = getattr(adapter, "free_bits", None) or 0.0
    result = analyse(adapter, x, floor)
    m = result.metrics
    flat = x.reshape(len(x), -1)
    if len(x) >= 2 and np.all(flat == flat[0]):
        return [
            Finding(
                "posterior",
                "undefined",
                f"all {len(x)} probe inputs are identical: the posterior cannot vary, so activity and "
                "diversity are undefined; give varied probe x",
                m,
            )
        ]
    learned = m.get("active_units_learned_prior")
    active_fraction = (
        float(learned) / int(m["latent_dim"])
        if learned is not None and is_defined(learned)
        else m["active_fraction"]
    )
    severity = severity_of(active_fraction, m["diversity_ratio"])
    if severity == "undefined":
        summary = f"posterior activity undefined: {m['active_fraction']}"
        return [Finding("posterior", severity, summary, m)]
    verdict = {
        "collapse": "posterior collapse",
        "warning": "partly collapsed posterior",
        "ok": "latents in use",
    }
    lead = verdict[severity]
    others = _other_levels(adapter, x)
    if others:
        # The level with the fewest active units in proportion speaks for the model when it is worse.
        path, active, z = min(others, key=lambda level: level[1] / level[2])
        level = "collapse" if active <= COLLAPSE_ACTIVE * z else "warning" if active < z else "ok"
        if SEVERITY_ORDER[level] > SEVERITY_ORDER[severity]:
            lead = f"{verdict[level]} at {path} ({active} of {z} units active); at the first level of heads"
            severity = level
    floor_text = f"{format_value(floor, 2)} nats" if floor else "0 (at the prior)"
    summary = (
        f"{lead}: {m['active_units']} of {m['latent_dim']} latent units active "
        f"(Var_x(mu) >= 0.01), KL {format_value(m['kl_total'], 3)} nats in total, "
        f"smallest per dimension {format_value(m['kl_dim_min'], 3)}; {_percent(m['floor_fraction'])} of "
        f"dimensions on the free-bits floor {floor_text}; {_diversity_text(m)}; {len(x):,} probe rows"
    )
    other_prior = getattr(getattr(adapter, "heads", None), "other_prior", None)
    if learned is not None:
        summary = _learned_prior_summary(lead, m, len(x))
    elif other_prior:
        summary += (
            f"; the model keeps a learned prior ({other_prior}) that cannot be read as mean / log-variance "
            "tables: KL is to N(0, 1) and the active-unit rule (Var_x(mu) >= 0.01) assumes that prior, "
            "so both may not apply"
        )
    elif is_defined(m["active_units"]):
        summary += _inactive_note(int(m["active_units"]), int(m["latent_dim"]))
    summary += _reading_text(adapter, result)
    if others:
        levels = ", ".join(f"{path} {active} of {z}" for path, active, z in others)
        summary += f"; active units at the other levels of heads: {levels}"
    return [Finding("posterior", severity, summary, m, FIX if severity != "ok" else "")]


def _diversity_text(m: dict[str, MetricValue]) -> str:
    value = m["diversity_ratio"]
    if isinstance(value, Undefined):
        return f"reconstruction diversity undefined ({value.reason})"
    return f"reconstruction diversity {format_value(value, 2)} of the inputs'"


def _learned_prior_summary(lead: str, m: dict[str, MetricValue], rows: int) -> str:
    """The summary of a VAE trained towards its own mixture prior: its KL and active units against it."""
    learned = m["active_units_learned_prior"]
    text = (
        f"{lead}: {format_value(learned)} of {m['latent_dim']} latent units active against the model's own "
        f"learned prior ({format_value(m.get('prior_components', Undefined('unknown')))} components; "
        f"Var_x(mu_j) >= 0.01 x the prior's variance of z_j), KL to that prior "
        f"{format_value(m['kl_learned_prior'], 3)} nats per input (Monte Carlo); the N(0, 1) rule "
        f"(active units {format_value(m['active_units'])}, KL {format_value(m['kl_total'], 3)} nats) does not "
        f"apply to a model trained towards another prior; {_diversity_text(m)}; {rows:,} probe rows"
    )
    if is_defined(learned):
        text += _inactive_note(int(learned), int(m["latent_dim"]))
    return text


def _reading_text(adapter: CheckpointAdapter, result: PosteriorAnalysis) -> str:
    """How the variance head was read (observed from the forward, or by name), and, where the forward
    cannot tell readings apart, the KL in total under each reading."""
    reading = getattr(adapter, "reading", None)
    if reading is None:
        return ""
    text = f"; {reading.note}"
    if reading.ambiguous:
        raw = from_logvar(result.logvar, reading.parameterisation)
        kls = []
        for name in (reading.parameterisation, *reading.ambiguous):
            kl = kl_per_dim(result.mu, as_logvar(raw, name))
            kls.append(f"{format_value(_summary_stats(kl, 'sum'), 3)} nats read as {name}")
        text += "; KL in total " + ", ".join(kls)
    return text


def _other_levels(adapter: CheckpointAdapter, x: np.ndarray) -> list[tuple[str, int, int]]:
    """(mean head path, active units, Z) of every level of heads after the first that a live model
    shows on probe x (a hierarchical VAE), else []."""
    measure = getattr(adapter, "level_posteriors", None)
    if measure is None or getattr(adapter, "level_count", 1) < 2:  # one level: no second forward
        return []
    found = []
    for path, mu, _ in measure(x)[1:]:
        active = active_units(mu)
        if not isinstance(active, Undefined):
            found.append((path, int(active), mu.shape[1]))
    return found


@dataclass(frozen=True)
class RunTimeline:
    """Posterior statistics over the checkpoints of one run folder, measured on the run's probe x.

    epochs [E] (None where unknown), names [E], kl [E, Z] (NaN rows where undefined), active [E].
    """

    epochs: tuple[int | None, ...]
    names: tuple[str, ...]
    kl: np.ndarray
    active: np.ndarray


def run_timeline(folder: str | Path, x: np.ndarray) -> RunTimeline:
    """KL per dimension and active units for every checkpoint directly in `folder`, in file order."""
    folder = Path(folder)
    files = checkpoint_files(folder) if folder.is_dir() else []
    if not files:
        raise AdapterError(f"{folder.name}/ holds no checkpoint files")
    epochs, kls, active = [], [], []
    for path in files:
        loaded = load_checkpoint(path)
        adapter = build_adapter(loaded)
        if adapter.spec().family != "posterior":
            raise AdapterError(f"{path.name} is a {adapter.spec().family} checkpoint, not a VAE")
        result = analyse(adapter, x)
        z = result.mu.shape[1]
        epochs.append(loaded.epoch)
        kls.append(np.full(z, np.nan) if isinstance(result.kl, Undefined) else result.kl)
        au = result.metrics["active_units"]
        active.append(-1 if isinstance(au, Undefined) else int(au))
    if len({len(k) for k in kls}) > 1:
        raise AdapterError(f"the checkpoints in {folder.name}/ have different latent sizes")
    return RunTimeline(tuple(epochs), tuple(p.name for p in files), np.stack(kls), np.asarray(active))
