"""Codebook usage metrics over code counts accumulated over a whole pass.

Convention: counts are summed over every token of every input first (`np.bincount` with
`minlength=K`), and only then turned into a distribution p; perplexity is exp(H(p)) with H in nats.
Per-batch perplexities averaged afterwards are not the same thing and overstate usage. Counts may also
be EMA cluster sizes (weight-only usage); they need not be integers.
"""

from __future__ import annotations

import numpy as np

from ..io.errors import ProbeError
from .base import MetricInfo, MetricValue, Undefined, register_metrics
from .spectrum import rankme

FAMILY = "codebook"

register_metrics(
    MetricInfo(
        "codebook_size",
        "Codebook size K",
        "neither",
        "Number of codes in one codebook.",
        FAMILY,
        unit="codes",
        good="not judged: the codebook's size, the scale of the other counts",
    ),
    MetricInfo(
        "code_count",
        "Code assignments counted",
        "neither",
        "Tokens counted over the pass.",
        FAMILY,
        unit="tokens",
        good="not judged: how many code assignments the probe pass made",
    ),
    MetricInfo(
        "used_codes",
        "Used codes",
        "higher",
        "Codes above the dead threshold (count > 0 by default).",
        FAMILY,
        unit="codes",
        good="more of the codebook in use",
    ),
    MetricInfo(
        "code_perplexity",
        "Codebook perplexity",
        "higher",
        "exp(entropy) of code usage over the whole pass: 1 = one code, K = uniform over all codes.",
        FAMILY,
        unit="codes (1 to K)",
        good="usage spread over more codes (K when all are used evenly)",
    ),
    MetricInfo(
        "code_perplexity_ratio",
        "Perplexity / K",
        "higher",
        "Effective fraction of the codebook in use (1 = uniform); undefined for K = 1.",
        FAMILY,
        unit="share 0-1",
        good="more of the codebook in effective use (1 = even use of all codes)",
    ),
    MetricInfo(
        "dead_code_fraction",
        "Dead-code fraction",
        "lower",
        "Share of codes whose usage share is at most threshold / K (threshold 0: never chosen).",
        FAMILY,
        unit="share 0-1",
        good="fewer codes never (or barely) chosen",
    ),
    MetricInfo(
        "code_usage_entropy",
        "Usage entropy (nats)",
        "higher",
        "Entropy of the code distribution; ln K when uniform.",
        FAMILY,
        unit="nats",
        good="usage spread more evenly (ln K at most)",
    ),
    MetricInfo(
        "dead_threshold",
        "Dead threshold",
        "neither",
        "A code is dead when its usage share is at most this fraction of the uniform share 1/K.",
        FAMILY,
        unit="share of 1/K",
        good="not judged: the setting that says when a code counts as dead",
    ),
    MetricInfo(
        "codebook_heads",
        "Codebook heads",
        "neither",
        "Number of codebooks (heads).",
        FAMILY,
        unit="count",
        good="not judged: how many codebooks the model has",
    ),
    MetricInfo(
        "worst_head",
        "Worst head",
        "neither",
        "Head with the lowest perplexity / K (shown).",
        FAMILY,
        unit="index",
        good="not judged: which head the numbers are shown for",
    ),
)


def code_counts(indices: np.ndarray, k: int) -> np.ndarray:
    """How often each code occurs: indices int [...] (any shape) -> int64 [K].

    Raises ProbeError for non-integer indices or indices outside [0, K).
    """
    if k < 1:
        raise ProbeError(f"codebook size must be at least 1, got {k}")
    flat = np.asarray(indices).ravel()
    if flat.size == 0:
        return np.zeros(k, dtype=np.int64)
    if not np.issubdtype(flat.dtype, np.integer):
        raise ProbeError(f"code indices must be integers, got dtype {flat.dtype}")
    lo, hi = int(flat.min()), int(flat.max())
    if lo < 0 or hi >= k:
        raise ProbeError(f"code indices must lie in [0, {k}) for a codebook of {k} codes; found {lo}..{hi}")
    return np.bincount(flat, minlength=k).astype(np.int64, copy=False)


def _distribution(counts: np.ndarray) -> np.ndarray | Undefined:
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        return Undefined(f"counts must be a non-empty [K] vector, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        return Undefined("counts contain negative or non-finite values")
    total = c.sum()
    if total <= 0:
        return Undefined("no indices")
    return c / total


def usage_entropy(counts: np.ndarray) -> MetricValue:
    """Entropy in nats of the usage distribution from counts [K]."""
    p = _distribution(counts)
    if isinstance(p, Undefined):
        return p
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())


def perplexity(counts: np.ndarray) -> MetricValue:
    """exp(entropy) of counts [K]: 1 for one code, K for uniform use."""
    h = usage_entropy(counts)
    return h if isinstance(h, Undefined) else float(np.exp(h))


def perplexity_ratio(counts: np.ndarray) -> MetricValue:
    """Perplexity / K in (0, 1]; undefined for K = 1, where it is 1 whatever happens."""
    k = np.asarray(counts).size
    if k == 1:
        return Undefined("codebook has a single code: perplexity / K is trivially 1")
    p = perplexity(counts)
    return p if isinstance(p, Undefined) else p / k


def dead_mask(counts: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """bool [K]: codes whose usage share is at most threshold / K (threshold 0: never used).

    The threshold is relative to the uniform share, so it reads the same for integer counts and for
    EMA cluster sizes (which decay towards zero but never reach it).
    """
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        return np.ones(c.shape, dtype=bool)
    return c / total <= threshold / c.size


def dead_fraction(counts: np.ndarray, threshold: float = 0.0) -> MetricValue:
    """Share of dead codes (see `dead_mask`)."""
    p = _distribution(counts)
    if isinstance(p, Undefined):
        return p
    return float(dead_mask(counts, threshold).mean())


def sorted_usage(counts: np.ndarray) -> np.ndarray:
    """Usage shares sorted from most to least used, float64 [K] (zeros when nothing was counted)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    shares = c / total if total > 0 else np.zeros_like(c)
    return np.sort(shares)[::-1]


def lorenz_curve(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fraction of codes [K+1], cumulative usage share [K+1]), codes ordered from least to most used."""
    shares = sorted_usage(counts)[::-1]
    k = shares.size
    return np.linspace(0.0, 1.0, k + 1), np.concatenate([[0.0], np.cumsum(shares)])


def usage_per_class(
    indices: np.ndarray, labels: np.ndarray, k: int, n_classes: int | None = None
) -> np.ndarray:
    """Counts per (class, code): indices int [N, ...] (tokens of input n), labels int [N] -> int64 [C, K]."""
    idx = np.asarray(indices)
    lab = np.asarray(labels).ravel()
    if len(idx) != len(lab):
        raise ProbeError(f"{len(idx)} rows of code indices but {len(lab)} labels")
    if lab.size and (not np.issubdtype(lab.dtype, np.integer) or lab.min() < 0):
        raise ProbeError("labels must be non-negative integers")
    c = int(n_classes if n_classes is not None else (lab.max() + 1 if lab.size else 0))
    if lab.size and lab.max() >= c:
        raise ProbeError(f"label {int(lab.max())} out of range for {c} classes")
    code_counts(idx, k)  # validates the range before the packed bincount below
    tokens = idx.reshape(len(idx), -1)
    packed = np.repeat(lab.astype(np.int64), tokens.shape[1]) * k + tokens.ravel()
    return np.bincount(packed, minlength=c * k).reshape(c, k)


def usage_summary(counts: np.ndarray, threshold: float = 0.0) -> dict[str, MetricValue]:
    """Evidence metrics for counts [K] or [H, K]; with several heads, the worst head is reported.

    Keys: codebook_size, code_count, used_codes, code_perplexity, code_perplexity_ratio,
    dead_code_fraction, code_usage_entropy (all registered in METRICS).
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim == 1:
        c = c[None, :]
    if c.ndim != 2 or c.shape[1] == 0:
        raise ProbeError(f"usage counts must be [K] or [H, K], got shape {np.shape(counts)}")
    heads = [_head_summary(row, threshold) for row in c]
    if len(heads) == 1:
        return heads[0]
    ratios = [h["code_perplexity_ratio"] for h in heads]
    defined = [i for i, r in enumerate(ratios) if not isinstance(r, Undefined)]
    worst = min(defined, key=lambda i: ratios[i]) if defined else 0
    return {**heads[worst], "codebook_heads": len(heads), "worst_head": worst}


def _head_summary(counts: np.ndarray, threshold: float) -> dict[str, MetricValue]:
    total = float(counts.sum())
    dead = dead_fraction(counts, threshold)
    return {
        "codebook_size": int(counts.size),
        "code_count": int(total) if float(total).is_integer() else total,
        "used_codes": Undefined("no indices") if total <= 0 else int((~dead_mask(counts, threshold)).sum()),
        "code_perplexity": perplexity(counts),
        "code_perplexity_ratio": perplexity_ratio(counts),
        "dead_code_fraction": dead,
        "code_usage_entropy": usage_entropy(counts),
    }


def usage_timeline(counts: np.ndarray, threshold: float = 0.0) -> tuple[list[float], list[float]]:
    """Perplexity and dead fraction per row of counts [C, K] (NaN where undefined, for plotting)."""
    rows = np.asarray(counts, dtype=np.float64)
    ppl = [float(perplexity(row)) for row in rows]
    dead = [float(dead_fraction(row, threshold)) for row in rows]
    return ppl, dead


# --- evidence from the weights alone -----------------------------------------------------------------

DUPLICATE_TOL = 1e-3  # codes closer than this fraction of the codebook's RMS norm are one code
MAX_CODES_FOR_DUPLICATES = 65_536
INIT_NORM_FACTOR = 2.0  # codes within 2 sqrt(D) / K of the origin are still at a 1/K-scale init
MOVED_FACTOR = 10.0  # the init assumption applies only when some code is 10x further out

register_metrics(
    MetricInfo(
        "codes_at_init",
        "Codes still at initialisation (weights only)",
        "lower",
        "Codes still at the 1/K-scale initialisation most VQ code uses (uniform in [-1/K, 1/K] or "
        "N(0, 1/K^2): norm within 2 sqrt(D) / K): without EMA a code that is never chosen is never "
        "updated, so these codes were (almost surely) never used.",
        FAMILY,
        unit="codes",
        good="fewer codes left where training started them",
    ),
    MetricInfo(
        "duplicate_codes",
        "Near-duplicate codes (weights only)",
        "lower",
        "Codes within 0.001 x the codebook's RMS norm of another code: codes that collapsed onto each other.",
        FAMILY,
        unit="codes",
        good="fewer codes collapsed onto another code",
    ),
    MetricInfo(
        "distinct_codes_estimate",
        "Distinct trained codes (weights only)",
        "higher",
        "Codes that left their initialisation, counting near-duplicates once: an upper bound on codes in use.",
        FAMILY,
        unit="codes",
        good="more codes trained apart from each other",
    ),
    MetricInfo(
        "live_fraction_estimate",
        "Distinct trained codes / K (weights only)",
        "higher",
        "Distinct trained codes over the codebook size: an upper bound on the share of the codebook in use.",
        FAMILY,
        unit="share 0-1",
        good="more of the codebook trained apart",
    ),
    MetricInfo(
        "codebook_rankme",
        "Codebook effective rank",
        "higher",
        "RankMe of the trained code vectors (centred): near 1 means the codes lie on a line.",
        FAMILY,
        unit="effective dimensions",
        good="code vectors span more directions",
    ),
)


def codes_at_init(codebook: np.ndarray) -> np.ndarray:
    """bool [K]: codes [K, D] still at the 1/K-scale initialisation most VQ code uses.

    Uniform in [-1/K, 1/K] gives norms up to sqrt(D)/K, N(0, 1/K^2) about sqrt(D)/K; a code counts as
    never moved when its norm is at most INIT_NORM_FACTOR * sqrt(D)/K.
    """
    c = np.asarray(codebook, dtype=np.float64)
    if c.ndim != 2 or len(c) == 0:
        raise ProbeError(f"a codebook must be [K, D], got shape {c.shape}")
    return np.linalg.norm(c, axis=1) <= INIT_NORM_FACTOR * np.sqrt(c.shape[1]) / len(c)


def code_clusters(codebook: np.ndarray, rel_tol: float = DUPLICATE_TOL) -> np.ndarray | Undefined:
    """Component label per code, int [K]: codes closer than rel_tol x RMS norm share a label."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import radius_neighbors_graph

    c = np.asarray(codebook, dtype=np.float64)
    if c.ndim != 2 or len(c) == 0:
        raise ProbeError(f"a codebook must be [K, D], got shape {c.shape}")
    if len(c) > MAX_CODES_FOR_DUPLICATES:
        return Undefined(
            f"{len(c):,} codes: more than {MAX_CODES_FOR_DUPLICATES:,} are not compared pairwise"
        )
    if not np.isfinite(c).all():
        return Undefined("the codebook has NaN or infinite values")
    scale = float(np.sqrt((c**2).sum(axis=1).mean()))
    if scale == 0.0 or len(c) == 1:
        return np.zeros(len(c), dtype=np.int64)
    graph = radius_neighbors_graph(c, rel_tol * scale, mode="connectivity", include_self=False)
    return connected_components(graph, directed=False)[1].astype(np.int64)


def weight_evidence(codebook: np.ndarray, *, ema: bool) -> dict[str, MetricValue]:
    """Weight-only evidence on one codebook [K, D]: codes still at init, near-duplicates, effective rank.

    With `ema` the init-box count is not used (EMA moves every code, chosen or not): exact zero rows are
    counted as never trained instead. Keys as METRICS;
    `distinct_codes_estimate` / `live_fraction_estimate` bound the codes that can be in use.
    """

    c = np.asarray(codebook, dtype=np.float64)
    k = len(c)
    # EMA codebooks move every code away from its initialisation, but one never assigned decays to zero.
    at_init = ~c.any(axis=1) if ema else codes_at_init(c)
    moved = ~at_init
    far = MOVED_FACTOR * np.sqrt(c.shape[1]) / k
    clearly_moved = bool((np.linalg.norm(c[moved], axis=1) > far).any()) if moved.any() else False
    metrics: dict[str, MetricValue] = {"codebook_size": k}
    if ema and not at_init.any():
        metrics["codes_at_init"] = Undefined(
            "EMA codebooks move every code, so initialisation says nothing (and no code is an exact zero row)"
        )
    elif ema:
        metrics["codes_at_init"] = int(at_init.sum())
    elif not clearly_moved:
        metrics["codes_at_init"] = Undefined(
            "no code is clearly away from a 1/K-scale initialisation: untrained, or initialised otherwise"
        )
        at_init[:] = False
        moved[:] = True
    else:
        metrics["codes_at_init"] = int(at_init.sum())
    labels = code_clusters(c[moved]) if moved.any() else np.zeros(0, dtype=np.int64)
    if isinstance(labels, Undefined):
        metrics["duplicate_codes"] = labels
        distinct = int(moved.sum())
    else:
        distinct = len(np.unique(labels))
        metrics["duplicate_codes"] = int(moved.sum()) - distinct
    metrics["distinct_codes_estimate"] = distinct
    metrics["live_fraction_estimate"] = distinct / k if k > 1 else Undefined("a single code")
    trained = c[moved]
    metrics["codebook_rankme"] = (
        rankme(trained - trained.mean(axis=0))
        if len(trained) > 1
        else Undefined("fewer than two trained codes")
    )
    return metrics
