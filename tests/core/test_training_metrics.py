"""Training-curve event detection on hand-computed and synthetic series."""

import math

import numpy as np
import pytest

from core.metrics import METRICS, Undefined
from core.metrics.training import (
    ema_smooth,
    first_nonfinite,
    grad_blowup,
    grad_norm_ratio,
    group_runs,
    is_flag,
    is_grad_norm,
    is_loss,
    loss_spikes,
    pair_train_val,
    spike_threshold,
    split_role,
    train_val_gap,
    val_divergence,
)


def test_ema_matches_tensorboard_debiased_smoothing():
    # w = 0.5: a1 = 0.5, s1 = 0.5 / 0.5 = 1; a2 = 0.25 + 1 = 1.25, s2 = 1.25 / 0.75 = 5/3
    assert ema_smooth(np.array([1.0, 2.0]), 0.5).tolist() == pytest.approx([1.0, 5 / 3])
    out = ema_smooth(np.array([1.0, math.nan, 2.0]), 0.5)
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == pytest.approx(5 / 3)  # NaN passes through
    assert ema_smooth(np.array([3.0, 1.0]), 0.0).tolist() == [3.0, 1.0]
    with pytest.raises(ValueError):
        ema_smooth(np.array([1.0]), 1.0)


def test_first_nonfinite():
    steps = np.array([10.0, 20.0, 30.0, 40.0])
    bad = first_nonfinite(steps, np.array([1.0, 2.0, math.inf, math.nan]))
    assert (bad.index, bad.step, bad.value) == (2, 30.0, math.inf)
    assert first_nonfinite(steps, np.ones(4)) is None


def test_spike_threshold_by_hand():
    # median 1, MAD 0.5 -> sigma 0.7413; 1 + 6 * 0.7413 = 5.4478
    assert spike_threshold(np.array([1.0]), np.array([0.5]), 6.0, 0.05)[0] == pytest.approx(5.4478)
    # flat history: MAD 0, the floor 0.05 * |median| = 0.1 -> 2 + 6 * 0.1
    assert spike_threshold(np.array([2.0]), np.array([0.0]), 6.0, 0.05)[0] == pytest.approx(2.6)


def test_loss_spike_just_above_and_below_the_threshold():
    base = np.array([1.0, 2.0] * 10)  # median 1.5, MAD 0.5 -> threshold 1.5 + 6 * 0.7413 = 5.948
    assert loss_spikes(np.append(base, 5.9), window=20, min_history=20).tolist() == []
    assert loss_spikes(np.append(base, 6.0), window=20, min_history=20).tolist() == [20]
    assert loss_spikes(np.array([1.0, 100.0]), min_history=10).tolist() == []  # too little history


def test_spike_on_noisy_decay_and_nan_history_ignored():
    rng = np.random.default_rng(1)
    x = 2.0 * np.exp(-np.arange(300) / 100) + 0.02 * rng.standard_normal(300)
    x[200] = 3.0
    x[100:105] = math.nan
    assert loss_spikes(x).tolist() == [200]


def test_group_runs():
    groups = group_runs(np.array([3, 4, 5, 9, 20, 22]), gap=2)
    assert [g.tolist() for g in groups] == [[3, 4, 5], [9], [20, 22]]
    assert group_runs(np.array([], dtype=int)) == []


def test_grad_blowup_by_hand():
    values = np.array([1.0] * 10 + [5.0, 20.0])
    blow = grad_blowup(np.arange(12.0), values)
    # index 10: 5 / median(1) = 5 < 10; index 11: window [1 x 10, 5] has median 1 -> 20x
    assert (blow.index, blow.step, blow.ratio, blow.max_ratio) == (11, 11.0, 20.0, 20.0)
    assert grad_blowup(np.arange(12.0), np.ones(12)) is None
    assert grad_norm_ratio(values) == 20.0
    assert isinstance(grad_norm_ratio(np.array([1.0, 2.0])), Undefined)


def test_validation_rises_while_training_falls_seed_case():
    val_steps = np.array([1.0, 2.0, 3.0, 4.0])
    val = np.array([1.6, 1.5, 5.0, 18.0])
    train_steps, train = np.arange(5.0), np.array([3.0, 2.0, 1.0, 0.5, 0.2])
    div = val_divergence(val_steps, val, train_steps, train)
    # first window [1.6, 1.5, 5]: rising trend, 5 >= 1.6 * 1.1; trouble starts at its best point (1.5)
    assert (div.start_step, div.end_step, div.val_start, div.val_end) == (2.0, 3.0, 1.5, 5.0)
    assert (div.train_start, div.train_end) == (1.0, 0.5)
    assert div.rise == pytest.approx(5 / 1.5 - 1)


def test_no_divergence_when_training_rises_too_or_validation_flat():
    val_steps, val = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])
    rising_train = np.array([1.0, 2.0, 3.0])
    assert val_divergence(val_steps, val, val_steps, rising_train) is None
    assert val_divergence(val_steps, np.array([1.0, 1.05, 1.08]), val_steps, -rising_train) is None
    assert val_divergence(val_steps, val).start_step == 1.0  # no training series: the rise alone
    assert val_divergence(val_steps[:2], val[:2]) is None  # fewer points than the window


def test_train_val_gap_interpolates_training():
    gap = train_val_gap(
        np.array([0.0, 10.0]), np.array([2.0, 1.0]), np.array([5.0, 20.0]), np.array([3.0, 1.0])
    )
    assert gap[0] == pytest.approx(1.5) and math.isnan(gap[1])  # step 20 is outside the training range


def test_names_roles_and_pairs():
    assert split_role("val/cls_loss") == ("val", "cls_loss")
    assert split_role("train_loss_step") == ("train", "loss")
    assert split_role("recon") == (None, "recon")
    names = ["train_loss_step", "train_loss_epoch", "val_loss", "loss/train", "loss/val", "classification"]
    names += ["val_classification", "val_accuracy", "lr"]
    assert pair_train_val(names) == [
        ("classification", "val_classification"),
        ("loss/train", "loss/val"),
        ("train_loss_epoch", "val_loss"),
    ]
    assert is_grad_norm("grad_norm") and is_grad_norm("train/grad-norm") and is_grad_norm("gradient/encoder")
    assert not is_grad_norm("loss")
    assert (
        is_loss("train/recon") and is_loss("val_loss") and not is_loss("val_accuracy") and not is_loss("lr")
    )
    assert is_flag(np.array([0.0, 1.0, 1.0])) and not is_flag(np.array([0.0, 0.5, 1.0]))


def test_metrics_registered():
    for key in ("first_nonfinite_step", "loss_spikes", "val_train_gap", "grad_norm_ratio"):
        assert METRICS[key].family == "training"


def _spikes_by_definition(v: np.ndarray, window: int, k: float = 6.0, min_history: int = 10) -> list[int]:
    """The documented rule, point by point: finite values of the previous `window` points."""
    out = []
    for i, x in enumerate(v):
        prior = v[max(0, i - window) : i]
        prior = prior[np.isfinite(prior)]
        if not np.isfinite(x) or prior.size < min_history:
            continue
        med = np.median(prior)
        scale = max(1.4826 * np.median(np.abs(prior - med)), 0.05 * abs(med))
        if x > med + k * scale:
            out.append(i)
    return out


def test_loss_spikes_match_the_rule_point_by_point():
    rng = np.random.default_rng(3)
    for window in (12, 30, 50):
        x = np.abs(1 + 0.3 * rng.standard_t(2, 1500))  # heavy tails: many candidates, some spikes
        x[rng.integers(0, 1500, 40)] = math.nan
        x[rng.integers(0, 1500, 8)] = math.inf
        expected = _spikes_by_definition(x, window)
        assert len(expected) > 3
        assert loss_spikes(x, window=window).tolist() == expected
