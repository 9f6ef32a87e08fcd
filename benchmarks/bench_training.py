"""Training-log speed: spike detection over a 1M-point log (20 series x 50k steps) and reading a
50k-step TensorBoard file. Baselines in the same process: median and MAD of every trailing window with
np.nanmedian (what the rolling median + candidates-only MAD replaces, same result), and a bare
EventAccumulator reload.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from timing import best_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.diagnosis.training import detect_events  # noqa: E402
from core.io.logs import RunLog, scan_run_folder  # noqa: E402
from core.metrics.training import loss_spikes, spike_threshold  # noqa: E402

SERIES, STEPS, WINDOW = 20, 50_000, 50


def nanmedian_reference(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.where(np.isfinite(values), values, np.nan)
    padded = np.concatenate([np.full(window, np.nan), v[:-1]])
    win = np.lib.stride_tricks.sliding_window_view(padded, window)[: len(v)]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(win, axis=1)
        mad = np.nanmedian(np.abs(win - med[:, None]), axis=1)
    return med, mad, np.sum(np.isfinite(win), axis=1)


def synthetic_log() -> RunLog:
    rng = np.random.default_rng(0)
    steps = np.arange(STEPS, dtype=np.float64)
    frames = [
        pd.DataFrame(
            {
                "series": f"train/loss_{j}",
                "step": steps,
                "value": np.exp(-steps / 20_000) + 0.05 * rng.standard_normal(STEPS),
                "epoch": steps // 1000,
                "source": "bench",
            }
        )
        for j in range(SERIES)
    ]
    return RunLog("bench", pd.concat(frames, ignore_index=True))


def main() -> None:
    torch.set_num_threads(1)
    log = synthetic_log()
    curves = [log.series(name)[1] for name in log.series_names]

    def baseline() -> None:
        for v in curves:
            med, mad, count = nanmedian_reference(v, WINDOW)
            np.flatnonzero((count >= 10) & (v > spike_threshold(med, mad, 6.0, 0.05)))

    fast = best_of(lambda: [loss_spikes(v, window=WINDOW) for v in curves], 2)
    slow = best_of(baseline, 2)
    print(
        f"loss_spikes {SERIES}x{STEPS:,}: {fast:.2f} s (full-window nanmedian baseline {slow:.2f} s, {slow / fast:.1f}x)"
    )
    print(f"detect_events on the same log (all rules): {best_of(lambda: detect_events(log), 2):.2f} s")

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    with tempfile.TemporaryDirectory() as tmp:
        writer = SummaryWriter(tmp)
        for step in range(STEPS):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.close()

        def bare() -> None:
            acc = EventAccumulator(tmp, size_guidance={"scalars": 0})
            acc.Reload()
            acc.Scalars("loss")

        ours = best_of(lambda: scan_run_folder(tmp), 2)
        base = best_of(bare, 2)
        print(
            f"read {STEPS:,}-step event file: {ours:.2f} s (bare EventAccumulator {base:.2f} s, {ours / base:.2f}x)"
        )


if __name__ == "__main__":
    main()
