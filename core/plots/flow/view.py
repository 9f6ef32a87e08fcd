"""What the Trajectories page shows for one set of controls: targets, flow, metrics and the joint frame.

`flow_view` is the whole server-side path of a re-render after a control change: flow of every probe
row, metrics over all rows, the joint frame of inputs and endpoints (looked up, or fitted from the
checkpoint's home frame; see core/plots/flow/projection.py), and a stratified sample of paths placed into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ...adapters.base import CheckpointAdapter
from ...config import FlowConfig
from ...diagnosis.flow import DEFAULT_ALPHA, DEFAULT_STEPS
from ...io.errors import AdapterError, ProbeError
from ...io.probe import ProbeData
from ...metrics.base import Undefined
from ...metrics.flow.clustering import distinct_endpoints, median_nn_distance, pack_bits
from ...metrics.flow.field import PROBES, SAMPLE_ROWS, FieldStats, field_stats
from ...metrics.flow.frame import trustworthiness_of
from ...metrics.flow.trajectories import endpoint_metrics, mean_per_step
from ..sample import stratified_sample
from .figures import JOINT, PathSample, colour_groups, endpoint_spots, joint_labels
from .projection import (
    FRAMES_DIR,
    PROJECTION_CACHE,
    PROJECTION_NAME,
    FrameStore,
    JointFrame,
    Projection,
    cached_projection,
    fit_joint_frame,
    frame_key,
    frame_rows,
    unit_rows,
)
from .targets import Control, targets_of

# Trajectories drawn at most, whatever the probe's size: the picture and the animation of 2,000 paths
# send ~1.6 MB to the browser at 10 steps, ~5 MB at 50 (100k paths: ~80 MB). Metrics use every row.
MAX_DRAWN = 2000


def check_flow_inputs(adapter: CheckpointAdapter, probe: ProbeData | None) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings float32 [N, D], attributes int8 [N, A]) of probe, checked against the adapter's model."""
    spec = adapter.spec()
    if not spec.supports_flow:
        raise AdapterError(
            f"adapter {adapter.name!r} ({spec.family}) has no flow; pick a vector-field checkpoint"
        )
    if probe is None:
        raise ProbeError(
            "no probe data: put probe.npz (embeddings, attributes) beside the checkpoint or pick one"
        )
    if probe.embeddings is None or probe.attributes is None:
        raise ProbeError("probe data needs both `embeddings` [N, D] and `attributes` [N, A]")
    if len(probe.embeddings) < 2:
        raise ProbeError(f"probe data has {len(probe.embeddings)} row(s); trajectories need at least 2")
    d, a = probe.embeddings.shape[1], probe.attributes.shape[1]
    if spec.latent_dim is not None and d != spec.latent_dim:
        raise ProbeError(f"probe embeddings have dimension {d} but the model expects {spec.latent_dim}")
    if spec.attribute_names and a != len(spec.attribute_names):
        raise ProbeError(f"probe has {a} attribute columns but the model expects {len(spec.attribute_names)}")
    return probe.embeddings.astype(np.float32), probe.attributes.astype(np.int8)


def flow_defaults(adapter: CheckpointAdapter) -> tuple[int, float]:
    """(steps, alpha) of the adapter's training config (`flow_defaults()`), else 10 and 0.1."""
    defaults = getattr(adapter, "flow_defaults", None)
    return defaults() if callable(defaults) else (DEFAULT_STEPS, DEFAULT_ALPHA)


@dataclass(frozen=True)
class FrameContext:
    """The probe side of every joint frame: the probe's input frame over the fitted `rows` int64 [n]
    (see `frame_rows`), and the store frames are looked up in and kept in."""

    input_frame: Projection
    rows: np.ndarray
    store: FrameStore

    @classmethod
    def for_probe(
        cls,
        embeddings: np.ndarray,
        attributes: np.ndarray,
        folder: Path | None = None,
        store: FrameStore | None = None,
    ) -> FrameContext:
        """Context of probe embeddings [N, D] / attributes [N, A]: the input frame from `folder`'s
        projection.npz when it matches, else cached or fitted; joint frames from `folder`/frames/ (read
        only) and the user cache, unless `store` says otherwise."""
        rows = frame_rows(attributes)
        shipped = None if folder is None else Path(folder) / PROJECTION_NAME
        store = store or FrameStore(None if folder is None else Path(folder) / FRAMES_DIR)
        cache = store.cache if store.cache is not None else PROJECTION_CACHE
        return cls(cached_projection(embeddings[rows], shipped, cache_dir=cache), rows, store)


# A setting away from the defaults keeps its checkpoint's home frame, its endpoints placed by their
# nearest fitted points, when the placed layout is at least this trustworthy; below it the frame is fitted
# (UMAP layout from the home frame). Placing takes ~0.1 s where a fit takes ~1 s (and ~10 s more the first
# time a server process fits, while numba compiles umap's layout code).
PLACED_MIN_TRUST = 0.9


def placed_frame(
    anchor: Projection, rows: np.ndarray, inputs: np.ndarray, endpoints: np.ndarray, key: str
) -> JointFrame:
    """The home frame `anchor` (a Projection over its 2n fitted points, inputs first) with these rows'
    inputs where it has them and their endpoints [n, D] placed into it (`Projection.place`), and the
    trustworthiness of that layout; `fitted` is False."""
    n = len(rows)
    coords = np.concatenate([anchor.coords[:n], anchor.place(endpoints)]).astype(np.float32)
    points = np.concatenate([inputs, endpoints])
    return JointFrame(rows, coords, trustworthiness_of(points, coords), key, fitted=False)


def joint_frame(
    context: FrameContext,
    checkpoint: str,
    inputs: np.ndarray,
    endpoints: np.ndarray,
    target: np.ndarray,
    steps: int,
    alpha: float,
    anchor: Projection | None = None,
) -> JointFrame:
    """The joint frame of the context's rows: inputs / endpoints [n, D] and targets int8 [n, A] of those
    rows, flowed by the checkpoint with content digest `checkpoint`. Found in the store by key; else, from
    an `anchor`, the anchor with the endpoints placed when that is trustworthy (`PLACED_MIN_TRUST`);
    else fitted (from `anchor`, or from the input frame when None) and kept in the store."""
    key = frame_key(
        checkpoint,
        context.input_frame.key,
        "input frame" if anchor is None else anchor.key,
        np.ascontiguousarray(target, dtype=np.int8),
        int(steps),
        float(alpha),
    )
    found = context.store.get(key, context.rows)
    if found is not None:
        return found
    if anchor is not None:
        placed = placed_frame(anchor, context.rows, inputs, endpoints, key)
        if isinstance(placed.trust, float) and placed.trust >= PLACED_MIN_TRUST:
            return placed
    frame = fit_joint_frame(inputs, endpoints, context.rows, context.input_frame, key=key, anchor=anchor)
    context.store.put(frame)
    return frame


def at_home(config: FlowConfig, home: FlowConfig, *, diagnosed: bool) -> bool:
    """Whether a flow at `config` (toward the diagnosis's targets when `diagnosed`) is drawn in the
    checkpoint's home frame itself: the diagnosis's targets at its own steps and alpha (`home`)."""
    return diagnosed and (config.steps, config.alpha) == (home.steps, home.alpha)


def home_anchor(
    adapter: CheckpointAdapter,
    checkpoint: str,
    context: FrameContext,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    config: FlowConfig,
) -> Projection:
    """The checkpoint's home frame (the diagnosis's targets, the steps and alpha of `config`) as the
    Projection every other setting's frame starts from. Only the context's rows are flowed (rows flow
    independently)."""
    rows = context.rows
    inputs = np.asarray(embeddings, dtype=np.float32)[rows]
    target = targets_of(attributes, ())[rows]
    endpoints = adapter.flow(inputs, target.astype(np.float32), config.steps, config.alpha)[-1]
    frame = joint_frame(context, checkpoint, inputs, endpoints, target, config.steps, config.alpha)
    return frame.projection(inputs, endpoints)


@dataclass(frozen=True)
class FlowView:
    """One render: metrics over all N rows; the share of the frame's endpoints farther from every frame
    input than the inputs' median spacing (they left the inputs' manifold); mean step length per step
    [T]; paths float32 [T+1, s, 2] of the sampled rows (indices `sample` [s]) in the frame; target /
    original attributes int8 [N, A]; chord movement per row float32 [N].

    The frame: fitted on probe rows `rows` int64 [n], coordinates `coords` float32 [2n, 2] (their inputs,
    then their endpoints), trustworthiness `trust`; `frame_note` says why it is not a joint frame ("" when
    it is). `components` int64 [N]: each row's distinct-endpoint component (None when undefined)."""

    metrics: dict[str, float | int | Undefined]
    far_endpoints: float | Undefined
    per_step: np.ndarray
    sample: np.ndarray
    paths: np.ndarray
    target: np.ndarray
    original: np.ndarray
    total: int
    rows: np.ndarray
    coords: np.ndarray
    trust: float | Undefined
    movement: np.ndarray
    frame_note: str = ""
    components: np.ndarray | None = None

    @property
    def background(self) -> np.ndarray:
        """Coordinates float32 [n, 2] of the frame's inputs."""
        return self.coords[: len(self.rows)]


def _place_paths(
    traj: np.ndarray, sample: np.ndarray, rows: np.ndarray, coords: np.ndarray, placer: Projection
) -> np.ndarray:
    """Paths float32 [T+1, s, 2] of the sampled rows: a row the frame was fitted on starts and ends at its
    fitted input and endpoint; every other point (intermediate steps, unfitted rows) is placed by
    `placer`."""
    steps, n = traj.shape[0], len(rows)
    position = np.full(len(traj[0]), -1, dtype=np.int64)
    position[rows] = np.arange(n)
    fitted = position[sample]
    known = fitted >= 0
    paths = np.empty((steps, len(sample), 2), dtype=np.float32)
    if steps > 2:
        paths[1:-1] = placer.place_trajectories(np.nan_to_num(traj[1:-1, sample]))
    for step, offset in ((0, 0), (steps - 1, n)):
        paths[step, known] = coords[offset + fitted[known]]
        if not known.all():
            paths[step, ~known] = placer.place(np.nan_to_num(traj[step, sample[~known]]))
    return paths


PLACED_NOTE = (
    "this checkpoint's home frame (UMAP fitted on inputs and endpoints at the diagnosis's targets, aligned on "
    "the probe's input frame), with these endpoints placed by their nearest fitted points; it is kept "
    "where the placed layout stays trustworthy (trustworthiness at least "
    f"{PLACED_MIN_TRUST}), else this setting gets a joint frame of its own"
)


def flow_toward(
    adapter: CheckpointAdapter,
    checkpoint: str,
    context: FrameContext,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    target: np.ndarray,
    config: FlowConfig,
    *,
    anchor: Projection | None = None,
    scale: float | Undefined | None = None,
) -> FlowView:
    """Flow every row of embeddings [N, D] toward explicit target attributes int8 [N, A] (the steps and
    alpha of `config`; its targets are not read), measure it over all rows, and draw a stratified sample
    of `config.sample_size` rows in the joint frame (`joint_frame`, started from `anchor`).

    `checkpoint` is the checkpoint's content digest (it keys the frame). `scale` is the inputs' median
    nearest-neighbour distance (pass it to avoid recomputing it per flip). The sample (at most
    MAX_DRAWN rows) is stratified by target so every target group stays visible.
    """
    target = np.asarray(target, dtype=np.int8)
    steps, alpha = config.steps, config.alpha
    traj = adapter.flow(embeddings, target.astype(np.float32), steps, alpha)
    target_labels, original_labels = pack_bits(target), pack_bits(attributes)
    if scale is None:
        scale = median_nn_distance(embeddings)
    finite = bool(np.isfinite(traj).all())
    distinct = distinct_endpoints(traj[-1], scale) if finite and not isinstance(scale, Undefined) else None
    metrics = endpoint_metrics(traj, target_labels, original_labels, scale=scale, distinct=distinct)
    sample = stratified_sample(target_labels, min(config.sample_size, MAX_DRAWN), config.seed)
    rows = context.rows
    inputs, endpoints = np.asarray(embeddings, dtype=np.float32)[rows], traj[-1][rows]
    if finite:
        frame = joint_frame(context, checkpoint, inputs, endpoints, target[rows], steps, alpha, anchor)
        coords, trust = frame.coords, frame.trust
        note = "" if frame.fitted else PLACED_NOTE
        placer = frame.projection(inputs, endpoints)
    else:
        note = "the flow produced NaN or inf, so the frame is fitted on the inputs alone"
        placer = context.input_frame
        coords = np.concatenate([placer.coords, placer.place(np.nan_to_num(endpoints))])
        trust = Undefined(note)
    paths = _place_paths(traj, sample, rows, coords, placer)
    per_step = mean_per_step(traj) if finite else np.zeros(0)
    if isinstance(scale, Undefined) or not finite:
        far: float | Undefined = Undefined("no input spacing" if finite else "trajectories contain NaN")
    else:
        far = float((context.input_frame.nearest_distance(endpoints) > scale).mean())
    movement = np.linalg.norm(np.nan_to_num(traj[-1] - traj[0]), axis=1).astype(np.float32)
    original = np.asarray(attributes, dtype=np.int8)
    return FlowView(
        metrics,
        far,
        per_step,
        sample,
        paths,
        target,
        original,
        len(embeddings),
        rows,
        coords,
        trust,
        movement,
        note,
        None if distinct is None or isinstance(distinct, Undefined) else distinct[1],
    )


def row_texts(probe: ProbeData, rows: np.ndarray) -> list[str]:
    """Sentence of each probe row (the probe's `texts`), else "row i"."""
    sentences = probe.texts
    return [sentences[i] if i < len(sentences) else f"row {i}" for i in rows]


def path_sample(
    view: FlowView,
    names: Sequence[str],
    sentences: Sequence[str],
    colour_source: Literal["target", "original"] = "target",
    colour_attr: str = JOINT,
    spot_sentences: Sequence[str] | None = None,
) -> PathSample:
    """The view's sampled paths for the figures: coloured by target or original attributes (`names`, the
    joint combination or one attribute), with their sentences [s] and target / original labels; and the
    endpoints of every frame row grouped into spots by distinct-endpoint component and colour (hover text
    from `spot_sentences`, one per frame row, else the row number)."""
    attributes = view.target if colour_source == "target" else view.original
    groups, group_names = colour_groups(attributes, names, colour_attr)
    targets, originals = joint_labels(view.target, names), joint_labels(view.original, names)
    rows, n = view.rows, len(view.rows)
    spots = endpoint_spots(
        view.coords[n:],
        groups[rows],
        rows,
        None if view.components is None else view.components[rows],
        [f"row {i}" for i in rows] if spot_sentences is None else spot_sentences,
        [targets[i] for i in rows],
        [originals[i] for i in rows],
    )
    return PathSample(
        view.paths,
        groups[view.sample],
        group_names,
        view.sample,
        sentences,
        [targets[i] for i in view.sample],
        [originals[i] for i in view.sample],
        spots,
    )


def trajectory_columns(
    view: FlowView, names: Sequence[str], sentences: Sequence[str], rows: np.ndarray | None = None
) -> dict[str, list | np.ndarray]:
    """Table columns of probe rows `rows` (default: all N): row, sentence (`sentences`, one per row
    asked for), original and target combination, chord movement, whether the row is drawn, and its start
    and endpoint in the frame (NaN for rows the frame was not fitted on)."""
    rows = np.arange(view.total) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(sentences) != len(rows):
        raise ValueError(f"{len(sentences)} sentences for {len(rows)} rows")
    n = len(view.rows)
    position = np.full(view.total, -1, dtype=np.int64)
    position[view.rows] = np.arange(n)
    fitted = position[rows]
    xy = np.full((len(rows), 4), np.nan, dtype=np.float32)
    xy[fitted >= 0, :2] = view.coords[fitted[fitted >= 0]]
    xy[fitted >= 0, 2:] = view.coords[n + fitted[fitted >= 0]]
    return {
        "row": rows,
        "sentence": list(sentences),
        "original": joint_labels(view.original[rows], names),
        "target": joint_labels(view.target[rows], names),
        "movement (chord)": view.movement[rows],
        "shown": np.isin(rows, view.sample),
        "start x": xy[:, 0],
        "start y": xy[:, 1],
        "end x": xy[:, 2],
        "end y": xy[:, 3],
    }


def flow_view(
    adapter: CheckpointAdapter,
    checkpoint: str,
    context: FrameContext,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    config: FlowConfig,
    *,
    anchor: Projection | None = None,
    scale: float | Undefined | None = None,
) -> FlowView:
    """`flow_toward` for the per-column controls `config.targets` (empty: the diagnosis's targets; see
    `targets_of`)."""
    target = targets_of(attributes, config.targets)
    return flow_toward(
        adapter, checkpoint, context, embeddings, attributes, target, config, anchor=anchor, scale=scale
    )


def compare_flows(
    adapters: Sequence[CheckpointAdapter],
    checkpoints: Sequence[str],
    probe: ProbeData | None,
    context: FrameContext | None = None,
    *,
    target: np.ndarray | None = None,
    config: FlowConfig | None = None,
    scale: float | Undefined | None = None,
) -> tuple[FlowView, ...]:
    """Flow A's probe with each checkpoint (A, B, ...; content digests `checkpoints`) under the same
    targets, steps and alpha, with the same sampled rows, each in its own joint frame started from its
    home frame; every frame is aligned on the probe's input frame, so an input sits at the same place.

    `target` int8 [N, A] defaults to the prototype diagnosis' deterministic targets (row i flips attribute
    i mod A); `config` (steps, alpha, sample size, seed) defaults to A's training steps and alpha
    (`flow_defaults`) and 300 sampled rows. `context` defaults to
    the probe's own (input frame cached or fitted, frames in the user cache).
    """
    if not adapters or len(adapters) != len(checkpoints):
        raise ValueError(f"{len(adapters)} adapters for {len(checkpoints)} checkpoint digests")
    embeddings, attributes = check_flow_inputs(adapters[0], probe)
    for adapter in adapters[1:]:
        check_flow_inputs(adapter, probe)
    if context is None:
        context = FrameContext.for_probe(embeddings, attributes)
    diagnosis = targets_of(attributes, ())
    target = diagnosis if target is None else target
    config = config or FlowConfig(*flow_defaults(adapters[0]))
    if scale is None:
        scale = median_nn_distance(embeddings)
    diagnosed = np.array_equal(target, diagnosis)
    views = []
    for adapter, checkpoint in zip(adapters, checkpoints, strict=True):
        home = FlowConfig(*flow_defaults(adapter))
        own = at_home(config, home, diagnosed=diagnosed)
        anchor = None if own else home_anchor(adapter, checkpoint, context, embeddings, attributes, home)
        views.append(
            flow_toward(
                adapter,
                checkpoint,
                context,
                embeddings,
                attributes,
                target,
                config,
                anchor=anchor,
                scale=scale,
            )
        )
    return tuple(views)


def field_at_inputs(
    adapter: CheckpointAdapter,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    controls: Sequence[Control],
    *,
    probes: int = PROBES,
    seed: int = 0,
    max_rows: int | None = SAMPLE_ROWS,
) -> FieldStats:
    """Surface divergence and curl of the adapter's field at the inputs [N, D], targets from `controls`,
    with their standard errors; estimated at a seeded uniform sample of `max_rows` inputs when N is
    larger (None: at every input).

    Needs an adapter exposing `field_fn() -> v(z, y)` (the vector-field adapters do).
    """
    field_fn = getattr(adapter, "field_fn", None)
    if field_fn is None:
        raise AdapterError(f"adapter {adapter.name!r} does not expose its field (no field_fn)")
    field = field_fn()
    y = torch.from_numpy(targets_of(attributes, controls).astype(np.float32))
    z = torch.from_numpy(unit_rows(embeddings))
    return field_stats(field, z, condition=y, probes=probes, seed=seed, max_rows=max_rows)
