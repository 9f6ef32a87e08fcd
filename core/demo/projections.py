"""Shipped frames of the flow demo, so the app's first paint never fits UMAP (nor imports umap).

Per flow run folder `out_dir/flow/<run>/`: `projection.npz`, the probe's input frame (runs sharing the
probe rows share one fit), and `frames/<key>.npz`, for every checkpoint of the run, its home frame: the
diagnosis's targets (row i flips attribute i mod A) at the checkpoint's own steps and alpha, which the
Trajectories page opens on and the Overview, the Compare page and the HTML report draw. Seeded and
single-threaded, so a rebuild writes the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from ..adapters.registry import open_adapter
from ..config import FlowConfig
from ..io.files import content_digest
from ..io.probe import load_probe
from ..plots.flow.projection import (
    FRAMES_DIR,
    PROJECTION_NAME,
    FrameStore,
    Projection,
    fingerprint,
    fit_projection,
    frame_rows,
)
from ..plots.flow.view import FrameContext, check_flow_inputs, flow_defaults, home_anchor


def build(out_dir: Path, *, quick: bool = False) -> list[Path]:
    """Write the input frame and the default joint frames of every flow run under `out_dir/flow/`;
    returns the files written. `quick` is accepted for symmetry with the other builders (frames have no
    epochs to cut)."""
    written: list[Path] = []
    fitted: dict[str, Projection] = {}
    for probe_path in sorted(Path(out_dir).glob("flow/*/probe.npz")):
        run_dir = probe_path.parent
        checkpoints = sorted(run_dir.glob("*.pt"))
        probe = load_probe(probe_path)
        if probe.embeddings is None or probe.attributes is None or not checkpoints:
            continue
        rows = frame_rows(probe.attributes)
        reference = probe.embeddings[rows]
        key = fingerprint(reference)
        if key not in fitted:
            fitted[key] = fit_projection(reference)
        fitted[key].save(run_dir / PROJECTION_NAME)
        written.append(run_dir / PROJECTION_NAME)
        frames_dir = run_dir / FRAMES_DIR
        frames_dir.mkdir(exist_ok=True)
        for stale in frames_dir.glob("*.npz"):
            stale.unlink()
        context = FrameContext(fitted[key], rows, FrameStore(None, frames_dir))
        for checkpoint in checkpoints:
            adapter = open_adapter(str(checkpoint))
            embeddings, attributes = check_flow_inputs(adapter, probe)
            digest = content_digest(checkpoint)
            home_anchor(adapter, digest, context, embeddings, attributes, FlowConfig(*flow_defaults(adapter)))
        written.extend(sorted(frames_dir.glob("*.npz")))
    return written
