"""Codebook usage metrics against hand-computed cases, scipy's entropy, and bad input."""

import math

import numpy as np
import pytest
from scipy.stats import entropy

from core.io.errors import ProbeError
from core.metrics import METRICS, Undefined
from core.metrics.codebook import (
    code_counts,
    dead_fraction,
    dead_mask,
    lorenz_curve,
    perplexity,
    perplexity_ratio,
    sorted_usage,
    usage_entropy,
    usage_per_class,
    usage_summary,
    usage_timeline,
)


def test_hand_case_perplexity_is_two_sqrt_two():
    counts = code_counts(np.array([0, 0, 1, 2]), 4)
    np.testing.assert_array_equal(counts, [2, 1, 1, 0])
    assert perplexity(counts) == pytest.approx(2 * math.sqrt(2))
    assert perplexity_ratio(counts) == pytest.approx(2 * math.sqrt(2) / 4)
    assert dead_fraction(counts) == 0.25


def test_uniform_use_gives_k_and_one_code_gives_one():
    k = 8
    assert perplexity(code_counts(np.tile(np.arange(k), 5), k)) == pytest.approx(k)
    assert perplexity_ratio(code_counts(np.arange(k), k)) == pytest.approx(1.0)
    one = code_counts(np.full((10, 4), 3), k)
    assert perplexity(one) == pytest.approx(1.0)
    assert dead_fraction(one) == pytest.approx(7 / 8)


def test_entropy_matches_scipy_on_ema_like_counts():
    counts = np.random.default_rng(0).gamma(0.3, size=512)
    assert usage_entropy(counts) == pytest.approx(entropy(counts))
    assert perplexity(counts) == pytest.approx(math.exp(entropy(counts)))


def test_counts_accumulate_over_the_whole_pass_not_per_batch():
    batches = [np.zeros(4, dtype=int), np.ones(4, dtype=int)]  # each batch alone has perplexity 1
    total = sum(code_counts(b, 2) for b in batches)
    assert perplexity(total) == pytest.approx(2.0)


def test_single_code_codebook_ratio_is_undefined():
    counts = code_counts(np.zeros(5, dtype=int), 1)
    assert perplexity(counts) == pytest.approx(1.0)
    ratio = perplexity_ratio(counts)
    assert isinstance(ratio, Undefined) and "single code" in ratio.reason


def test_empty_pass_is_undefined_no_indices():
    counts = code_counts(np.array([], dtype=np.int64), 16)
    assert counts.shape == (16,) and counts.sum() == 0
    for value in (perplexity(counts), perplexity_ratio(counts), dead_fraction(counts), usage_entropy(counts)):
        assert isinstance(value, Undefined) and value.reason == "no indices"
    assert isinstance(usage_summary(counts)["used_codes"], Undefined)


@pytest.mark.parametrize("bad", [np.array([0, 4]), np.array([-1, 2])])
def test_out_of_range_indices_raise_a_clear_error(bad):
    with pytest.raises(ProbeError, match=r"\[0, 4\)"):
        code_counts(bad, 4)


def test_non_integer_indices_and_bad_k_raise():
    with pytest.raises(ProbeError, match="integers"):
        code_counts(np.array([0.0, 1.0]), 4)
    with pytest.raises(ProbeError, match="at least 1"):
        code_counts(np.array([0]), 0)


def test_nan_counts_are_undefined_not_a_crash():
    value = perplexity(np.array([1.0, np.nan, 2.0]))
    assert isinstance(value, Undefined) and "non-finite" in value.reason


def test_dead_threshold_is_relative_to_the_uniform_share():
    counts = np.array([1.0, 10.0, 10.0, 10.0])  # code 0 has share 1/31, uniform share 1/4
    assert dead_fraction(counts) == 0.0
    assert dead_fraction(counts, threshold=0.5) == 0.25  # 1/31 <= 0.5 / 4
    np.testing.assert_array_equal(dead_mask(counts, 0.5), [True, False, False, False])


def test_sorted_usage_and_lorenz_curve():
    counts = np.array([0, 3, 0, 1])
    np.testing.assert_allclose(sorted_usage(counts), [0.75, 0.25, 0, 0])
    x, y = lorenz_curve(counts)
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(y, [0, 0, 0, 0.25, 1])


def test_usage_per_class_hand_case():
    indices = np.array([[0, 1], [1, 1], [2, 0]])
    per_class = usage_per_class(indices, np.array([0, 0, 1]), 3)
    np.testing.assert_array_equal(per_class, [[1, 3, 0], [1, 0, 1]])
    with pytest.raises(ProbeError, match="labels"):
        usage_per_class(indices, np.array([0, 1]), 3)
    with pytest.raises(ProbeError, match=r"\[0, 2\)"):
        usage_per_class(indices, np.array([0, 0, 1]), 2)


def test_summary_reports_the_worst_head_and_registered_keys():
    counts = np.array([[5, 5, 5, 5], [20, 0, 0, 0]])
    summary = usage_summary(counts)
    assert summary["worst_head"] == 1 and summary["codebook_heads"] == 2
    assert summary["code_perplexity"] == pytest.approx(1.0)
    assert summary["used_codes"] == 1 and summary["dead_code_fraction"] == 0.75
    assert all(METRICS[k].family == "codebook" for k in summary)


def test_timeline_is_nan_where_undefined():
    ppl, dead = usage_timeline(np.array([[1, 1], [0, 0]]))
    assert ppl[0] == pytest.approx(2.0) and math.isnan(ppl[1])
    assert dead[0] == 0.0 and math.isnan(dead[1])
