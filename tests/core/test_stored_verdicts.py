"""The shipped demo's stored verdicts (issue 25): the app's first screen reads them instead of diagnosing,
so they must equal a fresh diagnosis, and must never be served for a file that is not the one diagnosed."""

import json
import shutil

import pytest

from core import DEMO_DIR
from core.diagnosis.checkpoint import diagnose_checkpoint
from core.io.checkpoints import load_checkpoint
from core.io.paths import demo_checkpoints
from core.io.probe import find_probe, load_probe
from core.report.verdict import VERDICTS_NAME, stored_verdict, verdict_of

CHECKPOINTS = demo_checkpoints()


def test_every_demo_checkpoint_has_a_stored_verdict():
    assert len(CHECKPOINTS) >= 30
    missing = [p.name for p in CHECKPOINTS if stored_verdict(p, find_probe(p)) is None]
    assert not missing, "rebuild the store: python -m core.demo build --only verdicts"


@pytest.mark.parametrize("checkpoint", CHECKPOINTS, ids=lambda p: p.relative_to(DEMO_DIR).as_posix())
def test_stored_verdict_equals_a_fresh_diagnosis(checkpoint):
    probe = find_probe(checkpoint)
    fresh = verdict_of(
        diagnose_checkpoint(load_checkpoint(checkpoint), None if probe is None else load_probe(probe))
    )
    assert stored_verdict(checkpoint, probe) == fresh, "python -m core.demo build --only verdicts"


@pytest.fixture
def demo_copy(tmp_path):
    """The collapsed flow run and the store, copied into a demo folder of the test's own."""
    run = tmp_path / "flow" / "collapsed"
    shutil.copytree(DEMO_DIR / "flow" / "collapsed", run)
    shutil.copy(DEMO_DIR / VERDICTS_NAME, tmp_path / VERDICTS_NAME)
    return tmp_path, run / "fclf_epoch_020.pt", run / "probe.npz"


def test_the_copy_is_served_as_shipped(demo_copy):
    demo, checkpoint, probe = demo_copy
    found = stored_verdict(checkpoint, probe, demo)
    assert found is not None and found.what == "prototype collapse"
    assert found.headline == "32 distinct endpoints from 1,000 inputs: collapsed"


def test_a_changed_byte_is_diagnosed_afresh(demo_copy):
    demo, checkpoint, probe = demo_copy
    data = bytearray(checkpoint.read_bytes())
    data[-100] ^= 1
    checkpoint.write_bytes(bytes(data))
    assert stored_verdict(checkpoint, probe, demo) is None


def test_a_changed_log_or_probe_is_diagnosed_afresh(demo_copy):
    demo, checkpoint, probe = demo_copy
    log = checkpoint.parent / "training_log.json"
    log.write_text(log.read_text() + " ")
    assert stored_verdict(checkpoint, probe, demo) is None
    log.write_text(log.read_text()[:-1])
    assert stored_verdict(checkpoint, probe, demo) is not None
    probe.write_bytes(probe.read_bytes() + b"\0")
    assert stored_verdict(checkpoint, probe, demo) is None


def test_another_probe_or_a_file_outside_the_demo_is_not_served(demo_copy, tmp_path_factory):
    demo, checkpoint, probe = demo_copy
    assert stored_verdict(checkpoint, None, demo) is None  # stored on its probe, asked without one
    other = demo / "flow" / "other.npz"
    shutil.copy(probe, other)
    assert stored_verdict(checkpoint, other, demo) is None
    outside = tmp_path_factory.mktemp("elsewhere") / "fclf_epoch_020.pt"
    shutil.copy(checkpoint, outside)
    assert stored_verdict(outside, probe, demo) is None
    link = demo / "flow" / "collapsed" / "linked.pt"
    link.symlink_to(outside)
    assert stored_verdict(link, probe, demo) is None


@pytest.mark.parametrize(
    "store", ["not json", json.dumps([1, 2]), json.dumps({"x": 1}), "{" * 10, "[" * 100_000 + "]" * 100_000]
)
def test_a_damaged_store_is_no_store(demo_copy, store):
    demo, checkpoint, probe = demo_copy
    (demo / VERDICTS_NAME).write_text(store)
    assert stored_verdict(checkpoint, probe, demo) is None
