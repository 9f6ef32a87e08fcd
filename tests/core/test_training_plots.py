"""Training figures: traces per series and run, log axis, event markers on their curves, checkpoint lines."""

import numpy as np

from core.diagnosis.training import detect_events
from core.io.logs import checkpoint_epochs, scan_run_folder
from core.plots.training import gap_figure, loss_figure
from tests.training_fixtures import exploding_run, healthy_run


def test_loss_figure_one_run_with_events_and_checkpoints(tmp_path):
    log = scan_run_folder(exploding_run(tmp_path))
    events = detect_events(log)
    fig = loss_figure(
        [("A", log)],
        ["train/loss", "grad_norm"],
        log_y=True,
        smoothing=0.6,
        events=[events],
        checkpoint_steps=[checkpoint_epochs(tmp_path, log)],
    )
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 4  # raw (faint) + smoothed for each series
    assert fig.layout.yaxis.type == "log"
    assert sorted(shape.x0 for shape in fig.layout.shapes) == [29.0, 59.0]
    markers = {t.name: t for t in fig.data if t.mode == "markers"}
    spike = markers["spike: train/loss"]
    assert spike.x[0] == 60 and spike.y[0] == 5.0
    nan = markers["nonfinite: train/loss"]  # drawn where the curve was last finite (step 89)
    _, values = log.series("train/loss")
    assert nan.x[0] == 90 and nan.y[0] == values[89]


def test_loss_figure_two_runs_dashed_and_missing_series_skipped(tmp_path):
    a = scan_run_folder(exploding_run(tmp_path / "a"))
    b = scan_run_folder(healthy_run(tmp_path / "b"))
    fig = loss_figure([("A", a), ("B", b)], ["val_loss", "train/loss"], smoothing=0.0)
    names = [(t.name, t.line.dash) for t in fig.data]
    assert names == [("val_loss (A)", "solid"), ("train/loss (A)", "solid"), ("val_loss (B)", "dash")]
    assert fig.layout.yaxis.type == "linear"


def test_gap_figure_values(tmp_path):
    log = scan_run_folder(healthy_run(tmp_path))
    fig = gap_figure([("A", log)], [("loss", "val_loss")], smoothing=0.0)
    (trace,) = fig.data
    _, train = log.series("loss")
    np.testing.assert_allclose(trace.y, (0.1 * train).astype(np.float32), rtol=1e-5)
