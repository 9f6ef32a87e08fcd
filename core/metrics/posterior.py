"""Posterior-collapse metrics for Gaussian VAEs (pure numpy).

Conventions (shown in the UI):
- KL_j = mean over data of 0.5 (mu_j^2 + sigma_j^2 - 1 - ln sigma_j^2), in nats, against N(0, 1).
- Active unit: Var_x(mu_j) >= 0.01 (sample variance, ddof=1; needs at least 2 rows).
- Free-bits floor fraction: share of dimensions with KL_j <= floor + tol.
- Reconstruction diversity ratio: mean pairwise Euclidean distance between reconstructions divided by
  that between the inputs (same rows). ~1 keeps the inputs' spread; ~0 means every input decodes to
  about the same (averaged, blurry) output.
- Dead-dimension estimate without probe data (weights and prior samples only): see `dead_dims_estimate`.

Why one module: the data-driven metrics and the weight-only estimates share these conventions and the
METRICS rows that read them, and the diagnosis reads them side by side.
"""

from __future__ import annotations

import numpy as np

from .base import MetricInfo, Undefined, register_metrics

ACTIVE_THRESHOLD = 0.01
FLOOR_TOL = 0.01
DIVERSITY_MAX_ROWS = 512

register_metrics(
    MetricInfo(
        "active_units",
        "Active latent units",
        "higher",
        "Dimensions with Var_x(mu_j) >= 0.01 (ddof=1): the encoder's mean moves with the input.",
        "posterior",
        unit="units",
        good="more latent units carry information about the input",
    ),
    MetricInfo(
        "active_fraction",
        "Active fraction",
        "higher",
        "Active units / latent size.",
        "posterior",
        unit="share 0-1",
        good="more of the latent in use",
    ),
    MetricInfo(
        "kl_total",
        "KL total (nats)",
        "neither",
        "Sum over dimensions of the data-averaged KL to N(0, 1); near 0 means the latent carries nothing.",
        "posterior",
        unit="nats",
        context="Near 0 is posterior collapse; above what the data needs, more KL is not better by itself.",
        context_key="active_units",
        good="depends: near 0 is posterior collapse, but above what the data needs more KL is not better",
    ),
    MetricInfo(
        "kl_dim_min",
        "Smallest KL per dimension (nats)",
        "higher",
        "Data-averaged KL of the least used latent dimension.",
        "posterior",
        unit="nats",
        good="even the least used dimension carries information",
    ),
    MetricInfo(
        "floor_fraction",
        "Dimensions on the free-bits floor",
        "lower",
        "Share of dimensions with KL_j <= floor + 0.01 nats (floor 0: dimensions at the prior).",
        "posterior",
        unit="share 0-1",
        good="fewer dimensions idling at the free-bits floor",
    ),
    MetricInfo(
        "mean_sigma",
        "Mean posterior sigma",
        "lower",
        "exp(logvar / 2) averaged over data and dimensions; ~1 means the posterior is the prior.",
        "posterior",
        unit="ratio to the prior's 1",
        good="posteriors narrower than the prior (near 1 = the prior itself)",
    ),
    MetricInfo(
        "diversity_ratio",
        "Reconstruction diversity ratio",
        "higher",
        "Mean pairwise distance of reconstructions / that of the inputs; ~0: every input decodes alike.",
        "posterior",
        unit="ratio",
        good="reconstructions differ as the inputs do (near 0 = all alike)",
    ),
    MetricInfo(
        "estimated_dead_fraction",
        "Estimated dead dimensions (weights only)",
        "lower",
        "Estimate without data: the decoder barely moves along z_j, or the heads pin mu ~ 0, sigma ~ 1.",
        "posterior",
        unit="share 0-1",
        good="fewer latent dimensions unused",
    ),
)


def _pair(mu: np.ndarray, logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64)
    logvar = np.asarray(logvar, dtype=np.float64)
    if mu.ndim != 2 or mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must both be [N, Z]; got {mu.shape} and {logvar.shape}")
    return mu, logvar


def _nonfinite(name: str, a: np.ndarray) -> Undefined | None:
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    kinds = []
    for label, mask in (("-inf", np.isneginf(a)), ("+inf", np.isposinf(a)), ("NaN", np.isnan(a))):
        if mask.any():
            kinds.append(f"{label} in {int(mask.sum())}")
    return Undefined(f"{name} has non-finite entries ({', '.join(kinds)}): KL is infinite or undefined")


def kl_per_dim(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray | Undefined:
    """Data-averaged KL(N(mu, sigma^2) || N(0, 1)) per dimension, float64 [Z], from [N, Z] inputs."""
    mu, logvar = _pair(mu, logvar)
    if len(mu) == 0:
        return Undefined("no rows")
    for name, a in (("mu", mu), ("logvar", logvar)):
        bad = _nonfinite(name, a)
        if bad is not None:
            return bad
    with np.errstate(over="ignore"):
        var = np.exp(logvar)
    if not np.isfinite(var).all():
        return Undefined("logvar so large that sigma^2 overflows: KL is infinite")
    return (0.5 * (mu**2 + var - 1.0 - logvar)).mean(axis=0)


def mu_variance(mu: np.ndarray) -> np.ndarray | Undefined:
    """Var_x(mu_j) with ddof=1, float64 [Z]; needs at least 2 rows."""
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2:
        raise ValueError(f"mu must be [N, Z], got {mu.shape}")
    if len(mu) < 2:
        return Undefined(f"active units need at least 2 rows (got {len(mu)})")
    bad = _nonfinite("mu", mu)
    if bad is not None:
        return bad
    return mu.var(axis=0, ddof=1)


def active_units(mu: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> int | Undefined:
    """Number of dimensions with Var_x(mu_j) >= threshold (ddof=1)."""
    var = mu_variance(mu)
    if isinstance(var, Undefined):
        return var
    return int((var >= threshold).sum())


MIXTURE_CELLS = 4_000_000


def prior_spread(prior_mu: np.ndarray, prior_logvar: np.ndarray) -> np.ndarray:
    """Variance of each z_j under an equal-weight mixture prior of K Gaussians (tables [K, Z]):
    mean_k exp(logvar_kj) + Var_k(mu_kj), float64 [Z]."""
    m = np.asarray(prior_mu, dtype=np.float64)
    lv = np.asarray(prior_logvar, dtype=np.float64)
    return np.exp(lv).mean(axis=0) + m.var(axis=0)


def kl_to_mixture(
    mu: np.ndarray,
    logvar: np.ndarray,
    prior_mu: np.ndarray,
    prior_logvar: np.ndarray,
    *,
    samples: int = 8,
    seed: int = 0,
) -> float | Undefined:
    """KL(q(z|x) || p(z)) in nats per input, averaged over inputs, for diagonal Gaussians q [N, Z] and an
    equal-weight mixture prior of K diagonal Gaussians [K, Z]: a Monte Carlo estimate (no closed form),
    `samples` seeded draws per input of log q(z) - log p(z)."""
    mu, logvar = _pair(mu, logvar)
    for name, a in (("mu", mu), ("logvar", logvar), ("prior", prior_mu), ("prior logvar", prior_logvar)):
        bad = _nonfinite(name, np.asarray(a))
        if bad is not None:
            return bad
    pm = np.asarray(prior_mu, dtype=np.float64)
    plv = np.asarray(prior_logvar, dtype=np.float64)
    rng = np.random.default_rng(seed)
    total = 0.0
    log2pi = np.log(2.0 * np.pi)
    rows = max(1, MIXTURE_CELLS // max(1, pm.size))  # bounds the [rows, K, Z] block of one step
    for _ in range(samples):
        eps = rng.standard_normal(mu.shape)
        z = mu + np.exp(0.5 * logvar) * eps
        log_q = -0.5 * (eps**2 + logvar + log2pi).sum(axis=1)
        log_p = np.concatenate([_log_mixture(z[i : i + rows], pm, plv) for i in range(0, len(z), rows)])
        total += float((log_q - log_p).mean())
    return total / samples


def _log_mixture(z: np.ndarray, pm: np.ndarray, plv: np.ndarray) -> np.ndarray:
    """log p(z) [M] = logsumexp_k log N(z; mu_k, var_k) - log K for z [M, Z] and tables [K, Z]."""
    diff = z[:, None, :] - pm[None, :, :]
    comp = -0.5 * (diff**2 / np.exp(plv)[None] + plv[None] + np.log(2.0 * np.pi)).sum(axis=2)
    top = comp.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(comp - top).sum(axis=1, keepdims=True))).ravel() - np.log(len(pm))


def floor_fraction(
    kl: np.ndarray | Undefined, floor: float = 0.0, tol: float = FLOOR_TOL
) -> float | Undefined:
    """Share of dimensions whose KL_j <= floor + tol (on the free-bits floor, or at the prior for 0)."""
    if isinstance(kl, Undefined):
        return kl
    kl = np.asarray(kl, dtype=np.float64)
    if kl.size == 0:
        return Undefined("no latent dimensions")
    if not np.isfinite(kl).all():
        return Undefined("KL has non-finite values")
    if not np.isfinite(floor) or floor < 0:
        raise ValueError(f"free-bits floor must be a finite number >= 0, got {floor}")
    return float((kl <= floor + tol).mean())


def sigma_per_dim(logvar: np.ndarray) -> np.ndarray | Undefined:
    """Mean over data of sigma_j = exp(logvar_j / 2), float64 [Z]."""
    logvar = np.asarray(logvar, dtype=np.float64)
    if logvar.ndim != 2:
        raise ValueError(f"logvar must be [N, Z], got {logvar.shape}")
    if len(logvar) == 0:
        return Undefined("no rows")
    bad = _nonfinite("logvar", logvar)
    if bad is not None:
        return bad
    with np.errstate(over="ignore"):
        sigma = np.exp(0.5 * logvar)
    if not np.isfinite(sigma).all():
        return Undefined("logvar so large that sigma overflows")
    return sigma.mean(axis=0)


def _mean_pairwise(a: np.ndarray) -> float:
    sq = (a**2).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * a @ a.T, 0.0)
    n = len(a)
    return float(np.sqrt(d2)[np.triu_indices(n, k=1)].mean())


def _diversity_rows(n: int, max_rows: int, seed: int) -> np.ndarray | None:
    """The seeded subset of row indices diversity is measured on (None: all n rows)."""
    return np.random.default_rng(seed).choice(n, max_rows, replace=False) if n > max_rows else None


def input_spread(x: np.ndarray, *, max_rows: int = DIVERSITY_MAX_ROWS, seed: int = 0) -> float:
    """Mean pairwise distance of the inputs [N, F] that `diversity_ratio` divides by (same rows)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    rows = _diversity_rows(len(x), max_rows, seed)
    return _mean_pairwise(x if rows is None else x[rows])


def diversity_ratio(
    recon: np.ndarray,
    x: np.ndarray,
    *,
    max_rows: int = DIVERSITY_MAX_ROWS,
    seed: int = 0,
    spread: float | None = None,
) -> float | Undefined:
    """Mean pairwise distance of reconstructions [N, F] over that of their inputs [N, F].

    Above `max_rows` rows a seeded random subset (same rows for both) keeps it O(max_rows^2). `spread`
    is `input_spread(x)` when the caller already has it (the inputs of a probe do not change).
    """
    recon = np.asarray(recon, dtype=np.float64).reshape(len(recon), -1)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if recon.shape != x.shape:
        raise ValueError(f"reconstructions {recon.shape} and inputs {x.shape} differ in shape")
    if len(x) < 2:
        return Undefined(f"diversity needs at least 2 rows (got {len(x)})")
    if not (np.isfinite(x).all() and np.isfinite(recon).all()):
        return Undefined("inputs or reconstructions have non-finite values")
    rows = _diversity_rows(len(x), max_rows, seed)
    if rows is not None:
        recon, x = recon[rows], x[rows]
    spread = _mean_pairwise(x) if spread is None else spread
    if spread <= 1e-12 * max(1.0, float(np.abs(x).max())):
        return Undefined("all inputs are identical: there is no diversity to keep")
    return _mean_pairwise(recon) / spread


def decoder_sensitivity(decoded_plus: np.ndarray, decoded_minus: np.ndarray) -> np.ndarray | Undefined:
    """Per-dimension decoder sensitivity, float64 [Z], from outputs [Z, N, F] at z +/- 1 along z_j.

    The RMS over samples and features of half the difference: how much the output moves for a one-sigma
    step of latent j around prior samples. No probe data is involved.
    """
    plus = np.asarray(decoded_plus, dtype=np.float64)
    minus = np.asarray(decoded_minus, dtype=np.float64)
    if plus.ndim != 3 or plus.shape != minus.shape:
        raise ValueError(f"decoded outputs must both be [Z, N, F]; got {plus.shape} and {minus.shape}")
    if plus.shape[1] == 0:
        return Undefined("no prior samples")
    if not (np.isfinite(plus).all() and np.isfinite(minus).all()):
        return Undefined("decoder outputs have non-finite values")
    return np.sqrt((((plus - minus) / 2.0) ** 2).mean(axis=(1, 2)))


def dead_dims_estimate(
    sensitivity: np.ndarray | Undefined,
    output_scale: float,
    mu_row_norm: np.ndarray | None = None,
    logvar_row_norm: np.ndarray | None = None,
    logvar_bias: np.ndarray | None = None,
    *,
    rel_tol: float = 0.05,
    head_tol: float = 0.02,
    logvar_tol: float = 0.1,
) -> np.ndarray | Undefined:
    """ESTIMATE without probe data of dead latent dimensions, bool [Z].

    Dimension j is flagged when the decoder ignores it (sensitivity_j <= rel_tol * output_scale, with
    output_scale the RMS of the decoder's output over prior samples), or when its heads pin the posterior to the
    prior for every input (mu and logvar head rows with norm <= head_tol and |logvar bias| <= logvar_tol:
    mu ~ 0, sigma ~ 1). An encoder whose inner layers have collapsed is only seen through the decoder,
    so this can miss or invent dead dimensions; probe data gives the measured count.
    """
    if isinstance(sensitivity, Undefined):
        return sensitivity
    sens = np.asarray(sensitivity, dtype=np.float64)
    if sens.ndim != 1:
        raise ValueError(f"sensitivity must be [Z], got {sens.shape}")
    if not np.isfinite(output_scale) or output_scale <= 0:
        return Undefined("the decoder outputs all zeros: no scale to compare sensitivities with")
    dead = sens <= rel_tol * output_scale
    if mu_row_norm is not None and logvar_row_norm is not None and logvar_bias is not None:
        heads = [np.asarray(a, dtype=np.float64) for a in (mu_row_norm, logvar_row_norm, logvar_bias)]
        if any(a.shape != sens.shape for a in heads):
            raise ValueError(f"head statistics must be [Z] = {sens.shape}")
        mu_n, lv_n, lv_b = heads
        dead |= (mu_n <= head_tol) & (lv_n <= head_tol) & (np.abs(lv_b) <= logvar_tol)
    return dead


# --- reading heads, and evidence from head weights alone ---------------------------------------------

INIT_ROW_NORM = 3**-0.5  # row norm of a default-initialised nn.Linear / nn.Conv weight, whatever its fan-in
WEIGHT_REL_TOL = 0.05
FLAT_HEAD_TOL = 0.2  # both heads' rows all under a fifth of a default init: the heads barely see the input

register_metrics(
    MetricInfo(
        "kl_learned_prior",
        "KL to the learned prior",
        "neither",
        "KL(q(z|x) || p(z)) per input to the model's own mixture prior (equal component weights), a seeded "
        "Monte Carlo estimate: near 0 means the posterior says nothing beyond the prior.",
        "posterior",
        unit="nats",
        good="depends: near 0 is posterior collapse, but above what the data needs more KL is not better",
    ),
    MetricInfo(
        "active_units_learned_prior",
        "Active units (against the learned prior)",
        "higher",
        "Dimensions with Var_x(mu_j) >= 0.01 x the learned prior's variance of z_j: the N(0, 1) rule "
        "rescaled to the prior the model was trained towards.",
        "posterior",
        unit="units",
        good="more latent units carry information about the input",
    ),
    MetricInfo(
        "prior_components",
        "Learned prior components",
        "neither",
        "Gaussian components of the model's learned mixture prior.",
        "posterior",
        unit="components",
        good="not judged: a setting of the model's prior",
    ),
)

register_metrics(
    MetricInfo(
        "estimated_active_units",
        "Active units (weights only)",
        "higher",
        "Latent units whose mean-head row is more than 5% of the largest (and of the default init scale), "
        "and whose decoder input column carries weight: an estimate without data.",
        "posterior",
        unit="units",
        good="more latent units in use",
    ),
    MetricInfo(
        "units_at_prior_estimate",
        "Units pinned to the prior (weights only)",
        "lower",
        "Inactive units whose log-variance row is also near zero and whose bias keeps sigma near 1.",
        "posterior",
        unit="units",
        good="fewer units pinned to the prior",
    ),
    MetricInfo(
        "decoder_ignored_units",
        "Latent inputs the decoder ignores (weights only)",
        "lower",
        "Columns of the decoder's input layer with under 5% of the largest column norm.",
        "posterior",
        unit="units",
        good="fewer latent inputs the decoder ignores",
    ),
)


def as_logvar(values: np.ndarray, parameterisation: str) -> np.ndarray:
    """Log-variance from a variance head's output: 'logvar' as is, 'log_std' doubled, 'std' 2 ln sigma,
    'var' ln of it.

    A 'std' head with non-positive outputs is read through softplus (the usual way such heads are made
    positive); the caller names that assumption.
    """
    a = np.asarray(values, dtype=np.float64)
    if parameterisation == "logvar":
        return a
    if parameterisation == "log_std":
        return 2.0 * a
    if parameterisation == "var":
        with np.errstate(divide="ignore"):
            return np.log(np.maximum(a, 0.0))
    sigma = a if (a > 0).all() else np.logaddexp(0.0, a)
    with np.errstate(divide="ignore"):
        return 2.0 * np.log(sigma)


def from_logvar(logvar: np.ndarray, parameterisation: str) -> np.ndarray:
    """The variance head's output that `as_logvar(., parameterisation)` reads as `logvar`."""
    lv = np.asarray(logvar, dtype=np.float64)
    return {
        "logvar": lambda: lv,
        "log_std": lambda: lv / 2.0,
        "std": lambda: np.exp(lv / 2.0),
        "var": lambda: np.exp(lv),
    }[parameterisation]()


def row_norms(weight: np.ndarray) -> np.ndarray:
    """L2 norm per output unit of a Linear [Z, H] or conv [Z, C, ...] weight, float64 [Z]."""
    w = np.asarray(weight, dtype=np.float64)
    return np.sqrt((w.reshape(len(w), -1) ** 2).sum(axis=1))


def input_column_norms(weight: np.ndarray, inputs: int) -> tuple[np.ndarray, float] | None:
    """(norm per input channel float64 [inputs], its default-init scale) of a decoder input layer.

    Linear [H, Z] and conv [C, Z, ...] take inputs on axis 1, transposed convs [Z, C, ...] on axis 0.
    None when neither axis has `inputs` entries.
    """
    w = np.asarray(weight, dtype=np.float64)
    axis = 1 if w.ndim >= 2 and w.shape[1] == inputs else 0 if w.shape[0] == inputs and w.ndim >= 3 else None
    if axis is None:
        return None
    moved = np.moveaxis(w, axis, 0).reshape(inputs, -1)
    fan_out = moved.shape[1]
    return np.sqrt((moved**2).sum(axis=1)), float(np.sqrt(fan_out / (3.0 * inputs)))


def _small(norms: np.ndarray, init_scale: float, rel_tol: float) -> np.ndarray:
    """Entries below rel_tol of the largest entry and of the default-init scale."""
    return norms <= rel_tol * max(float(norms.max(initial=0.0)), init_scale)


def weight_only_units(
    mu_weight: np.ndarray,
    logvar_weight: np.ndarray,
    logvar_bias: np.ndarray,
    decoder: tuple[np.ndarray, float] | None = None,
    *,
    rel_tol: float = WEIGHT_REL_TOL,
) -> dict[str, np.ndarray]:
    """ESTIMATE without data of which latent units carry nothing, as bool masks [Z].

    inactive: the mean head's row is at most rel_tol of the largest row and of the default init scale
    (the units share their inputs, so a row that small moves mu that much less: Var_x(mu_j) ~ 0).
    prior: inactive and the log-variance row is as small, with |bias| <= 0.1 (sigma ~ 1: KL ~ 0).
    ignored: the decoder input column of the unit is that small (the decoder cannot see z_j).
    flat: every row of both heads under FLAT_HEAD_TOL of a default init and log-variance biases near 0
    (heads that cannot vary with the input): every unit inactive and at the prior.
    dead: inactive or ignored. Assumes comparable input scales, which the shared inputs give.
    """
    mu_rows, lv_rows = row_norms(mu_weight), row_norms(logvar_weight)
    lv_bias = np.abs(np.asarray(logvar_bias, dtype=np.float64))
    inactive = _small(mu_rows, INIT_ROW_NORM, rel_tol)
    flat_lv = _small(lv_rows, INIT_ROW_NORM, rel_tol)
    # Heads that cannot vary with the input: every row of both far under a default init and sigma ~ 1,
    # so mu ~ its bias and logvar ~ 0 for every input, whatever the rows' sizes relative to each other.
    flat = bool(
        len(mu_rows)
        and (mu_rows <= FLAT_HEAD_TOL * INIT_ROW_NORM).all()
        and (lv_rows <= FLAT_HEAD_TOL * INIT_ROW_NORM).all()
        and (lv_bias <= 0.1).all()
    )
    if flat:
        inactive = flat_lv = np.ones(len(mu_rows), dtype=bool)
    prior = inactive & flat_lv & (lv_bias <= 0.1)
    masks = {
        "inactive": inactive,
        "prior": prior,
        "dead": inactive.copy(),
        "flat": np.full(len(mu_rows), flat),
    }
    if decoder is not None:
        columns, scale = decoder
        ignored = _small(columns, scale, rel_tol)
        masks["ignored"] = ignored
        masks["dead"] = inactive | ignored
    return masks
