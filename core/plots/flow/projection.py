"""2-D frames for trajectories: the probe's input frame, and joint frames fitted on inputs and endpoints.

A frame fitted on the inputs alone cannot show points that left the inputs' manifold: a collapsed
endpoint far from every input lands between its nearest inputs and the collapse disappears from the
picture. So each flow gets a **joint frame**: UMAP fitted on the probe inputs and their flow endpoints
together, where collapsed endpoints form islands of their own and healthy ones stay over the inputs.

Alignment. Every joint frame of a probe lives in the coordinates of the probe's **input frame** (UMAP on
the inputs alone, `fit_projection`): its layout starts from an anchor frame and is then mapped onto the
input frame's coordinates of the same inputs by a similarity Procrustes (rotation, reflection, scale,
shift). A checkpoint's **home frame** (the diagnosis's targets) starts from the input frame; every other
setting of that checkpoint starts from its home frame, with new endpoints placed where the home frame
put their nearest points, and a gentle learning rate. So a flip moves what the flow moved, checkpoints
A and B share the inputs' places, and a setting's frame never depends on the order settings were
visited (it is a function of the checkpoint, probe, targets, steps and alpha; see `frame_key`).

Speed. umap-learn's own nearest-neighbour search dominates a fit of a few thousand points, so the kNN
graph is one float32 matrix product (`knn_graph`), and the layout is optimised with umap-learn's graph
and layout functions directly: `UMAP.fit` rescales an initial layout into a 10 x 10 box, which would
throw the anchor's scale away and let islands drift.

Large probes. Frames are fitted on at most `FRAME_ROWS` probe rows (a seeded sample stratified by the
original attributes); the other rows are placed, `Projection.place`, by their nearest fitted points.

Caching. umap-learn JIT-compiles with numba on first use, so `NUMBA_CACHE_DIR` points at a persistent
per-user cache before umap is imported. Frames are looked up by key in a shipped folder (the demo ships
the frames of its default settings, so first paint never fits or imports umap), then in
`~/.cache/collapse-explorer/projections` (or `$COLLAPSE_EXPLORER_FRAME_CACHE`), and fitted and kept
there otherwise.

Why one module: fitting, aligning, placing and caching a frame share the frame key and the Projection
type; split, each part would import all the others.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ...config import CACHE_DIR, ENV_PREFIX, env_text
from ...io.errors import ProbeError
from ...io.files import write_atomic
from ...io.limits import ARCHIVE_ERRORS, regular_file
from ...io.paths import found_file
from ...io.probe import check_npz
from ...metrics.base import Undefined
from ...metrics.flow.clustering import pack_bits
from ...metrics.flow.frame import trustworthiness_of
from ..sample import stratified_sample

PROJECTION_NAME = "projection.npz"
FRAMES_DIR = "frames"
NUMBA_CACHE = CACHE_DIR / "numba"
# Fitted frames go here; COLLAPSE_EXPLORER_FRAME_CACHE moves them (the tests point it at a temp folder).
FRAME_CACHE_ENV = ENV_PREFIX + "FRAME_CACHE"
PROJECTION_CACHE = Path(env_text("FRAME_CACHE") or CACHE_DIR / "projections")
# Frames are fitted on at most this many probe rows (and their endpoints): 2,000 points fit in about a
# second on one core; larger probes are placed into a frame fitted on a stratified sample.
FRAME_ROWS = 1000
_CHUNK = 4096
_SNAP = 1e-2


@dataclass(frozen=True)
class LayoutSettings:
    """UMAP settings of joint frames (all part of every frame's key).

    min_dist 0 and spread 0.5 keep a collapsed target group (one point in embedding space, up to float
    noise) a dot rather than a blob; repulsion 2 lets the islands stand apart from the inputs. A home
    frame runs `home_epochs` at learning rate 1. A frame started from a home frame keeps its inputs fixed
    and moves only the endpoints, `warm_epochs` at `warm_learning_rate`: UMAP never settles islands that
    share no edges (repulsion pushes them apart for as long as the learning rate lasts), so a short,
    gentle refit is what keeps an island whose points did not move where it was.
    """

    n_neighbors: int = 15
    min_dist: float = 0.0
    spread: float = 0.5
    repulsion: float = 2.0
    negative_sample_rate: int = 5
    home_epochs: int = 200
    warm_epochs: int = 50
    warm_learning_rate: float = 0.1
    seed: int = 0


LAYOUT = LayoutSettings()


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of x [N, D] scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def fingerprint(reference: np.ndarray) -> str:
    """Short content hash of a reference set (as float32), to match a saved frame to its data."""
    ref = np.ascontiguousarray(reference, dtype=np.float32)
    return hashlib.sha256(str(ref.shape).encode() + ref.tobytes()).hexdigest()[:16]


def frame_rows(attributes: np.ndarray, limit: int = FRAME_ROWS, seed: int = 0) -> np.ndarray:
    """Probe rows int64 [<= limit] frames are fitted on: all rows when there are at most `limit`, else a
    seeded sample stratified by the original attribute combination (so it never depends on controls)."""
    return stratified_sample(pack_bits(np.asarray(attributes)), limit, seed)


@dataclass(frozen=True, eq=False)
class Projection:
    """Fitted 2-D coordinates float32 [M, 2] of reference rows float32 [M, D] (unit), to place others by.

    `key` identifies the frame (a fingerprint of the reference as given, before normalising, unless the
    frame has a key of its own, such as a joint frame's).
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
        """Coordinates float32 [P, 2] of points [P, D]: the inverse-distance weighted mean of the
        coordinates of the `k` nearest reference rows (cosine), or exactly a reference row's coordinates
        within 1e-2 of it (float32 dot products put a copy of a point up to ~1e-3 away). This is where
        `UMAP.transform` starts from, without its optimisation epochs: a point never leaves the hull of
        its neighbours, so one far from every reference row lands near their centroid."""
        return self._place(points)[0]

    def scatter(self, points: np.ndarray, seed: int = 0) -> np.ndarray:
        """`place`, plus seeded Gaussian noise as wide as the weighted spread of each point's neighbours'
        coordinates: a start layout for optimising, in which copies of one point (a collapsed group)
        start spread like the group they join instead of stacked on one spot."""
        centre, spread = self._place(points)
        noise = np.random.default_rng(seed).normal(size=centre.shape).astype(np.float32)
        return centre + noise * spread[:, None]

    def _place(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weighted mean coordinates float32 [P, 2], weighted RMS distance of the neighbours'
        coordinates from it float32 [P]) of points [P, D] (see `place`)."""
        out = np.empty((len(points), 2), dtype=np.float32)
        spread = np.empty(len(points), dtype=np.float32)
        for rows, nearest, dist in self._neighbours(points, self.k):
            weights = 1.0 / (dist + 1e-6)
            exact = dist < _SNAP
            snapped = exact.any(axis=1)
            weights[snapped] = exact[snapped]
            weights /= weights.sum(axis=1, keepdims=True)
            neighbours = self.coords[nearest]
            out[rows] = np.einsum("pk,pkc->pc", weights, neighbours)
            offsets = ((neighbours - out[rows][:, None]) ** 2).sum(axis=-1)
            spread[rows] = np.sqrt(np.einsum("pk,pk->p", weights, offsets) / 2.0)
        return out, spread

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


def knn_graph(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k nearest neighbours of unit rows [M, D] by float32 matrix products: (indices int32
    [M, k], cosine distances float32 [M, k]), each row itself first at distance 0 (umap's convention)."""
    points = np.ascontiguousarray(points, dtype=np.float32)
    k = min(k, len(points))
    indices = np.empty((len(points), k), dtype=np.int32)
    dists = np.empty((len(points), k), dtype=np.float32)
    for start in range(0, len(points), _CHUNK):
        sims = points[start : start + _CHUNK] @ points.T
        rows = np.arange(len(sims))
        sims[rows, start + rows] = np.inf
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        sim = np.take_along_axis(sims, nearest, axis=1)
        order = np.argsort(-sim, axis=1, kind="stable")
        indices[start : start + len(sims)] = np.take_along_axis(nearest, order, axis=1)
        dist = np.maximum(1.0 - np.take_along_axis(sim, order, axis=1), 0.0)
        dist[:, 0] = 0.0
        dists[start : start + len(sims)] = dist
    return indices, dists


def _umap_class() -> type:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(NUMBA_CACHE))
    Path(os.environ["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    from umap import UMAP

    return UMAP


def _check_points(points: np.ndarray, what: str) -> np.ndarray:
    """Unit rows of points [M, D] (M >= 4, finite), else ProbeError naming `what`."""
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or len(points) < 4:
        raise ProbeError(f"a projection needs at least 4 {what}, got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ProbeError(f"{what} contain NaN or inf")
    return unit_rows(points)


def fit_projection(
    reference: np.ndarray, *, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1, k: int = 10
) -> Projection:
    """Fit seeded UMAP (cosine, spectral start) on reference [M, D]; M >= 4 rows, finite values."""
    ref = _check_points(reference, "reference points")
    n_neighbors = min(n_neighbors, len(ref) - 1)
    umap_cls = _umap_class()
    with warnings.catch_warnings():
        # umap warns that a precomputed kNN without its search index cannot `transform`; frames place
        # new points themselves (Projection.place), so that is expected.
        warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
        model = umap_cls(
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            metric="cosine",
            random_state=seed,
            n_jobs=1,
            precomputed_knn=knn_graph(ref, n_neighbors),
            force_approximation_algorithm=True,
        )
        coords = model.fit_transform(ref).astype(np.float32)
    return Projection(ref, coords, k=k, seed=seed, key=fingerprint(reference))


def cached_projection(
    reference: np.ndarray, shipped: str | Path | None = None, *, cache_dir: Path = PROJECTION_CACHE
) -> Projection:
    """The input frame for `reference`: a shipped file that matches it, else one fitted earlier and kept
    in `cache_dir` (by fingerprint), else a fresh fit saved there. Nothing is written beside user data."""
    cached = Path(cache_dir) / f"{fingerprint(reference)}.npz"
    # A shipped frame lies beside user data: found like any file there (no symlink out, under the roots).
    beside = None if shipped is None else found_file(shipped, Path(shipped).parent)
    for path in (beside, cached):
        if path is not None and path.is_file():
            try:
                return Projection.load(path, reference)
            except ProbeError:
                continue
    projection = fit_projection(reference)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, projection.save)
    except OSError:
        pass  # The cache only saves a refit next time; a read-only home must not break the page.
    return projection


def optimise_layout(
    points: np.ndarray,
    init: np.ndarray,
    *,
    epochs: int,
    learning_rate: float,
    fixed: int = 0,
    layout: LayoutSettings = LAYOUT,
) -> np.ndarray:
    """UMAP layout float32 [M, 2] of unit rows [M, D] (cosine kNN graph), optimised from `init` [M, 2] in
    its own scale (no rescaling into a box), seeded, single-threaded. The first `fixed` rows stay where
    `init` puts them and the others move against them, as `UMAP.transform` moves new points (umap's
    `move_other=False`)."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(NUMBA_CACHE))
    Path(os.environ["NUMBA_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import INT32_MAX, INT32_MIN, find_ab_params, fuzzy_simplicial_set, make_epochs_per_sample

    k = min(layout.n_neighbors, len(points) - 1)
    indices, dists = knn_graph(points, k)
    random_state = np.random.RandomState(layout.seed)
    graph, _, _ = fuzzy_simplicial_set(
        points, k, random_state, "cosine", knn_indices=indices, knn_dists=dists
    )
    graph = graph.tocoo()
    graph.sum_duplicates()
    # As umap does: edges too weak to be sampled once in `epochs` are dropped.
    graph.data[graph.data < graph.data.max() / float(epochs)] = 0.0
    graph.eliminate_zeros()
    moving = graph.row >= fixed
    head, tail, weights = graph.row[moving] - fixed, graph.col[moving], graph.data[moving]
    a, b = find_ab_params(layout.spread, layout.min_dist)
    embedding = np.array(init, dtype=np.float32, order="C")
    # Rows placed on the same spot have no gradient between them; umap breaks such ties the same way.
    span = float(np.ptp(embedding, axis=0).max()) or 1.0
    embedding[fixed:] += random_state.normal(scale=1e-4 * span, size=embedding[fixed:].shape).astype(
        np.float32
    )
    rng_state = random_state.randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
    # The moving rows are a view of `embedding`, so every update is seen by their neighbours at once.
    optimize_layout_euclidean(
        embedding[fixed:],
        embedding,
        head,
        tail,
        epochs,
        len(points),
        make_epochs_per_sample(weights, epochs),
        a,
        b,
        rng_state,
        gamma=layout.repulsion,
        initial_alpha=learning_rate,
        negative_sample_rate=layout.negative_sample_rate,
        parallel=False,
        move_other=fixed == 0,
    )
    return embedding


def align_onto(coords: np.ndarray, anchor_rows: np.ndarray, target: np.ndarray) -> np.ndarray:
    """coords float32 [M, 2] moved by the similarity transform (rotation or reflection, uniform scale,
    shift) that best maps coords[anchor_rows] onto target [len(anchor_rows), 2] (least squares)."""
    from scipy.linalg import orthogonal_procrustes

    source = coords[anchor_rows].astype(np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    centred = source - source_mean
    norm = float((centred**2).sum())
    if norm == 0.0:
        return (coords - source_mean + target_mean).astype(np.float32)
    rotation, singular_sum = orthogonal_procrustes(centred, target - target_mean)
    scale = singular_sum / norm
    return ((coords - source_mean) @ rotation * scale + target_mean).astype(np.float32)


@dataclass(frozen=True, eq=False)
class JointFrame:
    """A 2-D layout fitted jointly on n probe inputs and their n flow endpoints.

    rows int64 [n]: the probe rows fitted; coords float32 [2n, 2]: their inputs, then their endpoints, in
    the probe's input frame coordinates; trust: trustworthiness of the layout (k=10, cosine); key: see
    `frame_key`; fitted: False for a frame placed into another one, never saved (see core/plots/flow/view.py).
    """

    rows: np.ndarray
    coords: np.ndarray
    trust: float | Undefined
    key: str
    fitted: bool = True

    @property
    def inputs(self) -> np.ndarray:
        """Coordinates float32 [n, 2] of the fitted inputs."""
        return self.coords[: len(self.rows)]

    @property
    def endpoints(self) -> np.ndarray:
        """Coordinates float32 [n, 2] of the fitted endpoints."""
        return self.coords[len(self.rows) :]

    def projection(self, inputs: np.ndarray, endpoints: np.ndarray) -> Projection:
        """The frame as a Projection over its fitted points, the inputs and endpoints [n, D] of its rows,
        to place other points (intermediate steps, unfitted rows) into it."""
        return Projection(unit_rows(np.concatenate([inputs, endpoints])), self.coords, key=self.key)

    def save(self, path: str | Path) -> None:
        """Write rows, coordinates, trustworthiness and key to `.npz` (no embedding rows)."""
        trust = np.array(np.nan if isinstance(self.trust, Undefined) else self.trust)
        reason = self.trust.reason if isinstance(self.trust, Undefined) else ""
        np.savez_compressed(
            path,
            rows=self.rows,
            coords=self.coords,
            trust=trust,
            trust_reason=np.array(reason),
            key=np.array(self.key),
        )

    @classmethod
    def load(cls, path: str | Path, rows: np.ndarray) -> JointFrame:
        """The frame saved at `path`; ProbeError when unreadable or fitted on other rows."""
        try:
            check_npz(regular_file(path, ProbeError))  # untrusted like any file beside a probe
            with np.load(path, allow_pickle=False) as npz:
                saved_rows, coords = npz["rows"].astype(np.int64), npz["coords"].astype(np.float32)
                trust, reason, key = float(npz["trust"]), str(npz["trust_reason"]), str(npz["key"])
        except (*ARCHIVE_ERRORS, TypeError, MemoryError) as exc:
            raise ProbeError(f"cannot read frame {Path(path).name}: {exc}") from None
        if not np.array_equal(saved_rows, rows) or coords.shape != (2 * len(rows), 2):
            raise ProbeError(f"frame {Path(path).name} was fitted on other probe rows")
        return cls(saved_rows, coords, Undefined(reason) if reason else trust, key)


def fit_joint_frame(
    inputs: np.ndarray,
    endpoints: np.ndarray,
    rows: np.ndarray,
    input_frame: Projection,
    *,
    key: str,
    anchor: Projection | None = None,
    layout: LayoutSettings = LAYOUT,
) -> JointFrame:
    """Fit the joint frame of n probe inputs [n, D] and their flow endpoints [n, D] (probe rows int64 [n]).

    input_frame: the probe's input frame over exactly those rows (its coords [n, 2] are the coordinates
    every joint frame is aligned onto). anchor: the frame to start from, a home frame as a Projection over
    its 2n fitted points (inputs first); None starts from the input frame (a home frame itself). The start
    layout puts the inputs where the anchor has them and each endpoint where the anchor places it
    (scattered as widely as its neighbours there, `Projection.scatter`).
    """
    n = len(rows)
    if len(input_frame.coords) != n or len(inputs) != n or len(endpoints) != n:
        raise ProbeError(
            f"a joint frame of {n} rows needs {n} inputs, endpoints and input-frame points, got "
            f"{len(inputs)}, {len(endpoints)} and {len(input_frame.coords)}"
        )
    points = np.concatenate(
        [_check_points(inputs, "probe inputs"), _check_points(endpoints, "flow endpoints")]
    )
    start = input_frame if anchor is None else anchor
    init = np.concatenate([start.coords[:n], start.scatter(points[n:], layout.seed)])
    if anchor is None:
        # A home frame: everything moves, then its inputs are mapped onto the input frame's.
        coords = optimise_layout(points, init, epochs=layout.home_epochs, learning_rate=1.0, layout=layout)
        coords = align_onto(coords, np.arange(n), input_frame.coords)
    else:
        # Started from a home frame: the inputs stay exactly where it has them, only endpoints move.
        coords = optimise_layout(
            points,
            init,
            epochs=layout.warm_epochs,
            learning_rate=layout.warm_learning_rate,
            fixed=n,
            layout=layout,
        )
    return JointFrame(np.asarray(rows, dtype=np.int64), coords, trustworthiness_of(points, coords), key)


def frame_key(*parts: object, layout: LayoutSettings = LAYOUT) -> str:
    """Key of a joint frame from what determines it (checkpoint digest, input frame key, anchor key,
    target bytes, steps, alpha) plus the layout settings."""
    digest = hashlib.sha256(repr(layout).encode())
    for part in parts:
        digest.update(b"\0")
        digest.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()[:20]


@dataclass(frozen=True)
class FrameStore:
    """Where joint frames are found: `shipped` (read-only, e.g. the demo's frames/ folder), then the
    read-only `beside_checkpoints` folders, then `cache` (written); None skips a folder."""

    shipped: Path | None = None
    cache: Path | None = field(default=PROJECTION_CACHE)
    beside_checkpoints: tuple[Path, ...] = ()

    def beside(self, *checkpoints: str | Path) -> FrameStore:
        """This store, also reading the frames/ folder beside each checkpoint: a run ships its checkpoints'
        frames there, and another run's probe (B drawn on A's probe) looks in its own folder first."""
        folders = tuple(Path(c).parent / FRAMES_DIR for c in checkpoints)
        return replace(self, beside_checkpoints=tuple(dict.fromkeys(self.beside_checkpoints + folders)))

    def get(self, key: str, rows: np.ndarray) -> JointFrame | None:
        """The frame kept under `key` for these rows, or None (keys hold the checkpoint's digest and the
        input frame's, so a frame found in any folder is the one asked for)."""
        read_only = [f for f in (self.shipped, *self.beside_checkpoints) if f is not None]
        shipped = [found_file(Path(folder) / f"{key}.npz", folder) for folder in read_only]
        cached = None if self.cache is None else Path(self.cache) / f"{key}.npz"
        for path in (*shipped, cached):
            if path is not None and path.is_file():
                try:
                    return JointFrame.load(path, rows)
                except ProbeError:
                    continue
        return None

    def put(self, frame: JointFrame) -> None:
        """Keep a fitted frame in the cache folder (silently skipped when it cannot be written)."""
        if self.cache is None:
            return
        try:
            Path(self.cache).mkdir(parents=True, exist_ok=True)
            write_atomic(Path(self.cache) / f"{frame.key}.npz", frame.save)
        except OSError:
            pass  # The cache only saves a refit next time; a read-only home must not break the page.
