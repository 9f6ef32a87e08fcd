"""Hostile and malformed files (issue 11): each attack rebuilt from a generated file, against the
loaders and the CLI. No secret printed, nothing hangs, memory stays bounded, exit 2 with one line."""

from __future__ import annotations

import json
import os
import re
import struct
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import core.cli as cli_module
import core.io.hf as hf_files
import core.io.logs as logs
import core.io.probe as probe_module
import core.io.sniff as sniff
import core.io.state_dict as state_dict
import core.io.unpickle as unpickle
from core import DEMO_DIR
from core.cli import combined_exit, main
from core.diagnosis import Finding, Report
from core.io.checkpoints import load_checkpoint
from core.io.errors import CheckpointError, NeedsTrustError, ProbeError
from core.io.logs import LogError, epoch_checkpoints, find_logs, read_event_file, scan_run_folder
from core.io.probe import find_probe, load_probe
from core.io.unpickle import list_tensors_safely
from tests import hostile_files as hf
from tests.conftest import folder_snapshot
from tests.training_fixtures import write_csv, write_json


def finishes(fn: Callable[[], object], seconds: float = 20.0, release: Path | None = None) -> object:
    """fn() run in a thread; fails when it takes longer than `seconds` (a hang), opening `release`
    (a FIFO) for writing so the stuck reader can end."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if release is not None:
            os.close(os.open(release, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"still running after {seconds} s (a hang)")
    result["seconds"] = time.monotonic() - start
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result.get("value")


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- 1. environment leak through OmegaConf interpolations ------------------------------------------


def _walk(value):
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v)


def test_env_interpolations_stay_literal_text_everywhere(tmp_path, monkeypatch, capsys):
    from omegaconf import DictConfig, ListConfig

    monkeypatch.setenv(hf.SECRET_ENV, "s3cr3t-from-the-server")
    path = hf.env_interpolation(tmp_path)
    loaded = load_checkpoint(path)
    literal = "${oc.env:" + hf.SECRET_ENV + "}"
    assert loaded.config["opt"]["token"] == literal
    assert loaded.config["opt"]["items"] == [literal, {"x": literal}]
    assert loaded.config["opt"]["bad"] == "${no.such.key}"  # an unresolvable one is just text too
    assert loaded.config["whole"] == {"a": literal}
    nodes = list(_walk(loaded.config)) + list(_walk(loaded.metadata))
    assert not any(isinstance(n, DictConfig | ListConfig) for n in nodes)  # nothing left that resolves
    for argv in (["inspect", str(path)], ["inspect", str(path), "--json"]):
        code, out, err = cli(argv, capsys)
        assert code == 0 and "s3cr3t" not in out + err
    assert literal in out


# --- 3. walks over untrusted structures: cycles and depth -------------------------------------------


def test_cyclic_config_is_refused_quickly(tmp_path, capsys):
    path = hf.cyclic_config(tmp_path)
    with pytest.raises(CheckpointError, match="contains itself"):
        finishes(lambda: load_checkpoint(path), 20)
    code, _, err = cli(["inspect", str(path)], capsys)
    assert code == 2 and "reference cycle" in one_error_line(err)


def test_deep_nesting_in_a_checkpoint_is_refused(tmp_path, capsys):
    torch.save(
        {"model_state_dict": hf.small_state(), "config": {"x": hf.deep_structure(300)}}, tmp_path / "d.pt"
    )
    code, _, err = cli(["inspect", str(tmp_path / "d.pt")], capsys)
    assert code == 2 and "nests deeper than 100 levels" in one_error_line(err)


def test_shared_references_cannot_blow_up_a_walk(tmp_path, capsys):
    node: list = ["x"]
    for _ in range(40):  # 2^40 leaves when walked as a tree, 40 lists in the pickle
        node = [node, node]
    torch.save({"model_state_dict": hf.small_state(), "config": {"bomb": node}}, tmp_path / "laughs.pt")
    code, _, err = finishes(lambda: cli(["inspect", str(tmp_path / "laughs.pt")], capsys), 30)
    assert code == 2 and "more than 1,000,000 nested values" in one_error_line(err)


# --- 3 / 4. stride-0 and oversized tensors -----------------------------------------------------------


@pytest.mark.parametrize("layout", ["vectorfield", "bare"])
def test_stride0_tensor_is_refused_before_any_reduction(tmp_path, capsys, layout):
    path = hf.stride0(tmp_path, layout=layout)
    assert path.stat().st_size < 5000
    code, _, err = finishes(lambda: cli(["diagnose", str(path)], capsys), 30)
    assert code == 2 and "over the limit of 2,147,483,648" in one_error_line(err)


def test_expanded_view_under_the_element_limit_is_refused_too(tmp_path, capsys):
    path = hf.stride0(tmp_path, shape=(30_000, 30_000))  # 9e8 elements from one float: 3.6 GB to read
    code, _, err = finishes(lambda: cli(["inspect", str(path)], capsys), 30)
    line = one_error_line(err)
    assert code == 2 and "repeats a 4-byte storage as 3,600,000,000 bytes" in line


def test_position_ids_style_expanded_buffer_is_accepted(tmp_path):
    state = {**hf.small_state(), "position_ids": torch.arange(512).expand(1, -1)}
    torch.save(state, tmp_path / "ok.pt")
    assert load_checkpoint(tmp_path / "ok.pt").shapes()["position_ids"] == (1, 512)


def test_total_element_limit_and_its_override(tmp_path, monkeypatch):
    torch.save(hf.small_state(), tmp_path / "m.pt")
    monkeypatch.setattr(state_dict, "MAX_ELEMENTS", 50)
    with pytest.raises(CheckpointError, match="56 tensor elements, over the limit of 50"):
        load_checkpoint(tmp_path / "m.pt")


# --- 4. zip bombs -------------------------------------------------------------------------------------


def test_compressed_tensor_records_are_refused(tmp_path, capsys):
    path = hf.rezipped(tmp_path)
    code, _, err = cli(["inspect", str(path)], capsys)
    assert code == 2 and "compressed tensor data" in one_error_line(err)


def test_pickle_bomb_is_refused_by_its_declared_size(tmp_path, monkeypatch):
    path = hf.pickle_bomb(tmp_path, 200_000)
    assert path.stat().st_size < 5_000
    monkeypatch.setattr(sniff, "MAX_PICKLE_BYTES", 100_000)
    monkeypatch.setattr(unpickle, "MAX_PICKLE_BYTES", 100_000)
    with pytest.raises(CheckpointError, match="declares a 200,000-byte pickle"):
        load_checkpoint(path)
    assert list_tensors_safely(path) == ([], [])


def test_inflated_total_is_limited(tmp_path, monkeypatch):
    path = hf.rezipped(tmp_path, {"extra.bin": b"\0" * 300_000}, deflate_all=False)
    monkeypatch.setattr(sniff, "MAX_INFLATED_BYTES", 100_000)
    with pytest.raises(CheckpointError, match="would inflate to 300,000 bytes"):
        load_checkpoint(path)


def test_zip_directory_that_lies_about_sizes(tmp_path, capsys):
    path = hf.lying_zip_directory(tmp_path)
    code, _, err = cli(["inspect", str(path)], capsys)
    assert code == 2 and "cannot read" in one_error_line(err)
    assert list_tensors_safely(path) == ([], [])  # the listing reads the bytes really inflated


# --- 4. safetensors -------------------------------------------------------------------------------


def test_safetensors_lying_header_and_element_limit(tmp_path, monkeypatch, capsys):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 4 << 40]}})
    lying = hf.safetensors_with_header(tmp_path, header.encode(), name="lying")
    code, _, err = cli(["inspect", str(lying)], capsys)
    assert code == 2 and "cannot read lying.safetensors" in one_error_line(err)

    from safetensors.torch import save_file

    save_file({"w": torch.zeros(10, 10)}, tmp_path / "ok.safetensors")
    monkeypatch.setattr(hf_files, "MAX_ELEMENTS", 99)
    with pytest.raises(CheckpointError, match="declares 100 tensor elements"):
        load_checkpoint(tmp_path / "ok.safetensors")


def test_deep_safetensors_metadata_config_is_refused(tmp_path, capsys):
    from safetensors.torch import save_file

    deep = "[" * 5000 + "]" * 5000
    save_file({"w": torch.zeros(2)}, tmp_path / "deep.safetensors", metadata={"config": deep})
    code, _, err = cli(["inspect", str(tmp_path / "deep.safetensors")], capsys)
    assert code == 2 and "nests deeper" in one_error_line(err)


# --- 6. configs beside the checkpoint -----------------------------------------------------------------


def test_hydra_yaml_python_tag_exits_2_and_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "marker"
    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    torch.save({"model_state_dict": hf.small_state()}, tmp_path / "run" / "m.pt")
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text(
        f"a: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    code, _, err = cli(["inspect", str(tmp_path / "run" / "m.pt")], capsys)
    assert code == 2 and "cannot read config config.yaml" in one_error_line(err)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nests deeper than 100 levels"),
        ('{"a": ' * 500 + "1" + "}" * 500, "nests deeper than 100 levels"),
    ],
)
def test_deep_json_config_beside_the_checkpoint(tmp_path, capsys, text, message):
    torch.save({"model_state_dict": hf.small_state()}, tmp_path / "m.pt")
    (tmp_path / "config.json").write_text(text)
    code, _, err = cli(["inspect", str(tmp_path / "m.pt")], capsys)
    assert code == 2 and message in one_error_line(err)


def test_yaml_alias_bomb_is_bounded(tmp_path, capsys):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    torch.save({"model_state_dict": hf.small_state()}, tmp_path / "m.pt")
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("\n".join(lines) + "\n")
    code, _, err = finishes(lambda: cli(["inspect", str(tmp_path / "m.pt")], capsys), 30)
    assert code == 2 and "nested values" in one_error_line(err)


def test_symlinked_sibling_config_leading_out_is_ignored(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"stolen": True}))
    (tmp_path / "run").mkdir()
    torch.save({"model_state_dict": hf.small_state()}, tmp_path / "run" / "m.pt")
    (tmp_path / "run" / "config.json").symlink_to(outside)
    assert load_checkpoint(tmp_path / "run" / "m.pt").config == {}


def test_hf_index_naming_a_shard_outside_its_folder(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, tmp_path / "secret.safetensors")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w": "../secret.safetensors"}})
    )
    with pytest.raises(CheckpointError, match="names a shard outside hf"):
        load_checkpoint(tmp_path / "hf")


# --- 6. random bytes, special files --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_legacy_looking_random_bytes_exit_2_with_one_line(tmp_path, capsys, seed):
    path = hf.legacy_garbage(tmp_path, seed)
    before = folder_snapshot(tmp_path)
    code, _, err = cli(["inspect", str(path)], capsys)
    line = one_error_line(err)
    assert code == 2 and "trust" not in line  # malformed, not "needs code": no trust hint
    assert folder_snapshot(tmp_path) == before


def test_fifo_named_like_a_checkpoint_is_refused_without_blocking(tmp_path, capsys):
    pipe = hf.fifo(tmp_path / "m.pt")
    code, _, err = finishes(lambda: cli(["inspect", str(pipe)], capsys), 20, release=pipe)
    assert code == 2 and "FIFO" in one_error_line(err)


# --- 7. the commonest payload gets the safe listing and the trust hint --------------------------------


def test_os_system_payload_is_listed_with_the_trust_hint(tmp_path, capsys):
    marker = tmp_path / "marker"
    torch.save({"state_dict": hf.small_state(), "cb": hf.RunsCode(marker)}, tmp_path / "evil.pt")
    with pytest.raises(NeedsTrustError, match=r"posix\.system") as info:
        load_checkpoint(tmp_path / "evil.pt")
    assert {t.name for t in info.value.listing} == {
        "state_dict.network.0.weight",
        "state_dict.network.0.bias",
    }
    code, out, err = cli(["inspect", str(tmp_path / "evil.pt")], capsys)
    assert code == 2 and "--trust" in one_error_line(err)
    assert "state_dict.network.0.weight\t[8, 6]\tfloat32" in out
    assert not marker.exists()


# --- 3 / 4 / 5. training logs: FIFOs, huge declared tensors and records, symlinks, non-logs --------------


def test_fifo_training_log_beside_a_checkpoint_does_not_hang(tmp_path, capsys):
    torch.save({"model_state_dict": hf.small_state(), "epoch": 1}, tmp_path / "m.pt")
    pipe = hf.fifo(tmp_path / "training_log.json")
    assert find_logs(tmp_path) == []
    code, _, err = finishes(lambda: cli(["diagnose", str(tmp_path / "m.pt")], capsys), 30, release=pipe)
    assert code == 2 and "no adapter recognises" in one_error_line(err)  # it got past the logs
    with pytest.raises(LogError, match="FIFO"):
        finishes(lambda: scan_run_folder(pipe), 20, release=pipe)


def test_tensorboard_record_declaring_a_huge_tensor_is_not_built(tmp_path):
    hf.huge_tensor_event(tmp_path / "tb")
    tracemalloc.start()
    try:
        log = finishes(lambda: scan_run_folder(tmp_path / "tb"), 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20  # it declared 2 GB
    assert log.series("loss")[0].tolist() == [2.0] and log.series("loss")[1].tolist() == [0.5]
    assert any("not one number skipped" in n for n in log.sources[0].notes)


def test_event_record_header_claiming_exabytes(tmp_path):
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    path = hf.huge_record_header(tmp_path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 8, masked_crc32c(bytes(data[:8])))  # a header with a valid checksum
    path.write_bytes(bytes(data))
    frame, source = finishes(lambda: read_event_file(path), 20)
    assert frame.empty and any("truncated" in n for n in source.notes)
    path.write_bytes(b"\x01" * 64)  # a header whose checksum fails
    frame, source = read_event_file(path)
    assert frame.empty and any("corrupt record" in n for n in source.notes)


def test_log_scan_does_not_follow_symlinks_out_of_the_run(tmp_path):
    outside = tmp_path / "other_run"
    write_json(outside / "training_log.json", [{"step": 0, "loss": 9.0}])
    run = tmp_path / "run"
    write_json(run / "training_log.json", [{"step": 0, "loss": 1.0}])
    (run / "logs").symlink_to(outside)
    (run / "root").symlink_to("/")
    (run / "stolen.json").symlink_to(outside / "training_log.json")
    found = finishes(lambda: find_logs(run, max_depth=6), 20)
    assert found == [run / "training_log.json"]
    log = scan_run_folder(run)
    assert log.series("loss")[1].tolist() == [1.0]
    torch.save(hf.small_state(), outside / "ckpt_epoch_3.pt")
    (run / "ckpt_epoch_3.pt").symlink_to(outside / "ckpt_epoch_3.pt")
    assert epoch_checkpoints(run) == []


def test_only_files_that_are_logs_are_read_as_logs(tmp_path):
    """A real-size bridge run folder also holds config, tokenizer and index JSON files (issue 14.6)."""
    write_json(tmp_path / "training_log.json", [{"epoch": 1, "step": 5, "loss": 1.0}])
    added = [{"id": i, "content": f"<extra_{i}>", "single_word": False, "special": True} for i in range(5)]
    write_json(tmp_path / "tokenizer.json", {"version": "1.0", "added_tokens": added, "model": {"vocab": []}})
    write_json(tmp_path / "config.json", {"d_model": 512, "num_layers": [6, 6]})
    write_json(tmp_path / "model.safetensors.index.json", {"metadata": {}, "weight_map": {"a": "b"}})
    write_json(tmp_path / "bridge_epoch_7.json", {"lr": [0.1, 0.2]})  # the config of bridge_epoch_7.pt
    torch.save(hf.small_state(), tmp_path / "bridge_epoch_7.pt")
    write_csv(tmp_path / "predictions.csv", ["id", "score"], [[0, 0.5], [1, 0.7]])
    log = scan_run_folder(tmp_path)
    assert log.series_names == ["loss"] and [s.path for s in log.sources] == ["training_log.json"]
    with pytest.raises(LogError, match="not a training log"):
        scan_run_folder(tmp_path / "tokenizer.json")
    with pytest.raises(LogError, match="not a training log: no step or epoch column"):
        scan_run_folder(tmp_path / "predictions.csv")


def test_deep_or_oversized_text_logs_are_refused(tmp_path, monkeypatch):
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "training_log.json").write_text('{"a": ' * 5000 + "1" + "}" * 5000)
    with pytest.raises(LogError, match="nests too deeply"):
        scan_run_folder(tmp_path / "deep" / "training_log.json")
    write_csv(tmp_path / "big" / "metrics.csv", ["step", "loss"], [[i, 1.0] for i in range(2000)])
    monkeypatch.setattr(logs, "MAX_TEXT_BYTES", 1000)
    with pytest.raises(LogError, match="over the 1,000-byte limit"):
        scan_run_folder(tmp_path / "big" / "metrics.csv")


# --- 6 / 8 / 9. probes: wrong shape, NaN, strings, 0 rows, fractional attributes -------------------------

FLOW = DEMO_DIR / "flow" / "collapsed" / "fclf_epoch_020.pt"
CODEBOOK = DEMO_DIR / "codebook" / "collapsing" / "vqvae_epoch_040.pt"
POSTERIOR = DEMO_DIR / "posterior" / "collapsed" / "vae_epoch_060.pt"
TEXT = DEMO_DIR / "text" / "collapsed" / "bridge_epoch_7.pt"


def _probe(tmp_path: Path, name: str, **arrays) -> str:
    np.savez(tmp_path / f"{name}.npz", **arrays)
    return str(tmp_path / f"{name}.npz")


def _x(rows: int = 40, width: int = 64, nan: bool = False) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal((rows, width)).astype(np.float32)
    if nan:
        x[3, 3] = np.nan
    return x


@pytest.mark.skipif(not DEMO_DIR.is_dir(), reason="demo assets not built")
@pytest.mark.parametrize(
    ("checkpoint", "arrays", "message"),
    [
        (FLOW, {"embeddings": _x(50, 100), "attributes": np.zeros((50, 5), np.int8)}, "embedding dim 100"),
        (CODEBOOK, {"x": _x(50, 10)}, r"probe x must be \[N, 64\]"),
        (CODEBOOK, {"x": _x(nan=True)}, "1 NaN/Inf value"),
        (POSTERIOR, {"x": _x(nan=True)}, "1 NaN/Inf value"),
        (TEXT, {"embeddings": np.array([["a"] * 384] * 4)}, "embeddings must be numbers"),
        (TEXT, {"embeddings": np.zeros((0, 384), np.float32), "texts": np.array([], "<U3")}, "0 rows"),
        (
            FLOW,
            {"embeddings": _x(50, 384), "attributes": np.full((50, 5), 0.5)},
            "0/1, got values such as 0.5",
        ),
        (
            FLOW,
            {"embeddings": _x(50, 384), "attributes": np.full((50, 5), 1.5)},
            "0/1, got values such as 1.5",
        ),
        (CODEBOOK, {"x": _x(), "labels": np.full(40, 0.5)}, "labels must be whole numbers"),
    ],
)
def test_bad_or_mismatched_probe_exits_2_on_the_collapsed_demos(
    tmp_path, capsys, checkpoint, arrays, message
):
    probe = _probe(tmp_path, "bad", **arrays)
    code, out, err = cli(["diagnose", str(checkpoint), "--data", probe], capsys)
    assert code == 2 and re.search(message, one_error_line(err)), err
    assert "ERROR" not in out


def _npz_with_header(path: Path, header: bytes, body: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body)
    return path


def test_probe_arrays_declaring_more_than_they_hold_are_refused(tmp_path):
    header = str({"descr": "<f4", "fortran_order": False, "shape": (10**12, 64)}).encode()
    path = _npz_with_header(tmp_path / "lying.npz", header.ljust(118) + b"\n", _x().tobytes())
    tracemalloc.start()
    try:
        with pytest.raises(ProbeError, match="declares 256,000,000,000,000 bytes"):
            load_probe(path)
        assert tracemalloc.get_traced_memory()[1] < 20 * 2**20
    finally:
        tracemalloc.stop()
    broken = _npz_with_header(
        tmp_path / "broken.npz", b"{'descr': '<f4', 'shape': (4,".ljust(118) + b"\n", b""
    )
    with pytest.raises(ProbeError, match=r"cannot read probe data broken\.npz"):
        load_probe(broken)


def test_probe_over_the_size_limit_and_special_files(tmp_path, monkeypatch):
    path = _probe(tmp_path, "p", x=_x())
    monkeypatch.setattr(probe_module, "MAX_PROBE_BYTES", 1000)
    with pytest.raises(ProbeError, match="over the 1,000-byte limit"):
        load_probe(path)
    pipe = hf.fifo(tmp_path / "probe.npz")
    with pytest.raises(ProbeError, match="FIFO"):
        finishes(lambda: load_probe(pipe), 20, release=pipe)
    assert find_probe(tmp_path / "m.pt") is None  # a FIFO is no probe beside a checkpoint


# --- 14.6. exit 3 when nothing could be decided -------------------------------------------------------


@pytest.mark.skipif(not DEMO_DIR.is_dir(), reason="demo assets not built")
def test_undefined_findings_exit_3_not_0(tmp_path, capsys):
    copy = tmp_path / "fclf_epoch_020.pt"
    copy.write_bytes(FLOW.read_bytes())  # no probe beside it: prototype collapse cannot be judged
    code, out, err = cli(["diagnose", str(copy), "--json"], capsys)
    report = json.loads(out)
    assert code == 3 and err == ""
    assert {f["severity"] for f in report["findings"] if f["kind"] != "training"} == {"undefined"}
    assert any(f["kind"] == "training" and f["severity"] == "ok" for f in report["findings"])  # no verdict


def test_exit_codes_of_reports_by_hand():
    def report(*severities: tuple[str, str]) -> Report:
        return Report("x.pt", "a", tuple(Finding(kind, sev, "s") for kind, sev in severities))

    assert report(("codebook", "collapse"), ("training", "ok")).exit_code() == 1
    assert report(("codebook", "ok"), ("training", "warning")).exit_code() == 0
    assert report(("codebook", "warning")).exit_code() == 0
    assert report(("codebook", "undefined"), ("training", "ok")).exit_code() == 3
    assert report(("training", "ok")).exit_code() == 3
    assert report().exit_code() == 3
    assert report(("codebook", "undefined"), ("training", "collapse")).exit_code() == 1
    assert combined_exit([0, 3]) == 3 and combined_exit([3, 1, 0]) == 1 and combined_exit([0, 0]) == 0


def test_help_documents_every_exit_code(capsys):
    for argv in (["--help"], ["diagnose", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        for line in ("0  nothing collapsed", "1  collapse found", "2  bad input", "3  inconclusive"):
            assert line in text


# --- 6 / 9. report --out: folders, /proc, the checkpoint's folder tree ------------------------------------


@pytest.mark.skipif(not DEMO_DIR.is_dir(), reason="demo assets not built")
def test_report_out_refuses_folders_proc_and_the_checkpoint_tree(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "sub").mkdir(parents=True)
    for name in ("vqvae_epoch_040.pt", "probe.npz"):
        (run / name).write_bytes((CODEBOOK.parent / name).read_bytes())
    ckpt = str(run / "vqvae_epoch_040.pt")
    (tmp_path / "folder.json").mkdir()
    before = folder_snapshot(run)
    for out, message in (
        (run / "sub" / "r.json", "beside the checkpoint"),
        (run / "r.json", "beside the checkpoint"),
        (tmp_path / "folder.json", "not a regular file"),
        (Path("/proc/r.json"), "cannot write into /proc"),
        (tmp_path / "missing" / "r.json", "does not exist"),
    ):
        code, _, err = cli(["report", ckpt, "--out", str(out)], capsys)
        assert code == 2 and message in one_error_line(err), (out, err)
    assert folder_snapshot(run) == before
    code, out, _ = cli(["report", ckpt, "--out", str(tmp_path / "r.json")], capsys)
    assert code == 1 and json.loads((tmp_path / "r.json").read_text())["reports"]


# --- 6. the last-resort guard: no traceback, never 0 or 1 ---------------------------------------------------


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (MemoryError(), "out of memory"),
        (RecursionError(), "nests too deeply"),
        (KeyError("bug"), "internal error (KeyError"),
    ],
)
def test_unexpected_errors_exit_2_with_one_line(monkeypatch, capsys, error, message):
    def boom(args):
        raise error

    monkeypatch.setitem(cli_module.COMMANDS, "inspect", boom)
    code, _, err = cli(["inspect", "x.pt"], capsys)
    assert code == 2 and message in one_error_line(err)


def test_long_flat_histories_are_not_a_bomb(tmp_path):
    history = [float(i) for i in range(2_000_000)]  # two million values, over the node limit
    torch.save({"model_state_dict": hf.small_state(), "train_loss": history}, tmp_path / "h.pt")
    loaded = finishes(lambda: load_checkpoint(tmp_path / "h.pt"), 30)
    assert loaded.metadata == {}  # too long to be a metadata scalar, and no refusal either


def test_files_beside_a_checkpoint_that_adapters_read_are_bounded_too(tmp_path):
    from types import SimpleNamespace

    from core.adapters.text import _tokenizer_json
    from core.plots.flow.projection import Projection

    (tmp_path / "secret.json").write_text('{"stolen": true}')
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "tokenizer.json").symlink_to(tmp_path / "secret.json")
    loaded = SimpleNamespace(config={}, path=tmp_path / "run" / "bridge_epoch_1.pt")
    assert _tokenizer_json(loaded) is None  # as if there were none: never the file it leads to
    header = str({"descr": "<f4", "fortran_order": False, "shape": (10**12, 2)}).encode()
    bomb = _npz_with_header(tmp_path / "projection.npz", header.ljust(118) + b"\n", b"\0" * 64)
    with pytest.raises(ProbeError, match="declares 8,000,000,000,000 bytes"):
        Projection.load(bomb, np.zeros((4, 3), np.float32))
