"""The shipped flow demo carries the frames of its default settings, so no page fits UMAP on first paint."""

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core import DEMO_DIR
from core.adapters.registry import open_adapter
from core.config import FlowConfig
from core.demo import projections
from core.io.files import content_digest
from core.io.paths import demo_checkpoints
from core.io.probe import ProbeData, load_probe, save_probe
from core.plots.flow.projection import FRAMES_DIR, FrameStore
from core.plots.flow.view import (
    FrameContext,
    check_flow_inputs,
    compare_flows,
    flow_defaults,
    flow_view,
    home_anchor,
)
from tests.core.test_flow_demo import _tiny_run

FLOW_DEMO = DEMO_DIR / "flow"


def _frames(checkpoint: Path, cache: Path | None):
    """(the home frame the Trajectories page opens on, the frame the Overview and Compare draw, the
    context) of a checkpoint, looked up as the pages do with a store whose cache is `cache` (shipped
    frames/ first)."""
    adapter = open_adapter(str(checkpoint))
    probe = load_probe(checkpoint.parent / "probe.npz")
    embeddings, attributes = check_flow_inputs(adapter, probe)
    store = FrameStore(checkpoint.parent / FRAMES_DIR, cache)
    context = FrameContext.for_probe(embeddings, attributes, checkpoint.parent, store)
    digest = content_digest(checkpoint)
    home = home_anchor(adapter, digest, context, embeddings, attributes, FlowConfig(*flow_defaults(adapter)))
    (drawn,) = compare_flows((adapter,), (digest,), probe, context)
    return home, drawn, context


def _home_view(checkpoint: Path):
    adapter = open_adapter(str(checkpoint))
    embeddings, attributes = check_flow_inputs(adapter, load_probe(checkpoint.parent / "probe.npz"))
    store = FrameStore(checkpoint.parent / FRAMES_DIR, None)
    context = FrameContext.for_probe(embeddings, attributes, checkpoint.parent, store)
    digest = content_digest(checkpoint)
    config = FlowConfig(*flow_defaults(adapter), (), 500)
    return flow_view(adapter, digest, context, embeddings, attributes, config)


@pytest.mark.skipif(not (FLOW_DEMO / "collapsed" / FRAMES_DIR).is_dir(), reason="flow demo not built")
@pytest.mark.parametrize(
    "checkpoint",
    [p for p in demo_checkpoints() if p.is_relative_to(FLOW_DEMO)],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_flow_demo_checkpoint_ships_its_default_frames(checkpoint, tmp_path):
    home, drawn, _ = _frames(checkpoint, tmp_path / "cache")
    # Nothing was fitted: the frame came from the shipped folder, nothing was written to the cache, and
    # the pages' picture is drawn in the home frame itself.
    assert not (tmp_path / "cache").exists()
    np.testing.assert_array_equal(home.coords, drawn.coords)
    if checkpoint.name == "fclf_epoch_020.pt":
        assert drawn.trust >= 0.93


@pytest.mark.skipif(not (FLOW_DEMO / "collapsed" / FRAMES_DIR).is_dir(), reason="flow demo not built")
def test_shipped_frames_show_the_collapse():
    """At the page's default targets the collapsed run's endpoints sit on a few spots, the fixed run's
    spread."""

    def spots(view) -> int:
        points = np.concatenate([view.background, view.paths.reshape(-1, 2)])
        low, span = points.min(axis=0), np.ptp(points, axis=0)
        return len({tuple(c) for c in np.floor((view.paths[-1] - low) / (0.01 * span)).astype(int).tolist()})

    collapsed = _home_view(FLOW_DEMO / "collapsed" / "fclf_epoch_020.pt")
    fixed = _home_view(FLOW_DEMO / "fixed" / "fclf_epoch_020.pt")
    assert spots(collapsed) <= 3 * collapsed.metrics["distinct_endpoints"]
    assert spots(fixed) >= 3 * spots(collapsed)


def test_build_writes_reproducible_frames_that_the_pages_find(tmp_path):
    _, run_dir = _tiny_run(tmp_path / "flow", "collapsed")
    rng = np.random.default_rng(1)
    z = rng.normal(size=(60, 16)).astype(np.float32)
    probe = ProbeData(
        embeddings=z / np.linalg.norm(z, axis=1, keepdims=True), attributes=rng.integers(0, 2, (60, 3))
    )
    save_probe(run_dir / "probe.npz", probe)
    written = projections.build(tmp_path)
    names = sorted(p.relative_to(run_dir).as_posix() for p in written)
    assert names[-1] == "projection.npz" and len(names) == 3  # input frame + a home frame per checkpoint
    first = {p: p.read_bytes() for p in written}
    projections.build(tmp_path)
    assert {p: p.read_bytes() for p in run_dir.rglob("*.npz") if p.name != "probe.npz"} == first
    for checkpoint in sorted(run_dir.glob("*.pt")):
        _frames(checkpoint, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(not (FLOW_DEMO / "collapsed" / FRAMES_DIR).is_dir(), reason="flow demo not built")
def test_b_drawn_on_a_probe_finds_the_frames_shipped_beside_it(tmp_path):
    """Compare and the Overview draw the fixed run (B) on the collapsed run's probe (A): B's home frame is
    shipped in B's own folder, and the store looks there too, so nothing is fitted or cached."""
    a, b = FLOW_DEMO / "collapsed" / "fclf_epoch_020.pt", FLOW_DEMO / "fixed" / "fclf_epoch_020.pt"
    probe = load_probe(a.parent / "probe.npz")
    context = FrameContext.for_probe(
        probe.embeddings, probe.attributes, a.parent, FrameStore(a.parent / FRAMES_DIR, tmp_path / "cache")
    )
    adapters = [open_adapter(str(p)) for p in (a, b)]
    digests = [content_digest(p) for p in (a, b)]
    alone = compare_flows(adapters, digests, probe, context)
    assert (tmp_path / "cache").exists()  # without B's folder, B's frame had to be fitted and kept
    shutil.rmtree(tmp_path / "cache")
    beside = replace(context, store=context.store.beside(a, b))
    views = compare_flows(adapters, digests, probe, beside)
    assert not (tmp_path / "cache").exists()
    np.testing.assert_array_equal(views[1].coords, alone[1].coords)
