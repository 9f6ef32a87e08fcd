import json
import subprocess
import sys

import pytest
import torch

from core.cli import main
from tests.conftest import ROOT, folder_snapshot


def test_inspect_json_lists_tensors(tmp_path, small_mlp, capsys):
    torch.save(
        {"epoch": 2, "model_state_dict": small_mlp.state_dict(), "config": {"h": 3}}, tmp_path / "m.pt"
    )
    assert main(["inspect", str(tmp_path / "m.pt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "torch" and out["parameters"] == 21
    assert [t["name"] for t in out["tensors"]] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert out["config"] == {"h": 3} and out["metadata"]["epoch"] == 2


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.pt", b""), ("image.pt", b"\x89PNG\r\n\x1a\n" + bytes(32)), ("junk.pt", b"junk" * 10)],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, name, content):
    (tmp_path / name).write_bytes(content)
    before = folder_snapshot(tmp_path)
    assert main(["inspect", str(tmp_path / name)]) == 2
    assert main(["diagnose", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 2 and err.startswith("error: ")
    assert folder_snapshot(tmp_path) == before


def test_unknown_layout_diagnose_exits_2(tmp_path, capsys):
    torch.save({"weird.thing": torch.zeros(3, 3)}, tmp_path / "w.pt")
    assert main(["diagnose", str(tmp_path / "w.pt")]) == 2
    assert "no adapter recognises" in capsys.readouterr().err


def test_bad_builder_spec_exits_2(tmp_path, small_mlp, capsys):
    torch.save(small_mlp.state_dict(), tmp_path / "m.pt")
    assert main(["diagnose", str(tmp_path / "m.pt"), "--builder", "nonexistent_module_xyz:build"]) == 2
    assert "cannot import builder module" in capsys.readouterr().err


def test_module_entry_point_runs_as_a_process(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "core", "inspect", str(tmp_path / "x.pt")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: x.pt is empty (0 bytes): not a checkpoint"
