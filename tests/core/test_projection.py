import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from core.io.errors import ProbeError
from core.io.files import content_digest
from core.metrics import Undefined
from core.plots.flow.projection import (
    FrameStore,
    JointFrame,
    LayoutSettings,
    Projection,
    align_onto,
    cached_projection,
    fit_joint_frame,
    fit_projection,
    frame_key,
    frame_rows,
    knn_graph,
    unit_rows,
)


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


def test_shipped_frames_are_not_followed_out_of_their_folder(tmp_path, monkeypatch):
    """A projection or joint frame beside a probe that is a symlink to a file elsewhere is not read."""
    frame = _frame()
    outside, run = tmp_path / "outside", tmp_path / "run"
    outside.mkdir()
    run.mkdir()
    frame.save(outside / "projection.npz")
    (run / "projection.npz").symlink_to(outside / "projection.npz")
    fitted = _frame(seed=3)
    monkeypatch.setattr("core.plots.flow.projection.fit_projection", lambda reference: fitted)
    found = cached_projection(frame.reference, run / "projection.npz", cache_dir=tmp_path / "cache")
    assert np.array_equal(found.coords, fitted.coords)

    rows = np.arange(4, dtype=np.int64)
    JointFrame(rows, np.zeros((8, 2), np.float32), 0.9, "k1").save(outside / "k1.npz")
    (run / "k1.npz").symlink_to(outside / "k1.npz")
    assert FrameStore(run, None).get("k1", rows) is None


def test_nearest_distance():
    frame = _frame()
    assert np.allclose(frame.nearest_distance(frame.reference[:5]), 0.0, atol=2e-3)
    reference = unit_rows(np.eye(3))
    frame = Projection(reference, np.zeros((3, 2), np.float32))
    # (1, 1, 0) / sqrt(2) is 45 degrees from two axes: chord 2 sin(22.5 deg).
    assert frame.nearest_distance(np.array([[1.0, 1.0, 0.0]]))[0] == pytest.approx(
        2 * np.sin(np.pi / 8), abs=1e-6
    )


def test_knn_graph_matches_sklearn_cosine_neighbours():
    points = unit_rows(np.random.default_rng(3).normal(size=(300, 12)))
    indices, dists = knn_graph(points, 8)
    assert indices.shape == dists.shape == (300, 8) and indices.dtype == np.int32
    assert np.array_equal(indices[:, 0], np.arange(300)) and np.all(dists[:, 0] == 0)
    assert np.all(np.diff(dists, axis=1) >= 0)
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=8, metric="cosine").fit(points).kneighbors(points)
    assert np.array_equal(np.sort(indices, axis=1), np.sort(ref_idx, axis=1))
    assert np.allclose(dists, ref_dist, atol=1e-5)


def test_frame_rows_keep_every_row_or_a_stratified_sample():
    attributes = np.zeros((5000, 2), np.int8)
    attributes[:50, 0] = 1  # a rare combination
    assert np.array_equal(frame_rows(attributes[:800]), np.arange(800))
    rows = frame_rows(attributes, limit=1000)
    assert len(rows) == 1000 and np.all(np.diff(rows) > 0)
    assert 9 <= (rows < 50).sum() <= 11  # 1% of the rows, 1% of the sample
    assert np.array_equal(rows, frame_rows(attributes, limit=1000))


def test_align_onto_recovers_a_similarity_transform():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(30, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    # coords = target rotated, reflected, scaled by 3 and shifted, plus 5 extra points moved the same way.
    extra = rng.normal(size=(5, 2))
    moved = np.concatenate([target, extra]) @ rotation * np.array([1.0, -1.0]) * 3.0 + np.array([4.0, -2.0])
    back = align_onto(moved.astype(np.float32), np.arange(30), target)
    assert np.allclose(back[:30], target, atol=1e-4)
    assert np.allclose(back[30:], extra, atol=1e-4)
    still = align_onto(np.zeros((3, 2), np.float32), np.arange(3), np.ones((3, 2)))
    assert np.allclose(still, 1.0)


def test_joint_frame_save_load_and_store(tmp_path):
    rows = np.arange(4, dtype=np.int64)
    frame = JointFrame(rows, np.arange(16, dtype=np.float32).reshape(8, 2), 0.95, "k1")
    assert np.array_equal(frame.inputs, frame.coords[:4]) and np.array_equal(
        frame.endpoints, frame.coords[4:]
    )
    store = FrameStore(tmp_path / "shipped", tmp_path / "cache")
    assert store.get("k1", rows) is None
    store.put(frame)
    again = store.get("k1", rows)
    assert again.trust == 0.95 and np.array_equal(again.coords, frame.coords) and again.key == "k1"
    assert store.get("k1", rows + 1) is None  # fitted on other rows
    (tmp_path / "shipped").mkdir()
    shipped = JointFrame(rows, np.zeros((8, 2), np.float32), Undefined("too few points"), "k1")
    shipped.save(tmp_path / "shipped" / "k1.npz")
    found = store.get("k1", rows)
    assert np.array_equal(found.coords, shipped.coords) and found.trust == Undefined("too few points")
    # A damaged or disguised frame file is skipped (read as untrusted), not raised.
    (tmp_path / "cache" / "k2.npz").write_bytes(b"PK\x03\x04 not a zip")
    (tmp_path / "cache" / "k3.npz").mkdir()
    assert store.get("k2", rows) is None and store.get("k3", rows) is None
    # An unwritable cache is skipped silently; no cache folder means nothing is kept.
    (tmp_path / "file").write_text("")
    FrameStore(None, tmp_path / "file" / "sub").put(frame)
    FrameStore(None, None).put(frame)
    assert FrameStore(None, None).get("k1", rows) is None


def test_frame_key_follows_every_part():
    target = np.zeros((3, 2), np.int8)
    base = frame_key("ckpt", "probe", "input frame", target, 10, 0.1)
    assert base == frame_key("ckpt", "probe", "input frame", target.copy(), 10, 0.1)
    changed = [
        frame_key("ckpt2", "probe", "input frame", target, 10, 0.1),
        frame_key("ckpt", "probe", "home", target, 10, 0.1),
        frame_key("ckpt", "probe", "input frame", 1 - target, 10, 0.1),
        frame_key("ckpt", "probe", "input frame", target, 11, 0.1),
        frame_key("ckpt", "probe", "input frame", target, 10, 0.2),
        frame_key("ckpt", "probe", "input frame", target, 10, 0.1, layout=LayoutSettings(warm_epochs=5)),
    ]
    assert len({base, *changed}) == 7


def test_content_digest_follows_bytes_not_place(tmp_path):
    (tmp_path / "a.pt").write_bytes(b"weights")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.pt").write_bytes(b"weights")
    assert content_digest(tmp_path / "a.pt") == content_digest(tmp_path / "sub" / "b.pt")
    (tmp_path / "sub" / "b.pt").write_bytes(b"weights2")
    assert content_digest(tmp_path / "a.pt") != content_digest(tmp_path / "sub" / "b.pt")
    assert len(content_digest(tmp_path / "sub")) == 16


def _collapsing_blobs(n: int = 120, d: int = 10):
    """Inputs in three blobs; endpoints: rows of target group g all on prototype g (total collapse) or,
    for the `healthy` variant, each input nudged a little."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, d)) * 3
    inputs = unit_rows(centres[np.arange(n) % 3] + rng.normal(size=(n, d)))
    prototypes = unit_rows(rng.normal(size=(4, d)))
    groups = np.arange(n) % 4
    collapsed = prototypes[groups] + 1e-4 * rng.normal(size=(n, d))
    healthy = unit_rows(inputs + 0.05 * rng.normal(size=(n, d)))
    return inputs, collapsed.astype(np.float32), healthy, groups


def test_joint_frame_shows_the_collapse_and_stays_aligned():
    inputs, collapsed, healthy, groups = _collapsing_blobs()
    rows = np.arange(len(inputs))
    input_frame = fit_projection(inputs)
    home = fit_joint_frame(inputs, collapsed, rows, input_frame, key="home")
    assert home.coords.shape == (240, 2) and home.trust > 0.9
    span = np.ptp(home.coords, axis=0).max()
    # Each collapsed target group is a dot, far from every input; distinct groups are apart.
    centres = np.stack([home.endpoints[groups == g].mean(axis=0) for g in range(4)])
    for g in range(4):
        assert np.linalg.norm(home.endpoints[groups == g] - centres[g], axis=1).max() < 0.02 * span
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)[np.triu_indices(4, 1)]
    assert gaps.min() > 0.05 * span
    to_inputs = np.linalg.norm(home.endpoints[:, None] - home.inputs[None], axis=-1).min(axis=1)
    assert to_inputs.min() > 0.02 * span
    # The home frame is aligned on the input frame: inputs keep their neighbours' layout and place.
    assert np.linalg.norm(home.inputs - input_frame.coords, axis=1).mean() < 0.25 * np.ptp(input_frame.coords)

    # Started from the home frame, inputs stay exactly where they were and the same collapse (reached
    # by other rows) lands on the same islands.
    anchor = home.projection(inputs, collapsed)
    again = fit_joint_frame(inputs, collapsed[::-1].copy(), rows, input_frame, key="warm", anchor=anchor)
    assert np.array_equal(again.inputs, home.inputs)
    reversed_groups = groups[::-1]
    moved = [
        np.linalg.norm(again.endpoints[reversed_groups == g].mean(axis=0) - centres[g]) for g in range(4)
    ]
    assert max(moved) < 0.08 * span
    spread = fit_joint_frame(inputs, healthy, rows, input_frame, key="healthy", anchor=anchor)
    near = np.linalg.norm(spread.endpoints - spread.inputs, axis=1)
    assert np.median(near) < 0.1 * np.ptp(spread.coords, axis=0).max()
    assert spread.trust > 0.9
    with pytest.raises(ProbeError, match="NaN"):
        fit_joint_frame(inputs, np.full_like(collapsed, np.nan), rows, input_frame, key="nan")
    with pytest.raises(ProbeError, match="needs 120"):
        fit_joint_frame(inputs[:10], collapsed, rows, input_frame, key="short")
