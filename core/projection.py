"""2-D projection frame: UMAP fitted once on a reference set, other points placed into the same frame.

The reference set is the inputs (probe embeddings) of checkpoint A. Every other point, trajectory
steps or checkpoint B's points, is *placed* rather than re-projected, so pictures compare across
flips and checkpoints.

Placement: the inverse-distance weighted mean of the 2-D coordinates of the `k` nearest reference
points (cosine neighbours, searched in the full embedding space with one float32 matrix product). This
is what `UMAP.transform` starts from before its few epochs of layout optimisation; skipping those epochs
keeps placing 5,500 trajectory points against 1,000 references at ~0.15 s instead of seconds (plus a numba JIT
on first use), at the price of points never leaving the convex hull of their neighbours. A point far
from every reference point (flowed off the inputs' manifold) has nearly equidistant neighbours and lands
near their centroid, so its position is only indicative; `nearest_distance` tells how far. A point within
1e-2 (cosine > 0.99995) of a reference point lands exactly on its coordinates, since float32 dot
products put a copy of a point up to ~1e-3 away from it.

umap-learn JIT-compiles with numba on first use, so `NUMBA_CACHE_DIR` is pointed at a persistent
per-user cache (`~/.cache/collapse-explorer/numba`) before umap is imported. Demo projections are
fitted at demo-build time and shipped (`projection.npz` per flow run folder), so first paint never fits;
frames fitted for other probe data are kept by fingerprint in `~/.cache/collapse-explorer/projections`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ProbeError
from .limits import ARCHIVE_ERRORS, regular_file
from .probe import check_npz

PROJECTION_NAME = "projection.npz"
CACHE_DIR = Path.home() / ".cache" / "collapse-explorer"
NUMBA_CACHE = CACHE_DIR / "numba"
PROJECTION_CACHE = CACHE_DIR / "projections"
# Below this many rows umap's exact nearest-neighbour search is used unless forced off.
_APPROXIMATE_BELOW = 4096
_CHUNK = 4096
_SNAP = 1e-2


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of x [N, D] scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def fingerprint(reference: np.ndarray) -> str:
    """Short content hash of a reference set (as float32), to match a saved frame to its data."""
    ref = np.ascontiguousarray(reference, dtype=np.float32)
    return hashlib.sha256(str(ref.shape).encode() + ref.tobytes()).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class Projection:
    """A fitted 2-D frame: reference rows float32 [M, D] (unit) and their coordinates float32 [M, 2].

    `key` is the fingerprint of the reference as it was given (before normalising), which a saved
    frame is matched against; it defaults to the fingerprint of `reference`.
    """

    reference: np.ndarray
    coords: np.ndarray
    k: int = 10
    seed: int = 0
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", fingerprint(self.reference))

    def _neighbours(self, points: np.ndarray, k: int) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        """Per row chunk: (rows, indices int [c, k], chord distances float32 [c, k]) of the k nearest
        reference rows to the unit-normalised points."""
        points = unit_rows(points)
        if points.ndim != 2 or points.shape[1] != self.reference.shape[1]:
            raise ProbeError(
                f"points of dimension {points.shape[-1]} cannot be placed in a frame fitted on "
                f"dimension {self.reference.shape[1]}"
            )
        k = min(k, len(self.reference))
        for start in range(0, len(points), _CHUNK):
            sims = points[start : start + _CHUNK] @ self.reference.T
            nearest = np.argpartition(sims, -k, axis=1)[:, -k:]
            sim = np.take_along_axis(sims, nearest, axis=1)
            yield slice(start, start + len(sims)), nearest, np.sqrt(np.maximum(2.0 - 2.0 * sim, 0.0))

    def place(self, points: np.ndarray) -> np.ndarray:
        """Coordinates float32 [P, 2] of points [P, D] in this frame (see module docstring)."""
        out = np.empty((len(points), 2), dtype=np.float32)
        for rows, nearest, dist in self._neighbours(points, self.k):
            weights = 1.0 / (dist + 1e-6)
            exact = dist < _SNAP
            snapped = exact.any(axis=1)
            weights[snapped] = exact[snapped]
            weights /= weights.sum(axis=1, keepdims=True)
            out[rows] = np.einsum("pk,pkc->pc", weights, self.coords[nearest])
        return out

    def nearest_distance(self, points: np.ndarray) -> np.ndarray:
        """Chord distance float32 [P] from each point (unit-normalised) to its nearest reference row."""
        out = np.empty(len(points), dtype=np.float32)
        for rows, _, dist in self._neighbours(points, 1):
            out[rows] = dist[:, 0]
        return out

    def place_trajectories(self, traj: np.ndarray) -> np.ndarray:
        """Coordinates float32 [T+1, N, 2] of trajectories [T+1, N, D]."""
        steps, n, d = traj.shape
        return self.place(traj.reshape(steps * n, d)).reshape(steps, n, 2)

    def save(self, path: str | Path) -> None:
        """Write the coordinates and the reference fingerprint (not the reference rows) to `.npz`."""
        np.savez_compressed(
            path,
            coords=self.coords.astype(np.float32),
            fingerprint=np.array(self.key),
            k=np.array(self.k),
            seed=np.array(self.seed),
        )

    @classmethod
    def load(cls, path: str | Path, reference: np.ndarray) -> Projection:
        """Frame saved at `path` for `reference` [M, D]; ProbeError if it was fitted on other data."""
        try:
            check_npz(regular_file(path, ProbeError))  # untrusted like any file beside a probe
            with np.load(path, allow_pickle=False) as npz:
                coords, saved = npz["coords"], str(npz["fingerprint"])
                k, seed = int(npz["k"]), int(npz["seed"])
        except (*ARCHIVE_ERRORS, TypeError, MemoryError) as exc:
            raise ProbeError(f"cannot read projection {Path(path).name}: {exc}") from None
        if coords.shape != (len(reference), 2) or saved != fingerprint(reference):
            raise ProbeError(f"projection {Path(path).name} was fitted on different probe data")
        return cls(unit_rows(reference), coords.astype(np.float32), k=k, seed=seed, key=saved)


def _umap_class() -> type:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(NUMBA_CACHE))
    Path(os.environ["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    from umap import UMAP

    return UMAP


def fit_projection(
    reference: np.ndarray, *, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1, k: int = 10
) -> Projection:
    """Fit seeded UMAP (cosine) on reference [M, D]; M >= 4 rows, finite values."""
    ref = unit_rows(reference)
    if ref.ndim != 2 or len(ref) < 4:
        raise ProbeError(f"a projection needs at least 4 reference points, got shape {ref.shape}")
    if not np.isfinite(ref).all():
        raise ProbeError("reference points contain NaN or inf")
    umap_cls = _umap_class()
    model = umap_cls(
        n_neighbors=min(n_neighbors, len(ref) - 1),
        min_dist=min_dist,
        metric="cosine",
        random_state=seed,
        n_jobs=1,
        force_approximation_algorithm=len(ref) < _APPROXIMATE_BELOW,
    )
    coords = model.fit_transform(ref).astype(np.float32)
    return Projection(ref, coords, k=k, seed=seed, key=fingerprint(reference))


def cached_projection(
    reference: np.ndarray, shipped: str | Path | None = None, *, cache_dir: Path = PROJECTION_CACHE
) -> Projection:
    """The frame for `reference`: a shipped file that matches it, else one fitted earlier and kept in
    `cache_dir` (by fingerprint), else a fresh fit saved there. Nothing is written beside user data."""
    cached = Path(cache_dir) / f"{fingerprint(reference)}.npz"
    for path in (shipped, cached):
        if path is not None and Path(path).is_file():
            try:
                return Projection.load(path, reference)
            except ProbeError:
                continue
    projection = fit_projection(reference)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        projection.save(cached)
    except OSError:
        pass  # The cache only saves a refit next time; a read-only home must not break the page.
    return projection


def build_demo_projections(out_dir: str | Path) -> list[Path]:
    """Fit one frame per flow run's `probe.npz` under `out_dir/flow/*/` and save `projection.npz` beside it.

    Runs sharing the same probe rows share one fit. Returns the files written.
    """
    from .probe import load_probe

    written: list[Path] = []
    fitted: dict[str, Projection] = {}
    for probe_path in sorted(Path(out_dir).glob("flow/*/probe.npz")):
        embeddings = load_probe(probe_path).embeddings
        if embeddings is None:
            continue
        key = fingerprint(embeddings)
        if key not in fitted:
            fitted[key] = fit_projection(embeddings)
        target = probe_path.with_name(PROJECTION_NAME)
        fitted[key].save(target)
        written.append(target)
    return written
