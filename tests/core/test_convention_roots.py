"""Files found by convention around a checkpoint stay under the roots in force (issue 11, parent lookups).

Generated run folders: `run/` holds probe.npz, .hydra/config.yaml and a metrics.csv; the checkpoint
lives in `run/checkpoints/`. When only that subfolder is a root, nothing of `run/` may be read (no
probe, no Hydra config, no run folder or logs), while files beside the checkpoint still are. The CLI
confines nothing; the app runs every script run confined to its session's roots.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.io.checkpoints import load_checkpoint
from core.io.logs import find_logs, find_run_folder
from core.io.paths import ROOTS_ENV, confined_to, found_file, within_roots
from core.io.probe import ProbeData, find_probe, save_probe
from core.timeline import guard_files
from tests.corpus import layouts
from tests.pages.helpers import plain, router_app

HYDRA = "model:\n  latent_dim: 6\n"


def make_run(base: Path) -> Path:
    """base/run/{probe.npz, .hydra/config.yaml, metrics.csv, checkpoints/vae.pt}; returns the checkpoint."""
    run = base / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text(HYDRA)
    (run / "metrics.csv").write_text("step,loss\n1,2.0\n2,1.5\n")
    x, _ = layouts.factor_data(n=40)
    save_probe(run / "probe.npz", ProbeData(x=x))
    return layouts.bare("vae.pt")(layouts.examples_vae(True), run / "checkpoints")


def lookups(checkpoint: Path) -> dict[str, object]:
    """What each convention lookup finds around `checkpoint`."""
    loaded = load_checkpoint(checkpoint)
    return {
        "probe": find_probe(checkpoint),
        "config": loaded.config_source,
        "run": find_run_folder(checkpoint),
        "logs": find_logs(checkpoint.parent.parent, max_depth=1),
    }


def test_unconfined_lookups_read_the_run_folder_above_a_checkpoints_subfolder(tmp_path):
    checkpoint = make_run(tmp_path)
    run = checkpoint.parent.parent
    found = lookups(checkpoint)
    assert found["probe"] == run / "probe.npz"
    assert found["config"] == str(run / ".hydra" / "config.yaml")
    assert found["run"] == run and found["logs"] == [run / "metrics.csv"]


def test_a_root_that_is_the_checkpoint_folder_lends_nothing_of_its_parent(tmp_path):
    checkpoint = make_run(tmp_path)
    folder = checkpoint.parent
    with confined_to([folder]):
        assert lookups(checkpoint) == {"probe": None, "config": None, "run": None, "logs": []}
        (folder / "config.json").write_text('{"latent_dim": 6}')  # beside the checkpoint: inside the root
        save_probe(folder / "probe.npz", ProbeData(x=layouts.factor_data(n=40)[0]))
        assert find_probe(checkpoint) == folder / "probe.npz"
        assert load_checkpoint(checkpoint).config == {"latent_dim": 6}


def test_a_parent_outside_every_root_is_not_read_and_one_inside_a_root_is(tmp_path):
    checkpoint = make_run(tmp_path / "a")
    other = tmp_path / "other"
    other.mkdir()
    with confined_to([checkpoint.parent, other, tmp_path / "missing"]):
        assert lookups(checkpoint) == {"probe": None, "config": None, "run": None, "logs": []}
    run = checkpoint.parent.parent
    with confined_to([other, run]):
        assert lookups(checkpoint)["probe"] == run / "probe.npz"
        assert find_run_folder(checkpoint) == run


def test_a_symlinked_parent_leading_out_of_the_roots_is_not_read(tmp_path):
    checkpoint = make_run(tmp_path / "outside")
    real_run = checkpoint.parent.parent
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "run").symlink_to(real_run)  # the run folder reached through a link inside the root
    via_link = allowed / "run" / "checkpoints" / checkpoint.name
    with confined_to([allowed]):
        assert lookups(via_link) == {"probe": None, "config": None, "run": None, "logs": []}
        assert found_file(via_link, via_link.parent) is None


def test_a_root_that_is_a_symlink_to_the_checkpoint_folder_lends_neither_parent(tmp_path):
    checkpoint = make_run(tmp_path / "outside")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    save_probe(allowed / "probe.npz", ProbeData(x=layouts.factor_data(n=40)[0]))  # the link's own parent
    (allowed / ".hydra").mkdir()
    (allowed / ".hydra" / "config.yaml").write_text(HYDRA)
    link = allowed / "checkpoints"
    link.symlink_to(checkpoint.parent)
    with confined_to([link]):
        assert lookups(link / checkpoint.name) == {"probe": None, "config": None, "run": None, "logs": []}
        assert found_file(link / checkpoint.name, link) == checkpoint.resolve()  # the checkpoint itself is in


def test_guard_findings_below_a_folder_are_found_only_under_the_roots(tmp_path):
    run = tmp_path / "run"
    (run / "version_0").mkdir(parents=True)
    (run / "version_0" / "collapse_guard.jsonl").write_text("{}\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "collapse_guard.jsonl").write_text("{}\n")
    (run / "version_1").symlink_to(outside)
    assert guard_files(run) == [run / "version_0" / "collapse_guard.jsonl"]
    with confined_to([tmp_path / "elsewhere"]):
        assert guard_files(run) == []


def test_within_roots_without_roots_and_with_a_provider(tmp_path):
    assert within_roots("/etc/passwd")  # nothing in force: the CLI reads what its user names
    calls = []

    def provider() -> list[Path]:
        calls.append(1)
        return [tmp_path]

    with confined_to(provider):
        assert within_roots(tmp_path / "x") and not within_roots(tmp_path.parent)
        assert within_roots(tmp_path / ".." / tmp_path.name / "y")
    assert len(calls) == 3  # asked at each lookup, so roots added meanwhile count
    assert within_roots(tmp_path.parent)  # the block's confinement ended with it


@pytest.mark.parametrize("root", ["checkpoints", "run"])
def test_the_app_confines_its_lookups_to_the_configured_roots(tmp_path, monkeypatch, root):
    checkpoint = make_run(tmp_path)
    run = checkpoint.parent.parent
    monkeypatch.setenv(ROOTS_ENV, str(checkpoint.parent if root == "checkpoints" else run))
    at = router_app(monkeypatch, source_a="Path", path_a=str(checkpoint)).run()
    assert not at.exception
    kinds = ("markdown", "caption", "success", "error", "warning", "text")
    texts = [plain(e.value) for kind in kinds for e in at.get(kind)]  # as a reader sees the escaped text
    measured = any("latent units active (Var_x(mu)" in t for t in texts)  # on ../probe.npz
    from_logs = any("in 1 series (steps 1-2)" in t for t in texts)  # ../metrics.csv
    hydra = any(f"Config: {run / '.hydra' / 'config.yaml'}" in t for t in texts)
    if root == "checkpoints":
        assert not (measured or from_logs or hydra)
        assert any("Config: none found" in t for t in texts)
        assert any(t.startswith("estimate (no probe x)") for t in " ".join(texts).split("\n"))
    else:
        assert measured and from_logs and hydra
