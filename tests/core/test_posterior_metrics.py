import math

import numpy as np
import pytest
import torch

from core.metrics import METRICS, Undefined
from core.metrics.posterior import (
    active_units,
    dead_dims_estimate,
    decoder_sensitivity,
    diversity_ratio,
    floor_fraction,
    input_spread,
    kl_per_dim,
    mu_variance,
    sigma_per_dim,
)


def test_kl_hand_case_mu_2_sigma2_quarter():
    kl = kl_per_dim(np.array([[2.0]]), np.array([[math.log(0.25)]]))
    assert kl[0] == pytest.approx(0.5 * (3.25 + math.log(4)))


def test_kl_is_averaged_over_data_per_dimension():
    mu = np.array([[0.0, 1.0], [2.0, 1.0]])
    kl = kl_per_dim(mu, np.zeros_like(mu))
    np.testing.assert_allclose(kl, [1.0, 0.5])


def test_kl_matches_torch_distributions():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    q = torch.distributions.Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(0.5 * logvar)))
    p = torch.distributions.Normal(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64))
    reference = torch.distributions.kl_divergence(q, p).mean(0).numpy()
    np.testing.assert_allclose(kl_per_dim(mu, logvar), reference, rtol=1e-10)


def test_kl_at_the_prior_is_zero():
    np.testing.assert_allclose(kl_per_dim(np.zeros((3, 4)), np.zeros((3, 4))), 0.0)


@pytest.mark.parametrize(("value", "label"), [(-np.inf, "-inf"), (np.inf, "+inf"), (np.nan, "NaN")])
def test_non_finite_logvar_is_undefined_not_nan(value, label):
    logvar = np.zeros((3, 2))
    logvar[1, 0] = value
    kl = kl_per_dim(np.zeros((3, 2)), logvar)
    assert isinstance(kl, Undefined) and label in kl.reason
    assert isinstance(sigma_per_dim(logvar), Undefined)
    assert isinstance(floor_fraction(kl, 0.5), Undefined)


def test_overflowing_logvar_is_undefined():
    assert isinstance(kl_per_dim(np.zeros((1, 1)), np.array([[1000.0]])), Undefined)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"\[N, Z\]"):
        kl_per_dim(np.zeros((3, 2)), np.zeros((3, 3)))


def test_active_units_use_sample_variance_ddof_1():
    # Column 0: ddof=1 variance 0.0144 (active; ddof=0 would give 0.0096). Column 1: 0.0025 (inactive).
    mu = np.array([[0.0, 0.0], [0.12, 0.05], [0.24, 0.1]])
    np.testing.assert_allclose(mu_variance(mu), [0.0144, 0.0025])
    assert active_units(mu) == 1
    assert active_units(mu, threshold=0.001) == 2


def test_active_units_need_two_rows():
    result = active_units(np.zeros((1, 4)))
    assert isinstance(result, Undefined) and "2 rows" in result.reason


def test_constant_posterior_has_no_active_units():
    assert active_units(np.ones((10, 3))) == 0


def test_floor_fraction_hand_case():
    kl = np.array([0.0, 0.5, 0.505, 1.0])
    assert floor_fraction(kl, 0.5) == 0.75
    assert floor_fraction(kl, 0.0) == 0.25
    with pytest.raises(ValueError, match="floor"):
        floor_fraction(kl, -1.0)


def test_sigma_per_dim_is_mean_of_exp_half_logvar():
    logvar = np.log(np.array([[4.0, 1.0], [16.0, 1.0]]))
    np.testing.assert_allclose(sigma_per_dim(logvar), [3.0, 1.0])


def test_diversity_ratio_hand_cases():
    x = np.array([[0.0], [3.0]])
    assert diversity_ratio(np.array([[1.0], [2.0]]), x) == pytest.approx(1 / 3)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 5))
    assert diversity_ratio(x, x) == pytest.approx(1.0)
    assert diversity_ratio(0.5 * x + 7.0, x) == pytest.approx(0.5)
    assert diversity_ratio(np.tile(x.mean(0), (30, 1)), x) == pytest.approx(0.0, abs=1e-6)


def test_diversity_ratio_subsamples_the_same_rows():
    x = np.random.default_rng(2).normal(size=(600, 4))
    assert diversity_ratio(2 * x, x, max_rows=100) == pytest.approx(2.0)


def test_input_spread_is_the_ratios_denominator_on_the_same_rows():
    from scipy.spatial.distance import pdist

    x = np.random.default_rng(3).normal(size=(40, 6))
    assert input_spread(x) == pytest.approx(pdist(x).mean())
    big = np.random.default_rng(4).normal(size=(700, 3))
    spread = input_spread(big, max_rows=100, seed=5)
    recon = 0.25 * big
    assert spread != pytest.approx(pdist(big).mean(), rel=1e-9)  # a subset, not every row
    given = diversity_ratio(recon, big, max_rows=100, seed=5, spread=spread)
    assert given == diversity_ratio(recon, big, max_rows=100, seed=5) == pytest.approx(0.25)


def test_diversity_ratio_degenerate_inputs():
    same = np.ones((5, 3))
    assert "identical" in diversity_ratio(same, same).reason
    assert "2 rows" in diversity_ratio(np.ones((1, 3)), np.ones((1, 3))).reason
    bad = np.ones((3, 3))
    bad[0, 0] = np.nan
    assert isinstance(diversity_ratio(bad, np.eye(3)), Undefined)


def test_decoder_sensitivity_and_dead_estimate():
    plus = np.stack([np.full((4, 3), 1.0), np.full((4, 3), 1.0)])
    minus = np.stack([np.full((4, 3), 1.0), np.full((4, 3), -1.0)])
    sens = decoder_sensitivity(plus, minus)
    np.testing.assert_allclose(sens, [0.0, 1.0])
    np.testing.assert_array_equal(dead_dims_estimate(sens, 1.0), [True, False])
    # Heads that pin dimension 1 to the prior flag it even though the decoder uses it.
    dead = dead_dims_estimate(sens, 1.0, np.array([1.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 0.05]))
    np.testing.assert_array_equal(dead, [True, True])
    assert isinstance(dead_dims_estimate(sens, 0.0), Undefined)


def test_metrics_are_registered_for_the_family():
    for key in ("active_units", "kl_total", "floor_fraction", "diversity_ratio", "estimated_dead_fraction"):
        assert METRICS[key].family == "posterior"
    assert METRICS["active_units"].better == "higher"
    assert METRICS["floor_fraction"].better == "lower"
