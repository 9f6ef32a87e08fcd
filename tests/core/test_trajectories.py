import numpy as np
import pytest

from core.metrics import METRICS, Undefined
from core.metrics.flow.trajectories import (
    ENDPOINT_KEYS,
    endpoint_metrics,
    group_spread,
    mean_per_step,
    movement,
    spread_ratio,
    step_distances,
)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_movement_quarter_turn():
    traj = np.array([[[1.0, 0.0]], [[np.sqrt(0.5), np.sqrt(0.5)]], [[0.0, 1.0]]])
    chord, angle = movement(traj)
    assert chord == pytest.approx(np.sqrt(2))
    assert angle == pytest.approx(np.pi / 2)


def test_step_distances_and_mean_per_step():
    traj = np.zeros((3, 2, 1))
    traj[1, :, 0] = [1.0, 3.0]
    traj[2, :, 0] = [1.0, 3.0]
    assert step_distances(traj).tolist() == [[1.0, 3.0], [0.0, 0.0]]
    assert mean_per_step(traj).tolist() == [2.0, 0.0]


def test_group_spread_skips_singletons():
    points = np.array([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0]])
    assert group_spread(points, [0, 0, 1]) == pytest.approx(1.0)
    assert isinstance(group_spread(points, [0, 1, 2]), Undefined)


def test_spread_ratio_halves():
    start = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 9.0], [0.0, 11.0]])
    end = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 9.5], [0.0, 10.5]])
    assert spread_ratio(np.stack([start, end]), [0, 0, 1, 1]) == pytest.approx(0.5)


def _prototype_collapse(n=120, d=16, seed=0):
    rng = np.random.default_rng(seed)
    start = _unit(rng.normal(size=(n, d)))
    target = np.arange(n) % 4
    prototypes = _unit(rng.normal(size=(4, d)))
    steps = [_unit((1 - w) * start + w * prototypes[target]) for w in np.linspace(0, 1, 6)]
    return np.stack(steps).astype(np.float32), target, rng.integers(0, 4, n)


def test_endpoint_metrics_prototype_collapse():
    traj, target, original = _prototype_collapse()
    m = endpoint_metrics(traj, target, original)
    assert list(m) == list(ENDPOINT_KEYS)
    assert m["silhouette_target"] == pytest.approx(1.0, abs=1e-5)
    assert m["distinct_endpoints"] == 4
    assert m["n_clusters"] == 4
    assert m["purity"] == 1.0
    assert m["spread_ratio"] == pytest.approx(0.0, abs=1e-3)
    assert m["rankme_end"] < 4.5
    assert m["step_mean"] > 0


def test_endpoint_metrics_identity_flow_keeps_points_apart():
    traj, target, original = _prototype_collapse()
    still = np.repeat(traj[:1], 6, axis=0)
    m = endpoint_metrics(still, target, original)
    assert m["distinct_endpoints"] == still.shape[1]
    assert m["spread_ratio"] == pytest.approx(1.0)
    assert m["movement_chord"] == 0.0
    assert m["movement_geodesic"] == pytest.approx(0.0, abs=1e-3)
    assert m["step_mean"] == 0.0


def test_endpoint_metrics_nan_is_undefined():
    traj, target, original = _prototype_collapse()
    traj[3, 5, 0] = np.nan
    m = endpoint_metrics(traj, target, original)
    assert all(isinstance(v, Undefined) for v in m.values())
    assert "1 of 120" in m["purity"].reason


def test_endpoint_metrics_one_point_does_not_crash():
    m = endpoint_metrics(np.ones((3, 1, 4), dtype=np.float32), [0], [0])
    assert isinstance(m["silhouette_target"], Undefined)
    assert isinstance(m["distinct_endpoints"], Undefined)
    assert m["n_clusters"] == 1


def test_endpoint_metrics_rejects_label_mismatch():
    with pytest.raises(ValueError, match="labels"):
        endpoint_metrics(np.zeros((2, 3, 4)), [0, 1], [0, 1, 1])


def test_metrics_registered_with_direction():
    for key in ENDPOINT_KEYS:
        assert METRICS[key].family == "flow"
    assert METRICS["silhouette_target"].better == "neither"
    assert METRICS["distinct_endpoints"].better == "higher"
    assert METRICS["spread_ratio"].better == "higher"


def test_reference_and_scale_set_the_endpoint_epsilon():
    traj, target, original = _prototype_collapse()
    still = np.repeat(traj[:1], 2, axis=0)
    coarse = still[0] * 100.0  # a reference spread 100x wider: epsilon covers every endpoint
    assert endpoint_metrics(still, target, original, reference=coarse)["distinct_endpoints"] == 1
    assert endpoint_metrics(still, target, original, scale=1e-9)["distinct_endpoints"] == 120
    assert isinstance(endpoint_metrics(still, target, original, scale=0.0)["purity"], Undefined)
