import numpy as np
import pytest

from core.errors import ProbeError
from core.probe import ProbeData, save_probe
from core.projection import Projection, build_demo_projections, cached_projection, unit_rows


def _frame(n=40, d=6, seed=0) -> Projection:
    rng = np.random.default_rng(seed)
    return Projection(unit_rows(rng.normal(size=(n, d))), rng.normal(size=(n, 2)).astype(np.float32), k=5)


def test_reference_points_land_on_their_coordinates():
    frame = _frame()
    assert np.allclose(frame.place(frame.reference * 3.0), frame.coords)


def test_placement_is_a_weighted_mean_of_neighbours():
    reference = unit_rows(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    coords = np.array([[0.0, 0.0], [2.0, 0.0], [9.0, 9.0], [9.0, -9.0]], dtype=np.float32)
    frame = Projection(reference, coords, k=2)
    # Halfway between the first two references: equal weights, the midpoint of their coordinates.
    assert frame.place(np.array([[1.0, 1.0]])) == pytest.approx(np.array([[1.0, 0.0]]))


def test_place_trajectories_shape_and_dimension_check():
    frame = _frame()
    traj = np.stack([frame.reference[:7]] * 3)
    assert frame.place_trajectories(traj).shape == (3, 7, 2)
    with pytest.raises(ProbeError, match="dimension"):
        frame.place(np.ones((2, 5)))


def test_save_load_round_trip_and_fingerprint(tmp_path):
    frame = _frame()
    frame.save(tmp_path / "projection.npz")
    again = Projection.load(tmp_path / "projection.npz", frame.reference)
    assert np.array_equal(again.coords, frame.coords)
    assert again.k == frame.k
    with pytest.raises(ProbeError, match="different probe data"):
        Projection.load(tmp_path / "projection.npz", _frame(seed=1).reference)


def test_cached_projection_prefers_the_shipped_file(tmp_path):
    frame = _frame()
    frame.save(tmp_path / "shipped.npz")
    found = cached_projection(frame.reference, tmp_path / "shipped.npz", cache_dir=tmp_path / "cache")
    assert np.array_equal(found.coords, frame.coords)
    assert not (tmp_path / "cache").exists()


def test_build_demo_projections_fits_once_per_probe(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 4
    embeddings = (centres[np.arange(60) % 3] + rng.normal(size=(60, 8))).astype(np.float32)
    probe = ProbeData(embeddings=embeddings, attributes=(np.arange(60)[:, None] % 2).astype(np.int8))
    for run in ("collapsed", "fixed"):
        (tmp_path / "flow" / run).mkdir(parents=True)
        save_probe(tmp_path / "flow" / run / "probe.npz", probe)
    written = build_demo_projections(tmp_path)
    assert [p.parent.name for p in written] == ["collapsed", "fixed"]
    first = Projection.load(written[0], embeddings)
    second = Projection.load(written[1], embeddings)
    assert np.array_equal(first.coords, second.coords)
    assert np.isfinite(first.coords).all() and first.coords.std(axis=0).min() > 0
    # Seeded UMAP on three separated blobs: each point's nearest 2-D neighbour is in its own blob.
    d2 = ((first.coords[:, None] - first.coords[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    assert (d2.argmin(axis=1) % 3 == np.arange(60) % 3).mean() > 0.95


def test_nearest_distance():
    frame = _frame()
    assert np.allclose(frame.nearest_distance(frame.reference[:5]), 0.0, atol=2e-3)
    reference = unit_rows(np.eye(3))
    frame = Projection(reference, np.zeros((3, 2), np.float32))
    # (1, 1, 0) / sqrt(2) is 45 degrees from two axes: chord 2 sin(22.5 deg).
    assert frame.nearest_distance(np.array([[1.0, 1.0, 0.0]]))[0] == pytest.approx(
        2 * np.sin(np.pi / 8), abs=1e-6
    )
