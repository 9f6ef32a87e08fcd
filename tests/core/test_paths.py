import pytest

from core.errors import CollapseExplorerError
from core.paths import (
    DEMO_DIR,
    ROOTS_ENV,
    UPLOAD_DIR,
    default_demo,
    demo_counterpart,
    resolve_user_path,
    store_upload,
)


def test_paths_outside_roots_are_refused_even_through_dotdot(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOTS_ENV, raising=False)
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(CollapseExplorerError, match="outside the configured roots"):
        resolve_user_path(str(tmp_path / "m.pt"))
    with pytest.raises(CollapseExplorerError, match="outside the configured roots"):
        resolve_user_path(str(DEMO_DIR / ".." / ".." / ".." / "etc" / "passwd"))
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    assert resolve_user_path(str(tmp_path / "m.pt")) == (tmp_path / "m.pt").resolve()
    with pytest.raises(CollapseExplorerError, match="no such file"):
        resolve_user_path(str(tmp_path / "missing.pt"))
    with pytest.raises(CollapseExplorerError, match="enter a path"):
        resolve_user_path("  ")


def test_uploads_land_in_the_temp_upload_folder_content_addressed():
    first = store_upload("../../evil name.pt", b"checkpoint bytes")
    assert first.is_relative_to(UPLOAD_DIR) and first.name == "evil_name.pt"
    assert first.read_bytes() == b"checkpoint bytes"
    assert store_upload("evil name.pt", b"checkpoint bytes") == first
    assert store_upload("evil name.pt", b"other bytes") != first
    assert resolve_user_path(str(first)) == first.resolve()


def test_default_demo_and_its_counterpart():
    demo = default_demo()
    assert demo is not None and demo.parent == DEMO_DIR / "flow" / "collapsed"
    assert demo_counterpart(demo).parent == DEMO_DIR / "flow" / "fixed"
    assert demo_counterpart(demo_counterpart(demo)).parent == DEMO_DIR / "flow" / "collapsed"
