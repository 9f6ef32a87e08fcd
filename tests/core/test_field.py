import numpy as np
import pytest
import torch

from core.metrics import METRICS, Undefined, format_interval, format_with_error
from core.metrics.flow.field import field_stats


def _linear(a: np.ndarray):
    weight = torch.tensor(a, dtype=torch.float32)
    return lambda z: z @ weight.T


def _points(n=300, d=4, seed=0):
    z = np.random.default_rng(seed).normal(size=(n, d))
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


def test_ambient_divergence_of_diagonal_field_is_exact():
    a = np.diag([1.0, -2.0, 0.5, 3.0])
    stats = field_stats(_linear(a), _points(), probes=2, sphere=False)
    assert stats.divergence == pytest.approx(np.trace(a), abs=1e-5)
    assert stats.curl == pytest.approx(0.0, abs=1e-6)


def test_surface_divergence_of_linear_field():
    a = np.random.default_rng(1).normal(size=(4, 4))
    z = _points()
    expected = np.trace(a) - np.einsum("ni,ij,nj->n", z, a, z).mean()
    stats = field_stats(_linear(a), z, probes=400, seed=3)
    assert stats.divergence == pytest.approx(expected, abs=0.05)


def test_symmetric_field_has_no_curl_on_sphere():
    a = np.random.default_rng(2).normal(size=(4, 4))
    assert field_stats(_linear(a + a.T), _points(), probes=4).curl == pytest.approx(0.0, abs=1e-5)


def test_rotation_curl_magnitude():
    a = np.zeros((4, 4))
    a[0, 1], a[1, 0] = 1.0, -1.0
    # ||A - A^T||_F / sqrt(2) = ||2A||_F / sqrt(2) = 2 for this rotation generator.
    stats = field_stats(_linear(a), _points(), probes=8, sphere=False)
    assert stats.curl == pytest.approx(2.0, rel=1e-5)
    assert stats.divergence == pytest.approx(0.0, abs=1e-5)


def test_seeded_and_nan_safe():
    a = np.random.default_rng(4).normal(size=(4, 4))
    assert field_stats(_linear(a), _points(), seed=7) == field_stats(_linear(a), _points(), seed=7)
    z = _points()
    z[0, 0] = np.nan
    assert isinstance(field_stats(_linear(a), z).divergence, Undefined)


def _scaled_linear_case(n: int, seed: int = 0):
    """A field c * A z whose per-point surface divergence c (tr A - z.A z) and curl vary over the points
    (A has a rotation part, which adds curl and no divergence), the points z [n, 5] and their conditions
    c [n, 1], and the exact mean divergence over all n points."""
    gen = torch.Generator().manual_seed(seed)
    weight = torch.diag(torch.tensor([4.0, -1.0, 0.5, 0.0, 1.0]))
    weight[0, 1], weight[1, 0] = 1.5, -1.5
    z = torch.nn.functional.normalize(torch.randn(n, 5, generator=gen), dim=1)
    c = 1 + 3 * torch.rand(n, 1, generator=gen)
    exact = (torch.einsum("ii->", weight) - torch.einsum("ni,ij,nj->n", z, weight, z)) * c[:, 0]
    return (lambda points, cond: (points @ weight.T) * cond), z, c, float(exact.mean())


def test_sampled_estimate_lies_within_its_standard_error_of_the_all_rows_value():
    field, z, c, exact = _scaled_linear_case(20_000)
    full = field_stats(field, z, condition=c)
    assert (full.rows, full.total) == (20_000, 20_000) and not full.sampled
    assert full.divergence == pytest.approx(exact, abs=4 * full.divergence_se)
    errors = []
    for seed in range(20):
        sampled = field_stats(field, z, condition=c, max_rows=500, seed=seed)
        assert (sampled.rows, sampled.total) == (500, 20_000) and sampled.sampled
        errors += [
            abs(sampled.divergence - full.divergence) / sampled.divergence_se,
            abs(sampled.curl - full.curl) / sampled.curl_se,
        ]
    # Errors in units of the stated standard error: a 95% interval (1.96 SE) misses about 2 of 40 and
    # none by far, and the typical error is near the 0.67 of a normal; a standard error off by 2x either
    # way would miss often or sit far inside.
    assert sum(e > 1.96 for e in errors) <= 5 and max(errors) < 4
    assert 0.4 < float(np.median(errors)) < 1.2
    # The error shrinks like 1 / sqrt(rows).
    wide = field_stats(field, z, condition=c, max_rows=125)
    assert wide.divergence_se / sampled.divergence_se == pytest.approx(2.0, rel=0.3)


def test_sampling_is_seeded_and_keeps_each_points_condition():
    field, z, c, _ = _scaled_linear_case(1_000)
    first = field_stats(field, z, condition=c, max_rows=100, seed=1)
    assert first == field_stats(field, z, condition=c, max_rows=100, seed=1)
    assert first != field_stats(field, z, condition=c, max_rows=100, seed=2)
    assert field_stats(field, z, condition=c, max_rows=5_000).rows == 1_000
    # A field that needs no condition is sampled the same way when it accepts any number of rows.
    a = np.random.default_rng(4).normal(size=(4, 4))
    assert field_stats(_linear(a), _points(), max_rows=50).rows == 50
    one = field_stats(_linear(a), _points(), max_rows=1)
    assert isinstance(one.divergence_se, Undefined) and "one point" in one.divergence_se.reason
    with pytest.raises(ValueError, match="at least 1"):
        field_stats(_linear(a), _points(), max_rows=0)


def test_value_with_its_standard_error_reads_to_the_errors_precision():
    assert format_with_error(-0.012341, 0.00041) == "-0.01234 ± 0.00041"
    assert format_with_error(9.01094, 0.0312) == "9.011 ± 0.031"
    assert format_with_error(1234.5, 56.0) == "1234 ± 56"  # no decimals beyond the error's digits
    assert format_interval(9.01094, 0.0312) == "[8.950, 9.072]"  # 9.011 -+ 1.96 x 0.0312
    # No error to show: the value alone, no interval.
    for error in (None, 0.0, float("nan"), Undefined("one point")):
        assert format_with_error(0.5, error) == "0.500" and format_interval(0.5, error) == ""
    assert format_with_error(Undefined("NaN field"), 0.1) == "undefined: NaN field"
    assert "5,000 rows" in METRICS["field_divergence"].help and "standard error" in METRICS["field_curl"].help
