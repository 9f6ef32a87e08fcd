import numpy as np
import pytest

from core.metrics import Undefined
from core.metrics.spectrum import rankme, singular_values


def test_rankme_isotropic_is_full_rank():
    assert rankme(np.eye(6) * 3.0) == pytest.approx(6.0, rel=1e-6)


def test_rankme_rank_one_is_one():
    x = np.outer(np.arange(1, 11), np.ones(5))
    assert rankme(x) == pytest.approx(1.0, abs=1e-6)


def test_rankme_two_unequal_directions():
    x = np.diag([3.0, 1.0])
    p = np.array([0.75, 0.25])
    assert rankme(x) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-6)


def test_singular_values_centered_and_sorted():
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]]) + 5.0
    assert singular_values(x, center=True) == pytest.approx([2 * np.sqrt(2), np.sqrt(2)])


@pytest.mark.parametrize("x", [np.zeros((4, 3)), np.full((4, 3), np.nan), np.zeros((0, 3))])
def test_rankme_undefined(x):
    assert isinstance(rankme(x), Undefined)
