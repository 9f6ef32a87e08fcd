import os
import stat

import pytest

import core.io.paths as paths
from core.io.errors import CollapseExplorerError
from core.io.paths import (
    DEMO_DIR,
    ROOTS_ENV,
    UploadArea,
    allowed_roots,
    default_demo,
    demo_counterpart,
    display_name,
    resolve_user_path,
    session_of,
    sweep_uploads,
)


def test_paths_outside_roots_are_refused_even_through_dotdot(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(CollapseExplorerError, match="outside the folders this server may read"):
        resolve_user_path(str(tmp_path / "m.pt"))
    with pytest.raises(CollapseExplorerError, match="outside the folders this server may read"):
        resolve_user_path(str(DEMO_DIR / ".." / ".." / ".." / "etc" / "passwd"))
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    assert resolve_user_path(str(tmp_path / "m.pt")) == (tmp_path / "m.pt").resolve()
    with pytest.raises(CollapseExplorerError, match="no such file"):
        resolve_user_path(str(tmp_path / "missing.pt"))
    with pytest.raises(CollapseExplorerError, match="enter a path"):
        resolve_user_path("  ")


def test_refusals_name_neither_the_resolved_path_nor_the_roots(tmp_path, monkeypatch):
    secret_root = tmp_path / "srv" / "private-models"
    secret_root.mkdir(parents=True)
    monkeypatch.setenv(ROOTS_ENV, str(secret_root))
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(CollapseExplorerError) as info:
        resolve_user_path(str(tmp_path / "link" / "passwd"))
    message = str(info.value)
    assert "private-models" not in message and "assets" not in message and "/etc" not in message
    assert message.startswith(repr(str(tmp_path / "link" / "passwd")))  # only what was typed


def test_uploads_are_private_to_their_area(tmp_path):
    one = UploadArea.create("session-one", root=tmp_path / "up")
    two = UploadArea.create("session-two", root=tmp_path / "up")
    first = one.store("../../evil name.pt", b"checkpoint bytes")
    assert first.is_relative_to(one.folder) and first.name == "evil_name.pt"
    assert first.read_bytes() == b"checkpoint bytes"
    assert one.store("evil name.pt", b"checkpoint bytes") == first
    assert one.store("evil name.pt", b"other bytes") != first
    for folder in (tmp_path / "up", one.folder, first.parent):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    assert one.session == "session-one" and session_of(two.folder) == "session-two"
    mine = allowed_roots([one.folder])
    assert resolve_user_path(str(first), mine) == first.resolve()
    for roots in (allowed_roots([two.folder]), allowed_roots()):
        with pytest.raises(CollapseExplorerError, match="outside the folders"):
            resolve_user_path(str(first), roots)
        with pytest.raises(CollapseExplorerError, match="outside the folders"):
            resolve_user_path(str(one.folder), roots)  # not even listable as a run folder


def test_upload_caps_quota_and_total(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "MAX_UPLOAD_BYTES", 100)
    monkeypatch.setattr(paths, "UPLOAD_QUOTA_BYTES", 250)
    monkeypatch.setattr(paths, "UPLOAD_TOTAL_BYTES", 350)
    one = UploadArea.create("a", root=tmp_path)
    with pytest.raises(CollapseExplorerError, match="limited to 100 bytes each"):
        one.store("big.pt", b"x" * 101)
    one.store("1.pt", b"1" * 100)
    one.store("2.pt", b"2" * 100)
    with pytest.raises(CollapseExplorerError, match="quota of 250 bytes"):
        one.store("3.pt", b"3" * 100)
    assert one.used() == 200
    two = UploadArea.create("b", root=tmp_path)
    two.store("4.pt", b"4" * 100)
    with pytest.raises(CollapseExplorerError, match="upload space is full"):
        two.store("5.pt", b"5" * 100)
    one.remove()
    assert not one.folder.exists()
    assert two.store("5.pt", b"5" * 100).is_file()


def test_sweep_removes_idle_and_ended_sessions(tmp_path):
    fresh, idle, ended, unknown = (
        UploadArea.create(s, root=tmp_path) for s in ("fresh", "idle", "ended", "x")
    )
    for area in (fresh, idle, ended, unknown):
        area.store("m.pt", b"data")
    now = fresh.folder.stat().st_mtime
    os.utime(idle.folder, (now - paths.UPLOAD_TTL_S - 1,) * 2)
    for area in (ended, unknown):
        os.utime(area.folder, (now - paths.UPLOAD_GRACE_S - 1,) * 2)
    alive = {"fresh": True, "ended": False}.get  # "x": the runtime does not know (None)
    removed = sweep_uploads(tmp_path, alive=alive, now=now)
    assert set(removed) == {idle.folder, ended.folder}
    assert fresh.folder.is_dir() and unknown.folder.is_dir()
    assert sweep_uploads(tmp_path, alive=lambda s: False, keep=[fresh.folder], now=now + 10**6) == [
        unknown.folder
    ]


def test_an_upload_root_made_by_someone_else_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "up").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CollapseExplorerError, match="not private"):
        UploadArea.create("s", root=tmp_path / "up")


def test_display_names(tmp_path):
    assert display_name(default_demo()) == "flow/collapsed/" + default_demo().name
    assert display_name(paths.UPLOAD_ROOT / "session-x.1" / "ab" / "m.pt") == "upload: m.pt"


def test_default_demo_and_its_counterpart():
    demo = default_demo()
    assert demo is not None and demo.parent == DEMO_DIR / "flow" / "collapsed"
    assert demo_counterpart(demo).parent == DEMO_DIR / "flow" / "fixed"
    assert demo_counterpart(demo_counterpart(demo)).parent == DEMO_DIR / "flow" / "collapsed"
