import numpy as np
import pytest
import torch

from core.metrics import Undefined
from core.metrics.field import field_stats


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
