"""Sweeps (issue 13): every run under a root diagnosed once per content, one table, one leaderboard."""

import shutil

import pandas as pd
import pytest
import torch

from core import DEMO_DIR
from core import sweep as sweep_module
from core.cli import main
from core.sweep import BASE_COLUMNS, find_runs, history, leaderboard, read_table, sweep, sweep_tables
from tests.conftest import folder_snapshot

RUNS = {"lr_high/collapsing": "codebook/collapsing", "lr_low/fixed": "codebook/fixed"}


@pytest.fixture
def tree(tmp_path):
    """Two codebook runs copied from the demo (collapsing from epoch 1, fixed never) under one root."""
    root = tmp_path / "sweep_root"
    for name, demo in RUNS.items():
        shutil.copytree(DEMO_DIR / demo, root / name)
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setattr(sweep_module, "SWEEP_CACHE", folder)
    return folder


@pytest.fixture
def counted(monkeypatch):
    """Counts diagnose_one calls (jobs=1 runs them in this process)."""
    calls = []
    real = sweep_module.diagnose_one

    def spy(path, *args):
        calls.append(path)
        return real(path, *args)

    monkeypatch.setattr(sweep_module, "diagnose_one", spy)
    return calls


def test_a_runs_history_in_words_ends_at_its_latest_checkpoint():
    assert history([1, 3, 5], ["collapse", "ok", "ok"]) == "collapsed at epoch 1, recovered by epoch 3"
    assert history([1, 3, 5, 7], ["warning", "ok", "collapse", "collapse"]) == (
        "warning at epoch 1, recovered by epoch 3, collapsed from epoch 5 to epoch 7"
    )
    assert history([None, None], ["ok", "ok"]) == "ok at every checkpoint (2)"
    assert history([1, 2, 3], ["collapse", "ok", "collapse"]).endswith("collapsed again at epoch 3")


def test_find_runs_skips_hidden_folders_and_links_outside(tree, tmp_path):
    (tree / ".trash").mkdir()
    shutil.copy(next((tree / "lr_low/fixed").glob("*.pt")), tree / ".trash" / "old.pt")
    outside = tmp_path / "elsewhere"
    shutil.copytree(tree / "lr_low", outside)
    (tree / "link").symlink_to(outside, target_is_directory=True)
    assert [p.relative_to(tree).as_posix() for p in find_runs(tree)] == sorted(RUNS)


def test_table_schema_and_first_collapse_per_run(tree, cache):
    before = folder_snapshot(tree)
    result = sweep(tree)
    table = result.table
    assert folder_snapshot(tree) == before  # nothing written beside the user's files
    assert result.table_path.parent.parent == cache / "tables" and result.table_path.is_file()
    assert list(table.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert {"code_perplexity", "used_codes", "severity_codebook", "first_collapsed_epoch"} <= set(
        table.columns
    )
    assert len(table) == 10 and set(table["run"]) == set(RUNS)
    assert table["code_perplexity"].dtype == "float64" and str(table["epoch"].dtype) == "Int64"
    collapsing = table[table["run"] == "lr_high/collapsing"]
    assert (collapsing["first_collapsed_epoch"] == collapsing["epoch"].min()).all()
    assert table.loc[table["run"] == "lr_low/fixed", "first_collapsed_epoch"].isna().all()
    pd.testing.assert_frame_equal(read_table(result.table_path), table)
    board = leaderboard(table)
    assert board["run"].tolist() == ["lr_high/collapsing", "lr_low/fixed"]
    assert board.loc[0, "status"] == "collapse" and board.loc[0, "evidence"].startswith("Used codes = ")
    page = result.leaderboard_path.read_text()
    assert "lr_high/collapsing" in page and "http" not in page.replace("http-equiv", "")
    assert sweep_tables() == [result.table_path]


def test_second_sweep_reads_only_new_and_changed_files(tree, cache, counted):
    first = sweep(tree)
    assert first.diagnosed == first.hashed - len(RUNS) == 10  # 10 checkpoints + one probe per run
    assert len(counted) == 10
    counted.clear()
    again = sweep(tree)
    assert (again.diagnosed, again.cached, again.hashed, counted) == (0, 10, 0, [])
    changed = tree / "lr_low/fixed/vqvae_epoch_040.pt"
    state = torch.load(changed, weights_only=True)
    state["epoch"] = 41
    torch.save(state, changed)
    shutil.copy(tree / "lr_low/fixed/vqvae_epoch_020.pt", tree / "lr_low/fixed/vqvae_epoch_050.pt")
    (tree / "lr_high/collapsing/vqvae_epoch_001.pt").touch()  # same bytes, new mtime: re-hashed, not re-run
    third = sweep(tree)
    assert sorted(p.split("/")[-1] for p in counted) == ["vqvae_epoch_040.pt", "vqvae_epoch_050.pt"]
    assert (third.diagnosed, third.cached, third.hashed) == (2, 9, 3)
    assert len(third.table) == 11


def test_out_path_is_used_and_run_folders_are_refused(tree, cache, tmp_path, capsys):
    out = tmp_path / "results" / "table.parquet"
    out.parent.mkdir()
    assert main(["sweep", str(tree), "--out", str(out)]) == 1
    assert out.is_file() and out.with_suffix(".html").is_file()
    text = capsys.readouterr().out
    assert "2 runs, 10 checkpoints" in text and "COLLAPSE  lr_high/collapsing (first at epoch 1)" in text
    assert main(["sweep", str(tree), "--out", str(tree / "lr_low/fixed/t.parquet")]) == 2
    assert "refusing to write" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --backend dask or ray"),
        (["--out", "/tmp/x.csv"], "--out must name a .parquet file"),
        (["--device", "tpu"], "unknown device"),
    ],
)
def test_sweep_bad_options_exit_2(tree, cache, capsys, args, message):
    assert main(["sweep", str(tree), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_sweep_of_nothing_is_bad_input(tmp_path, cache, capsys):
    assert main(["sweep", str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["sweep", str(tmp_path / "empty")]) == 2
    assert "no checkpoint files" in capsys.readouterr().err


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["content_hash"]).sort_values("path").reset_index(drop=True)


def test_loky_workers_give_the_same_table(tree, tmp_path):
    one = sweep(tree, cache_dir=tmp_path / "one")
    two = sweep(tree, jobs=2, cache_dir=tmp_path / "two")
    pd.testing.assert_frame_equal(_comparable(one.table), _comparable(two.table))


def test_dask_local_cluster_of_two_workers(tree, tmp_path):
    from distributed import LocalCluster

    reference = sweep(tree, cache_dir=tmp_path / "ref")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = sweep(tree, backend="dask", scheduler=cluster.scheduler_address, cache_dir=tmp_path / "dask")
        assert len(cluster.scheduler.workers) == 2
    assert result.diagnosed == 10
    pd.testing.assert_frame_equal(_comparable(reference.table), _comparable(result.table))


def test_ray_backend_gives_the_same_table(tree, tmp_path):
    ray = pytest.importorskip("ray")
    reference = sweep(tree, cache_dir=tmp_path / "ref")
    result = sweep(tree, jobs=2, backend="ray", cache_dir=tmp_path / "ray")
    assert not ray.is_initialized()  # the sweep started Ray, so it shut it down again
    pd.testing.assert_frame_equal(_comparable(reference.table), _comparable(result.table))
