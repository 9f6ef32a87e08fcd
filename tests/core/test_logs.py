"""Log readers: TensorBoard, Lightning metrics.csv, CSV, JSON, folder scanning, and bad input."""

import math

import numpy as np
import pytest

from core.io.errors import CollapseExplorerError
from core.io.logs import LogError, checkpoint_epochs, read_event_file, scan_run_folder
from tests.training_fixtures import exploding_run, write_csv, write_events, write_json, write_tensor_events


def test_tensorboard_keeps_every_scalar_and_nan(tmp_path):
    n = 10_050  # above EventAccumulator's default reservoir of 10,000 scalars per tag
    values = np.linspace(2.0, 1.0, n)
    values[7] = math.nan
    write_events(tmp_path / "run", {"loss/train": values, "lr": [0.1, 0.05]})
    log = scan_run_folder(tmp_path / "run")
    assert log.series_names == ["loss/train", "lr"]
    steps, got = log.series("loss/train")
    assert len(got) == n and steps[0] == 0 and steps[-1] == n - 1
    assert math.isnan(got[7])
    np.testing.assert_allclose(np.delete(got, 7), np.delete(values, 7).astype(np.float32))
    assert log.series("lr")[1].tolist() == pytest.approx([0.1, 0.05])
    assert (log.sources[0].kind, log.sources[0].path) == ("tensorboard", "tensorboard")  # files at the root
    assert log.epoch_end_steps() == {}


def test_tensorboard_tf2_tensor_scalars(tmp_path):
    write_tensor_events(tmp_path, "epoch_loss", [1.0, 0.5, math.nan])
    steps, values = scan_run_folder(tmp_path).series("epoch_loss")
    assert steps.tolist() == [0, 1, 2] and values[:2].tolist() == [1.0, 0.5] and math.isnan(values[2])


def test_tensorboard_epoch_scalar_maps_steps_to_epochs(tmp_path):
    write_events(tmp_path, {"loss": [3, 2, 1, 0.5], "epoch": [0, 0, 1, 1]})
    log = scan_run_folder(tmp_path)
    assert log.series_names == ["loss"]  # the epoch scalar becomes the epoch column, not a series
    assert log.table["epoch"].tolist() == [0, 0, 1, 1]
    assert log.epoch_end_steps() == {0: 1.0, 1: 3.0}


def test_tensorboard_restart_files_merge_later_value_wins(tmp_path):
    write_events(tmp_path, {"loss": [4, 3, 2]}, steps=[0, 1, 2])
    write_events(tmp_path, {"loss": [2.5, 1.5]}, steps=[2, 3])  # resumed from step 2
    log = scan_run_folder(tmp_path)
    steps, values = log.series("loss")
    assert steps.tolist() == [0, 1, 2, 3] and values.tolist() == [4, 3, 2.5, 1.5]
    assert len(log.sources) == 1


def test_truncated_event_file_reads_what_is_there(tmp_path):
    path = write_events(tmp_path, {"loss": np.arange(20, dtype=float)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])  # cut inside the last record
    frame, source = read_event_file(path)
    assert 0 < len(frame) < 20
    assert frame["value"].tolist() == list(range(len(frame)))
    assert any("truncated" in n for n in source.notes)
    assert scan_run_folder(tmp_path).truncated


def test_empty_event_file_is_reported_not_fatal(tmp_path):
    (tmp_path / "events.out.tfevents.123.host").write_bytes(b"")
    log = scan_run_folder(tmp_path)
    assert log.series_names == []
    assert any("empty event file" in n for n in log.sources[0].notes)


def test_lightning_metrics_csv_sparse_rows(tmp_path):
    write_csv(
        tmp_path / "metrics.csv",
        ["epoch", "step", "train_loss_step", "val_loss", "lr-Adam"],
        [[0, 0, 1.0, "", 0.1], ["", 1, "nan", "", ""], [0, 1, "", 2.0, ""], [1, 2, 0.5, "", ""]],
    )
    log = scan_run_folder(tmp_path)
    assert log.sources[0].kind == "lightning-csv"
    steps, values = log.series("train_loss_step")
    assert steps.tolist() == [0, 1, 2]
    assert values[0] == 1.0 and math.isnan(values[1]) and values[2] == 0.5  # NaN text kept, blanks dropped
    assert log.series("val_loss")[1].tolist() == [2.0]
    assert log.series("lr-Adam")[0].tolist() == [0]
    rows = log.table[log.table["series"] == "train_loss_step"]
    assert rows["epoch"].tolist() == [0, 0, 1]  # the blank epoch at step 1 filled from step 0


def test_plain_csv_step_detection_and_ignored_columns(tmp_path):
    write_csv(
        tmp_path / "log.csv",
        ["global_step", "loss", "run_name", "acc"],
        [[10, 0.9, "a", 0.1], [20, 0.8, "a", 0.2], [30, "inf", "b", 0.3]],
    )
    log = scan_run_folder(tmp_path / "log.csv")
    assert log.sources[0].kind == "csv"
    assert log.series("loss")[0].tolist() == [10, 20, 30]
    assert math.isinf(log.series("loss")[1][2])
    assert "run_name" not in log.series_names
    assert any("ignored non-numeric columns: run_name" in n for n in log.sources[0].notes)


def test_csv_without_step_uses_epoch_then_row_number(tmp_path):
    write_csv(tmp_path / "a" / "e.csv", ["epoch", "loss"], [[1, 0.5], [2, 0.4]])
    write_csv(tmp_path / "b" / "r.csv", ["loss"], [[0.5], [0.4], [0.3]])
    by_epoch = scan_run_folder(tmp_path / "a")
    assert by_epoch.series("loss")[0].tolist() == [1, 2]
    assert any("used 'epoch' as the step" in n for n in by_epoch.sources[0].notes)
    by_row = scan_run_folder(tmp_path / "b")
    assert by_row.series("loss")[0].tolist() == [0, 1, 2]
    assert any("row number" in n for n in by_row.sources[0].notes)


def test_half_written_csv_row(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,loss,val_loss\n0,1.0,2.0\n1,0.9")
    log = scan_run_folder(tmp_path)
    assert log.series("loss")[1].tolist() == [1.0, 0.9]
    assert log.series("val_loss")[1].tolist() == [2.0]
    assert any("half-written" in n for n in log.sources[0].notes)


def test_json_rows_dict_of_lists_and_nested_history(tmp_path):
    write_json(tmp_path / "a" / "training_log.json", [{"epoch": 0, "step": 5, "loss": 1.0, "kl": math.nan}])
    write_json(tmp_path / "b" / "hist.json", {"loss": [3, 2, 1], "val_loss": [4, 3, 5]})
    write_json(
        tmp_path / "c" / "trainer_state.json",
        {"best": 1, "log_history": [{"step": 10, "loss": 2.0, "losses": {"recon": 0.5}}]},
    )
    a = scan_run_folder(tmp_path / "a")
    assert a.series_names == ["kl", "loss"] and math.isnan(a.series("kl")[1][0])
    assert a.epoch_end_steps() == {0: 5.0}
    b = scan_run_folder(tmp_path / "b")
    assert b.series("val_loss")[1].tolist() == [4, 3, 5] and b.series("val_loss")[0].tolist() == [0, 1, 2]
    c = scan_run_folder(tmp_path / "c")
    assert c.series_names == ["loss", "losses/recon"] and c.series("losses/recon")[0].tolist() == [10]


def test_an_integer_past_float_range_is_a_blank_not_a_crash(tmp_path):
    write_json(
        tmp_path / "training_log.json",
        [{"step": 1, "loss": 1.0, "run_id": 10**400}, {"step": 2, "loss": 0.5}],
    )
    log = scan_run_folder(tmp_path)
    assert log.series("loss")[1].tolist() == [1.0, 0.5]


def test_cut_off_json_keeps_complete_rows(tmp_path):
    (tmp_path / "training_log.json").write_text(
        '[\n{"step": 1, "loss": 1.0},\n{"step": 2, "loss": 0.5},\n{"step": 3, "lo'
    )
    log = scan_run_folder(tmp_path)
    assert log.series("loss")[1].tolist() == [1.0, 0.5]
    assert any("truncated" in n for n in log.sources[0].notes)


def test_non_log_json_is_skipped_in_a_folder_but_an_error_alone(tmp_path):
    write_json(tmp_path / "config.json", {"lr": 0.1, "name": "x"})
    write_json(tmp_path / "training_log.json", [{"step": 0, "loss": 1.0}])
    log = scan_run_folder(tmp_path)
    assert log.series_names == ["loss"]
    assert any("config.json" in n for n in log.notes)
    with pytest.raises(LogError, match="not a training log"):
        scan_run_folder(tmp_path / "config.json")


def test_folder_without_logs_says_what_was_looked_for(tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"x")
    with pytest.raises(CollapseExplorerError) as info:
        scan_run_folder(tmp_path)
    message = str(info.value)
    for looked_for in ("events.out.tfevents.*", "metrics.csv", "*.csv", "training_log.json", "*.json"):
        assert looked_for in message
    with pytest.raises(LogError, match="does not exist"):
        scan_run_folder(tmp_path / "missing")


def test_depth_is_bounded_and_shared_names_are_qualified(tmp_path):
    write_csv(tmp_path / "metrics.csv", ["step", "loss"], [[0, 1.0]])
    write_json(tmp_path / "training_log.json", [{"step": 0, "loss": 2.0}])
    write_csv(tmp_path / "a" / "b" / "c" / "d" / "deep.csv", ["step", "deep"], [[0, 1.0]])
    log = scan_run_folder(tmp_path, max_depth=3)
    assert log.series_names == ["loss [metrics.csv]", "loss [training_log.json]"]
    assert "deep" not in log.series_names
    assert "deep" in scan_run_folder(tmp_path, max_depth=4).series_names


def test_checkpoint_epochs_map_to_the_end_of_their_epoch(tmp_path):
    exploding_run(tmp_path)
    log = scan_run_folder(tmp_path)
    assert checkpoint_epochs(tmp_path, log) == [(2, 29.0), (5, 59.0)]
    assert checkpoint_epochs(tmp_path) == [(2, 2.0), (5, 5.0)]  # no log: the epoch is the step


def test_restart_files_are_ordered_by_their_writer_counter_as_a_number(tmp_path):
    """Writers number their files .<pid>.<n>: the tenth of a process (n = 10) sorts after the ninth."""
    first = write_events(tmp_path / "a", {"loss": [4, 3, 2]}, steps=[0, 1, 2])
    later = write_events(tmp_path / "b", {"loss": [2.5, 1.5]}, steps=[2, 3])
    run = tmp_path / "run"
    run.mkdir()
    first.rename(run / "events.out.tfevents.1700000000.host.7.9")
    later.rename(run / "events.out.tfevents.1700000000.host.7.10")
    steps, values = scan_run_folder(run).series("loss")
    assert steps.tolist() == [0, 1, 2, 3] and values.tolist() == [4, 3, 2.5, 1.5]
