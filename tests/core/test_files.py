"""One atomic write for every file the project writes (core.io.files)."""

import os
import stat

import pytest

from core.io.files import temporary_beside, write_atomic
from core.io.paths import checkpoint_files


def test_bytes_text_and_writer_functions_replace_the_target(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    assert write_atomic(target, "new ü") == target and target.read_text(encoding="utf-8") == "new ü"
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    write_atomic(tmp_path / "t.npz", lambda path: path.write_bytes(path.suffix.encode()))
    assert (tmp_path / "t.npz").read_bytes() == b".npz"  # writers that add a suffix find it there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "t.npz"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "table.parquet"
    target.write_text("kept")

    def fails(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, fails)
    assert target.read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_private_until_a_mode_is_given(tmp_path):
    tmp = temporary_beside(tmp_path / "r.html")
    assert tmp.parent == tmp_path and tmp.name.startswith(".r.") and tmp.suffix == ".html"
    assert stat.S_IMODE(tmp.stat().st_mode) == 0o600
    write_atomic(tmp_path / "a", b"x")
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o600
    write_atomic(tmp_path / "r.html", "x", mode=0o644, temporary=tmp)
    assert stat.S_IMODE((tmp_path / "r.html").stat().st_mode) == 0o644 and not tmp.exists()


def test_checkpoint_files_lists_a_run_by_name_and_skips_links_leading_out(tmp_path):
    run, outside = tmp_path / "run", tmp_path / "outside"
    run.mkdir()
    outside.mkdir()
    for name in ("b_epoch_2.pt", "a_epoch_1.ckpt", "notes.txt", "w.safetensors"):
        (run / name).write_bytes(b"x")
    (outside / "x.pt").write_bytes(b"x")
    (run / "link.pt").symlink_to(outside / "x.pt")
    (run / "folder.pt").mkdir()
    os.mkfifo(run / "fifo.pt")
    assert [p.name for p in checkpoint_files(run)] == ["a_epoch_1.ckpt", "b_epoch_2.pt", "w.safetensors"]
    assert [p.name for p in checkpoint_files(run, within=tmp_path)] == [
        "a_epoch_1.ckpt",
        "b_epoch_2.pt",
        "link.pt",
        "w.safetensors",
    ]


def test_a_file_key_changes_when_the_file_is_rewritten(tmp_path):
    from core.io.paths import FileKey

    path = tmp_path / "m.pt"
    path.write_bytes(b"one")
    key = FileKey.of(path)
    assert key == FileKey.of(str(path)) and hash(key) == hash(FileKey.of(path))
    assert key.path == str(path) and isinstance(key, tuple)
    path.write_bytes(b"three")
    assert FileKey.of(path) != key
    assert FileKey.maybe(None) is None and FileKey.maybe(path) == FileKey.of(path)
