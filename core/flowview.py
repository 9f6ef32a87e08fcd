"""What the Trajectories page shows for one set of controls: targets, flow, metrics and projected sample.

`flow_view` is the whole server-side path of a re-render after a control change (flow of every probe
row, metrics over all rows, placement of a stratified sample into the fixed projection frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from .adapters.base import CheckpointAdapter
from .diagnosis.prototype import DEFAULT_ALPHA, DEFAULT_STEPS, probe_targets
from .errors import AdapterError, ProbeError
from .metrics import Undefined
from .metrics.clustering import median_nn_distance, pack_bits
from .metrics.field import FieldStats, field_stats
from .metrics.trajectories import endpoint_metrics, mean_per_step
from .plots import stratified_sample
from .probe import ProbeData
from .projection import Projection, unit_rows

Control = Literal["keep", "flip", "set 0", "set 1"]
CONTROLS: tuple[Control, ...] = ("keep", "flip", "set 0", "set 1")


def target_attributes(original: np.ndarray, controls: Sequence[Control]) -> np.ndarray:
    """Target attributes int8 [N, A] from original 0/1 attributes [N, A] and one control per column."""
    original = np.asarray(original, dtype=np.int8)
    if original.ndim != 2 or original.shape[1] != len(controls):
        raise ValueError(f"{len(controls)} controls for attributes of shape {original.shape}")
    target = original.copy()
    for column, control in enumerate(controls):
        if control == "flip":
            target[:, column] = 1 - original[:, column]
        elif control in ("set 0", "set 1"):
            target[:, column] = int(control[-1])
        elif control != "keep":
            raise ValueError(f"unknown control {control!r}; use one of {CONTROLS}")
    return target


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


@dataclass(frozen=True)
class FlowView:
    """One render: metrics over all rows; the share of endpoints farther from every input than the inputs'
    median spacing (their placement in the frame is only indicative); mean step length per step [T];
    projected paths float32 [T+1, n, 2] of the sampled rows (indices `sample`); target / original
    attributes int8 [N, A]."""

    metrics: dict[str, float | int | Undefined]
    far_endpoints: float | Undefined
    per_step: np.ndarray
    sample: np.ndarray
    paths: np.ndarray
    target: np.ndarray
    original: np.ndarray
    total: int


def flow_view(
    adapter: CheckpointAdapter,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    projection: Projection,
    controls: Sequence[Control],
    steps: int,
    alpha: float,
    sample_size: int,
    *,
    scale: float | Undefined | None = None,
    seed: int = 0,
) -> FlowView:
    """Flow every row of embeddings [N, D] toward the controlled targets and measure and place it.

    `scale` is the inputs' median nearest-neighbour distance (pass it to avoid recomputing it per flip).
    The sample is stratified by target so every target group stays visible.
    """
    target = target_attributes(attributes, controls)
    return flow_toward(
        adapter, embeddings, attributes, target, projection, steps, alpha, sample_size, scale=scale, seed=seed
    )


def flow_toward(
    adapter: CheckpointAdapter,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    target: np.ndarray,
    projection: Projection,
    steps: int,
    alpha: float,
    sample_size: int,
    *,
    scale: float | Undefined | None = None,
    seed: int = 0,
) -> FlowView:
    """`flow_view` for explicit target attributes int8 [N, A] instead of per-column controls."""
    target = np.asarray(target, dtype=np.int8)
    traj = adapter.flow(embeddings, target.astype(np.float32), steps, alpha)
    target_labels, original_labels = pack_bits(target), pack_bits(attributes)
    if scale is None:
        scale = median_nn_distance(embeddings)
    metrics = endpoint_metrics(traj, target_labels, original_labels, scale=scale)
    sample = stratified_sample(target_labels, sample_size, seed)
    paths = projection.place_trajectories(np.nan_to_num(traj[:, sample]))
    finite = bool(np.isfinite(traj).all())
    per_step = mean_per_step(traj) if finite else np.zeros(0)
    if isinstance(scale, Undefined) or not finite:
        far: float | Undefined = Undefined("no input spacing" if finite else "trajectories contain NaN")
    else:
        far = float((projection.nearest_distance(traj[-1]) > scale).mean())
    original = np.asarray(attributes, dtype=np.int8)
    return FlowView(metrics, far, per_step, sample, paths, target, original, len(embeddings))


def compare_flows(
    adapter_a: CheckpointAdapter,
    adapter_b: CheckpointAdapter,
    probe: ProbeData | None,
    projection: Projection,
    *,
    target: np.ndarray | None = None,
    steps: int | None = None,
    alpha: float | None = None,
    sample_size: int = 300,
    scale: float | Undefined | None = None,
    seed: int = 0,
) -> tuple[FlowView, FlowView]:
    """Flow A's probe with checkpoints A and B under the same targets, steps and alpha, both placed in
    `projection` (A's frame, fitted on the probe inputs), with the same sampled rows.

    `target` int8 [N, A] defaults to the prototype diagnosis' deterministic targets (row i flips attribute
    i mod A); steps and alpha default to A's training settings (`flow_defaults()`), else 10 and 0.1.
    """
    embeddings, attributes = check_flow_inputs(adapter_a, probe)
    check_flow_inputs(adapter_b, probe)
    if target is None:
        target = probe_targets(attributes)
    defaults = getattr(adapter_a, "flow_defaults", None)
    default_steps, default_alpha = defaults() if callable(defaults) else (DEFAULT_STEPS, DEFAULT_ALPHA)
    steps = default_steps if steps is None else steps
    alpha = default_alpha if alpha is None else alpha
    if scale is None:
        scale = median_nn_distance(embeddings)
    args = (embeddings, attributes, target, projection, steps, alpha, sample_size)
    return (
        flow_toward(adapter_a, *args, scale=scale, seed=seed),
        flow_toward(adapter_b, *args, scale=scale, seed=seed),
    )


def field_at_inputs(
    adapter: CheckpointAdapter,
    embeddings: np.ndarray,
    attributes: np.ndarray,
    controls: Sequence[Control],
    *,
    probes: int = 8,
    seed: int = 0,
) -> FieldStats:
    """Surface divergence and curl of the adapter's field at the inputs [N, D], targets from `controls`.

    Needs an adapter exposing `field_fn() -> v(z, y)` (the vector-field adapters do).
    """
    field_fn = getattr(adapter, "field_fn", None)
    if field_fn is None:
        raise AdapterError(f"adapter {adapter.name!r} does not expose its field (no field_fn)")
    field = field_fn()
    y = torch.from_numpy(target_attributes(attributes, controls).astype(np.float32))
    z = torch.from_numpy(unit_rows(embeddings))
    return field_stats(field, z, condition=y, probes=probes, seed=seed)
