"""Writers of small training logs in every supported format, for tests (tmp folders only).

TensorBoard files are written with torch.utils.tensorboard.SummaryWriter, which needs no TensorFlow.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch


def write_events(
    folder: Path, series: Mapping[str, Sequence[float]], steps: Sequence[int] | None = None
) -> Path:
    """One event file in `folder` with each series logged at `steps` (default 0..N-1); returns its path."""
    from torch.utils.tensorboard import SummaryWriter

    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.glob("events.out.tfevents.*"))
    writer = SummaryWriter(str(folder))
    for tag, values in series.items():
        for i, value in enumerate(values):
            step = i if steps is None else steps[i]
            writer.add_scalar(tag, float(value), step, walltime=1_700_000_000.0 + step)
    writer.close()
    (path,) = set(folder.glob("events.out.tfevents.*")) - before
    return path


def write_tensor_events(folder: Path, tag: str, values: Sequence[float]) -> None:
    """Scalars the way TF2 / Keras write them: tensors tagged with the 'scalars' plugin, not simple values."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    writer = EventFileWriter(str(folder))
    plugin = summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    for step, value in enumerate(values):
        proto = tensor_util.make_tensor_proto(np.float32(value))
        item = summary_pb2.Summary.Value(
            tag=tag, tensor=proto, metadata=summary_pb2.SummaryMetadata(plugin_data=plugin)
        )
        writer.add_event(
            event_pb2.Event(step=step, wall_time=1.0 + step, summary=summary_pb2.Summary(value=[item]))
        )
    writer.close()


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """A CSV with `rows` written as given ('' is a blank cell)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_json(path: Path, data: object) -> Path:
    """JSON as Python writes it (NaN and Infinity as bare words, like json.dump does by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def exploding_run(folder: Path, *, nan_from: int = 90, spike_at: int = 60, blowup_at: int = 80) -> Path:
    """A run that goes wrong on purpose: per-step TensorBoard losses (noisy decay, a spike at
    `spike_at`, NaN from `nan_from`), a gradient norm that blows up at `blowup_at`, and a Lightning
    metrics.csv whose validation loss rises from epoch 4 while the training loss keeps falling.
    10 steps per epoch; two small checkpoints named by epoch, saved before the NaN (finite weights)."""
    rng = np.random.default_rng(0)
    steps = np.arange(100)
    loss = 2.0 * np.exp(-steps / 40) + 0.3 + 0.02 * rng.standard_normal(100)
    loss[spike_at] = 5.0
    loss[nan_from:] = math.nan
    grad = 1.0 + 0.05 * rng.standard_normal(100)
    grad[blowup_at:nan_from] = 50.0 * 2.0 ** np.arange(nan_from - blowup_at)
    grad[nan_from:] = math.inf
    write_events(folder / "tb", {"train/loss": loss, "grad_norm": grad, "epoch": steps // 10})
    train_epoch = [1.9, 1.5, 1.2, 1.0, 0.9, 0.8, 0.7, 0.65, 0.6]
    val = [1.8, 1.6, 1.5, 1.45, 1.5, 5.0, 18.0, 25.0, 30.0]
    rows: list[list[object]] = []
    for epoch, (t, v) in enumerate(zip(train_epoch, val, strict=True)):
        step = epoch * 10 + 9
        rows.append([epoch, step, t, ""])
        rows.append([epoch, step, "", v])
    write_csv(folder / "metrics.csv", ["epoch", "step", "train_loss_epoch", "val_loss"], rows)
    for epoch in (2, 5):
        state = {"model_state_dict": {"w": torch.full((2, 2), float(epoch))}, "epoch": epoch}
        torch.save(state, folder / f"model_epoch_{epoch:03d}.pt")
    return folder


def healthy_run(folder: Path) -> Path:
    """A calm run as training_log.json rows: losses decay smoothly, validation follows training."""
    rows = []
    for epoch in range(12):
        t = 2.0 * math.exp(-epoch / 4) + 0.2
        rows.append({"epoch": epoch, "step": (epoch + 1) * 50, "loss": t, "val_loss": t * 1.1})
    write_json(folder / "training_log.json", rows)
    return folder
