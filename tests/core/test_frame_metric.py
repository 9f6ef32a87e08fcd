import numpy as np
import pytest

from core.metrics import METRICS, Undefined, all_metrics
from core.metrics.flow.frame import trustworthiness_of


def _arc(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors at angles spread over 3 radians, and the angles laid out on a line."""
    angles = np.linspace(0.0, 3.0, n)
    return np.stack([np.cos(angles), np.sin(angles), np.zeros(n)], axis=1), np.stack([angles, 0 * angles], 1)


def test_a_faithful_layout_scores_one_and_a_shuffled_one_far_less():
    points, line = _arc()
    # Cosine distance grows with the angle below pi, so the line keeps every neighbourhood.
    assert trustworthiness_of(points, line) == pytest.approx(1.0)
    shuffled = line[np.random.default_rng(0).permutation(len(line))]
    assert trustworthiness_of(points, shuffled) < 0.7


def test_undefined_cases_say_why():
    points, line = _arc(21)
    assert "more than 21 points" in trustworthiness_of(points, line).reason
    points, line = _arc()
    points[3] = np.nan
    assert isinstance(trustworthiness_of(points, line), Undefined)
    points[3] = 0.0
    assert "zero vector" in trustworthiness_of(points, line).reason
    with pytest.raises(ValueError, match="60 points but 59"):
        trustworthiness_of(points, line[:59])


def test_collapsed_points_are_still_measured():
    # One distinct point: every ranking is a tie, so the value exists and lies in [0, 1].
    value = trustworthiness_of(np.ones((40, 3)), np.random.default_rng(1).normal(size=(40, 2)))
    assert 0.0 <= value <= 1.0


def test_registered_in_the_metrics_table():
    all_metrics()
    assert METRICS["frame_trustworthiness"].better == "higher"
