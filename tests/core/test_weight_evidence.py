"""Evidence from the weights alone: codebooks (init, duplicates, rank) and VAE heads (rows, columns), fix texts."""

import numpy as np
import pytest

from core.diagnosis.codebook import codebook_fix, weight_severity
from core.diagnosis.text import ATTENTION_FIX, FIX, mode_fix
from core.metrics import Undefined
from core.metrics.codebook import code_clusters, codes_at_init, weight_evidence
from core.metrics.posterior import as_logvar, input_column_norms, row_norms, weight_only_units


def test_codes_at_init_by_norm_for_uniform_and_normal_inits():
    k, d = 100, 4
    rng = np.random.default_rng(0)
    box = rng.uniform(-1 / k, 1 / k, (k, d))
    normal = rng.normal(0, 1 / k, (k, d))
    assert codes_at_init(box).all()
    assert codes_at_init(normal).mean() > 0.95
    trained = box.copy()
    trained[:3] = [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0.05, 0]]
    assert codes_at_init(trained).tolist() == [False] * 3 + [True] * 97


def test_near_duplicates_are_one_component():
    book = np.array([[1.0, 0], [1.0 + 1e-6, 0], [0, 1.0], [0, -1.0], [0, -1.0]])
    labels = code_clusters(book)
    assert len(np.unique(labels)) == 3 and labels[0] == labels[1] and labels[3] == labels[4]
    assert (code_clusters(np.zeros((4, 2))) == 0).all()
    assert isinstance(code_clusters(np.full((2, 2), np.nan)), Undefined)


def test_weight_evidence_bounds_the_codes_in_use():
    k = 20
    book = np.random.default_rng(1).uniform(-1 / k, 1 / k, (k, 3))
    book[:2] = [[2.0, 0, 0], [0, 2.0, 0]]
    book[2] = book[0] + 1e-7
    m = weight_evidence(book, ema=False)
    assert (m["codes_at_init"], m["duplicate_codes"], m["distinct_codes_estimate"]) == (17, 1, 2)
    assert m["live_fraction_estimate"] == pytest.approx(0.1) and weight_severity(m) == "collapse"
    healthy = weight_evidence(np.random.default_rng(2).normal(size=(k, 3)), ema=False)
    assert healthy["distinct_codes_estimate"] == k and weight_severity(healthy) == "undefined"
    ema = weight_evidence(book, ema=True)
    assert isinstance(ema["codes_at_init"], Undefined) and ema["duplicate_codes"] >= 1
    untrained = weight_evidence(np.random.default_rng(3).uniform(-1 / k, 1 / k, (k, 3)), ema=False)
    assert isinstance(untrained["codes_at_init"], Undefined) and weight_severity(untrained) == "undefined"
    half = np.random.default_rng(4).normal(size=(k, 3))
    half[: k // 2 + 2] = half[0]
    assert weight_severity(weight_evidence(half, ema=False)) == "warning"


def test_variance_heads_read_as_log_variance():
    out = np.array([[0.0, -1.0, 2.0]])
    np.testing.assert_allclose(as_logvar(out, "logvar"), out)
    np.testing.assert_allclose(as_logvar(out, "log_std"), 2 * out)
    np.testing.assert_allclose(as_logvar(np.array([[1.0, 2.0]]), "std"), [[0.0, 2 * np.log(2.0)]])
    np.testing.assert_allclose(as_logvar(np.array([[0.0]]), "std"), [[2 * np.log(np.log(2.0))]])


def test_row_and_column_norms_of_linear_and_conv_layers():
    np.testing.assert_allclose(row_norms(np.array([[3.0, 4.0], [0.0, 0.0]])), [5.0, 0.0])
    assert row_norms(np.ones((3, 2, 2, 2))).tolist() == [np.sqrt(8)] * 3
    linear, scale = input_column_norms(np.array([[3.0, 0.0], [4.0, 0.0]]), 2)
    np.testing.assert_allclose(linear, [5.0, 0.0])
    assert scale == pytest.approx(np.sqrt(1 / 3))
    conv, _ = input_column_norms(np.ones((5, 4, 3, 3)), 4)
    transposed, _ = input_column_norms(np.ones((4, 6, 3, 3)), 4)
    assert conv.shape == transposed.shape == (4,)
    assert input_column_norms(np.ones((5, 3)), 4) is None


def test_weight_only_units_flag_rows_near_zero_relative_to_the_others_and_to_init():
    mu = np.array([[1.0, 0.5], [0.01, 0.0], [0.3, 0.4]])
    lv = np.array([[0.5, 0.0], [0.0, 0.001], [0.2, 0.0]])
    masks = weight_only_units(mu, lv, np.array([-3.0, 0.02, -2.0]), (np.array([1.0, 0.9, 0.001]), 0.5))
    assert masks["inactive"].tolist() == [False, True, False]
    assert masks["prior"].tolist() == [False, True, False]
    assert masks["ignored"].tolist() == [False, False, True]
    assert masks["dead"].tolist() == [False, True, True]
    tiny = weight_only_units(np.full((4, 3), 1e-3), np.full((4, 3), 1e-3), np.zeros(4))
    assert tiny["inactive"].all() and tiny["prior"].all()


def test_fix_texts_name_only_parts_the_model_has():
    plain = codebook_fix(("encoder", "codebook", "decoder"))
    assert "semantic" not in plain and "warm-up" not in plain and "reseeding" in plain
    with_heads = codebook_fix(("encoder", "codebook", "semantic heads"))
    assert "VQ-only warm-up" in with_heads and "semantic heads" in with_heads
    assert mode_fix(("additive bridge", "t5")) == FIX and "replace the additive bridge" in FIX
    assert mode_fix(("attention bridge", "t5")) == ATTENTION_FIX and "replace" not in ATTENTION_FIX


def test_a_weights_only_vae_cannot_be_analysed_or_traversed(tmp_path):
    from core.adapters.registry import open_adapter
    from core.diagnosis.posterior import analyse, latent_traversal
    from core.io.errors import AdapterError
    from tests.adapters.cases_posterior import heads_only_case

    adapter = open_adapter(str(heads_only_case(tmp_path)))
    with pytest.raises(AdapterError, match="--builder"):
        analyse(adapter, np.zeros((3, 1, 8, 8), np.float32))
    with pytest.raises(AdapterError, match="cannot decode"):
        latent_traversal(adapter, np.zeros(4), [0], [0.0, 1.0])
