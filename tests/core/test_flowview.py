import numpy as np
import pytest
import torch

from core.adapters.base import AdapterSpec
from core.config import FlowConfig, SamplingConfig
from core.diagnosis.flow import probe_targets
from core.io.errors import AdapterError, ProbeError
from core.io.probe import ProbeData
from core.metrics import Undefined
from core.plots.flow.projection import FRAME_ROWS, FrameStore, Projection, frame_rows, unit_rows
from core.plots.flow.targets import target_attributes
from core.plots.flow.text import GREEDY, check_decoder, decode_endpoints, decode_rows, decode_selected
from core.plots.flow.view import (
    PLACED_MIN_TRUST,
    PLACED_NOTE,
    FrameContext,
    check_flow_inputs,
    compare_flows,
    field_at_inputs,
    flow_view,
    home_anchor,
    path_sample,
    row_texts,
    trajectory_columns,
)
from tests.fakes import Unregistered


class PrototypeAdapter(Unregistered):
    """Moves every point straight onto a fixed prototype of its packed target (total prototype collapse)."""

    name = "test-prototype"
    family = "flow"

    def __init__(self, d: int = 8, a: int = 2) -> None:
        self.prototypes = unit_rows(np.random.default_rng(9).normal(size=(2**a, d)))
        self.d, self.a = d, a

    def spec(self):
        return AdapterSpec(
            "flow", latent_dim=self.d, attribute_names=("p", "q")[: self.a], supports_flow=True
        )

    def flow(self, z, y_target, steps, alpha):
        code = (y_target.astype(int) * (1 << np.arange(self.a))).sum(1)
        w = np.linspace(0, 1, steps + 1)[:, None, None]
        return unit_rows(((1 - w) * z + w * self.prototypes[code]).reshape(-1, self.d)).reshape(
            steps + 1, *z.shape
        )


def test_target_attributes_controls():
    original = np.array([[0, 1, 0, 1], [1, 0, 1, 0]], dtype=np.int8)
    target = target_attributes(original, ("keep", "flip", "set 0", "set 1"))
    assert target.tolist() == [[0, 0, 0, 1], [1, 1, 0, 1]]
    with pytest.raises(ValueError, match="controls"):
        target_attributes(original, ("keep",))


def test_check_flow_inputs_messages():
    adapter = PrototypeAdapter()
    good = ProbeData(embeddings=np.ones((4, 8), np.float32), attributes=np.zeros((4, 2), np.int8))
    assert check_flow_inputs(adapter, good)[0].shape == (4, 8)
    with pytest.raises(ProbeError, match="no probe data"):
        check_flow_inputs(adapter, None)
    with pytest.raises(ProbeError, match="dimension 5 but the model expects 8"):
        check_flow_inputs(adapter, ProbeData(embeddings=np.ones((4, 5)), attributes=np.zeros((4, 2))))
    with pytest.raises(ProbeError, match="3 attribute columns"):
        check_flow_inputs(adapter, ProbeData(embeddings=np.ones((4, 8)), attributes=np.zeros((4, 3))))

    class NoFlow(PrototypeAdapter):
        def spec(self):
            return AdapterSpec("codebook")

    with pytest.raises(AdapterError, match="no flow"):
        check_flow_inputs(NoFlow(), good)


def _context(embeddings, attributes, cache, seed=0, limit=FRAME_ROWS) -> FrameContext:
    """A frame context whose input frame is random coordinates (no UMAP fit), frames kept in `cache`."""
    rows = frame_rows(attributes, limit)
    coords = np.random.default_rng(seed).normal(size=(len(rows), 2)).astype(np.float32)
    return FrameContext(Projection(unit_rows(embeddings[rows]), coords), rows, FrameStore(None, cache))


def test_flow_view_metrics_sample_and_joint_frame(tmp_path):
    rng = np.random.default_rng(0)
    embeddings = unit_rows(rng.normal(size=(200, 8)))
    attributes = rng.integers(0, 2, size=(200, 2)).astype(np.int8)
    context = _context(embeddings, attributes, tmp_path)
    args = (PrototypeAdapter(), "ckpt", context, embeddings, attributes)
    view = flow_view(*args, FlowConfig(5, 0.1, ("flip", "keep"), 50))
    assert view.total == 200 and len(view.sample) == 50
    assert view.paths.shape == (6, 50, 2)
    # The frame is fitted on all 200 rows: inputs then endpoints; the paths start and end on them.
    assert np.array_equal(view.rows, np.arange(200)) and view.coords.shape == (400, 2)
    assert np.array_equal(view.paths[0], view.background[view.sample])
    assert np.array_equal(view.paths[-1], view.coords[200 + view.sample])
    assert view.trust > 0.9 and view.frame_note == ""
    assert np.array_equal(view.target[:, 0], 1 - attributes[:, 0])
    assert view.metrics["distinct_endpoints"] == 4
    assert view.metrics["spread_ratio"] == pytest.approx(0.0, abs=1e-4)
    assert view.far_endpoints == 1.0  # every endpoint sits on a prototype far from all inputs
    assert view.per_step.shape == (5,) and view.per_step.min() > 0
    assert view.movement.shape == (200,) and view.movement.min() > 0
    # Four prototypes: four dots in the frame, each far smaller than the picture.
    span = np.ptp(view.coords, axis=0).max()
    groups = view.target[:, 0] + 2 * view.target[:, 1]
    for g in range(4):
        island = view.coords[200:][groups == g]
        assert np.linalg.norm(island - island.mean(axis=0), axis=1).max() < 0.03 * span
    # Kept in the store: the same setting again reads the frame instead of fitting it.
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = flow_view(*args, FlowConfig(5, 0.1, ("flip", "keep"), 50))
    assert np.array_equal(again.coords, view.coords) and len(list(tmp_path.glob("*.npz"))) == 1

    still = flow_view(*args, FlowConfig(0, 0.1, ("flip", "keep"), 50))
    assert still.far_endpoints == 0.0 and still.per_step.shape == (0,)
    # Flipping one attribute for everyone relabels groups one-to-one: endpoints still group by original.
    assert view.metrics["silhouette_original"] == pytest.approx(1.0, abs=1e-5)
    merged = flow_view(*args, FlowConfig(5, 0.1, ("set 1", "keep"), 500))
    assert len(merged.sample) == 200
    assert merged.metrics["distinct_endpoints"] == 2
    assert merged.metrics["n_clusters"] == 2
    assert merged.metrics["silhouette_target"] == pytest.approx(1.0, abs=1e-5)


def test_home_frame_anchors_the_other_settings(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    embeddings = unit_rows(rng.normal(size=(150, 8)))
    attributes = rng.integers(0, 2, size=(150, 2)).astype(np.int8)
    context = _context(embeddings, attributes, tmp_path)
    adapter = PrototypeAdapter()
    anchor = home_anchor(adapter, "ckpt", context, embeddings, attributes, FlowConfig(4, 0.2))
    assert anchor.coords.shape == (300, 2) and len(list(tmp_path.glob("*.npz"))) == 1
    # At the diagnosis's targets (no controls, the page's default) the view is the home frame itself
    # (read back, not refitted).
    home = flow_view(adapter, "ckpt", context, embeddings, attributes, FlowConfig(4, 0.2, (), 20))
    assert np.array_equal(home.coords, anchor.coords) and len(list(tmp_path.glob("*.npz"))) == 1
    # Another setting starts from it: every input stays where the home frame put it.
    flip_second = FlowConfig(4, 0.2, ("keep", "flip"), 20)
    other = flow_view(adapter, "ckpt", context, embeddings, attributes, flip_second, anchor=anchor)
    assert np.array_equal(other.background, home.background)
    assert not np.array_equal(other.coords[150:], home.coords[150:])
    # Its endpoints placed into the home frame were trustworthy enough: no fit, nothing stored, and the
    # caption's note says the frame is the home frame with placed endpoints.
    assert other.trust >= PLACED_MIN_TRUST and other.frame_note == PLACED_NOTE
    assert len(list(tmp_path.glob("*.npz"))) == 1
    # Where placing is not trustworthy enough the setting gets a joint frame of its own, kept in the store.
    monkeypatch.setattr("core.plots.flow.view.PLACED_MIN_TRUST", 1.01)
    fitted = flow_view(adapter, "ckpt", context, embeddings, attributes, flip_second, anchor=anchor)
    assert fitted.frame_note == "" and np.array_equal(fitted.background, home.background)
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_large_probes_fit_the_frame_on_a_sample(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    embeddings = unit_rows(rng.normal(size=(300, 8)))
    attributes = rng.integers(0, 2, size=(300, 2)).astype(np.int8)
    context = _context(embeddings, attributes, tmp_path, limit=60)
    assert len(context.rows) == 60
    view = flow_view(
        PrototypeAdapter(), "ckpt", context, embeddings, attributes, FlowConfig(3, 0.1, ("flip", "keep"), 100)
    )
    assert view.total == 300 and len(view.rows) == 60 and view.coords.shape == (120, 2)
    assert view.paths.shape == (4, 100, 2) and np.isfinite(view.paths).all()
    # Metrics still use all 300 rows; rows outside the frame are placed, fitted ones sit on their fit.
    assert view.movement.shape == (300,)
    fitted = np.isin(view.sample, view.rows)
    assert 0 < fitted.sum() < 100
    position = {int(r): i for i, r in enumerate(view.rows)}
    for column, row in enumerate(view.sample):
        if int(row) in position:
            assert np.array_equal(view.paths[0, column], view.coords[position[int(row)]])
    table = trajectory_columns(view, ("p", "q"), [f"s{i}" for i in range(300)])
    assert len(table["row"]) == 300 and table["shown"].sum() == 100
    assert np.isnan(table["start x"]).sum() == 240  # only the frame's rows have frame coordinates
    assert (
        table["target"][0] == {(0, 0): "none", (1, 0): "p", (0, 1): "q", (1, 1): "p+q"}[tuple(view.target[0])]
    )
    # However many are asked for, at most MAX_DRAWN paths are drawn, still stratified by target.
    monkeypatch.setattr("core.plots.flow.view.MAX_DRAWN", 40)
    capped = flow_view(
        PrototypeAdapter(), "ckpt", context, embeddings, attributes, FlowConfig(3, 0.1, ("flip", "keep"), 300)
    )
    assert len(capped.sample) == 40 and capped.paths.shape == (4, 40, 2) and capped.movement.shape == (300,)
    groups = capped.target[:, 0] + 2 * capped.target[:, 1]
    assert set(groups[capped.sample]) == set(groups)


def test_nan_flows_fall_back_to_the_input_frame(tmp_path):
    class Exploding(PrototypeAdapter):
        def flow(self, z, y_target, steps, alpha):
            traj = super().flow(z, y_target, steps, alpha)
            traj[-1, :3] = np.nan
            return traj

    rng = np.random.default_rng(3)
    embeddings = unit_rows(rng.normal(size=(40, 8)))
    attributes = rng.integers(0, 2, size=(40, 2)).astype(np.int8)
    context = _context(embeddings, attributes, tmp_path)
    view = flow_view(
        Exploding(), "ckpt", context, embeddings, attributes, FlowConfig(3, 0.1, ("flip", "keep"), 10)
    )
    assert "NaN" in view.frame_note and isinstance(view.trust, Undefined)
    assert np.array_equal(view.background, context.input_frame.coords)
    assert np.isfinite(view.paths).all() and list(tmp_path.iterdir()) == []


def test_path_sample_labels_and_texts():
    rng = np.random.default_rng(4)
    embeddings = unit_rows(rng.normal(size=(30, 8)))
    attributes = rng.integers(0, 2, size=(30, 2)).astype(np.int8)
    probe = ProbeData(embeddings=embeddings, attributes=attributes, texts=tuple(f"t{i}" for i in range(30)))
    assert row_texts(probe, np.array([2, 5])) == ["t2", "t5"]
    assert row_texts(ProbeData(embeddings=embeddings), np.array([7])) == ["row 7"]


def test_field_at_inputs_surface_divergence():
    a = np.random.default_rng(5).normal(size=(8, 8)).astype(np.float32)

    class LinearField(PrototypeAdapter):
        def field_fn(self):
            weight = torch.from_numpy(a)
            return lambda z, y: z @ weight.T + 0.0 * y.sum()

    z = unit_rows(np.random.default_rng(6).normal(size=(400, 8)))
    attributes = np.zeros((400, 2), np.int8)
    stats = field_at_inputs(LinearField(), z, attributes, ("keep", "flip"), probes=64)
    expected = np.trace(a) - np.einsum("ni,ij,nj->n", z, a, z).mean()
    assert stats.divergence == pytest.approx(expected, abs=0.1)
    with pytest.raises(AdapterError, match="field_fn"):
        field_at_inputs(PrototypeAdapter(), z, attributes, ("keep", "flip"))


class RoundingText(Unregistered):
    """Fake generator: 'writes' each embedding as its rounded coordinates, so equal points read the same."""

    name = "test-rounding-text"
    family = "text"

    def __init__(self, d: int = 8) -> None:
        self.d = d
        self.configs: list[SamplingConfig] = []

    def spec(self):
        return AdapterSpec("text", latent_dim=self.d, supports_generation=True)

    def generate(self, embeddings, config):
        self.configs.append(config)
        return [" ".join(f"{v:.3f}" for v in row) for row in embeddings]


def _probe(n: int = 60, d: int = 8, a: int = 2, seed: int = 0) -> ProbeData:
    rng = np.random.default_rng(seed)
    return ProbeData(
        embeddings=unit_rows(rng.normal(size=(n, d))),
        attributes=rng.integers(0, 2, size=(n, a)).astype(np.int8),
    )


def test_decode_endpoints_reads_the_collapse():
    probe, text = _probe(), RoundingText()
    flow = PrototypeAdapter()
    out = decode_endpoints(
        flow, text, probe.embeddings, probe.attributes, FlowConfig(4, 0.1, ("flip", "keep")), 10
    )
    assert len(text.configs) == 1  # one batched call decodes the starts and the endpoints
    assert len(out.rows) == 10 and np.all(np.diff(out.rows) > 0)
    assert np.array_equal(out.original, probe.attributes[out.rows])
    assert np.array_equal(out.target[:, 0], 1 - out.original[:, 0])
    assert np.array_equal(out.target[:, 1], out.original[:, 1])
    # Every start is its own sentence; every endpoint is its target's prototype, read back exactly.
    assert out.start == tuple(text.generate(probe.embeddings[out.rows], GREEDY))
    assert out.distinct_start == 10
    assert out.distinct_end == out.target_groups == len({tuple(t) for t in out.target.tolist()})
    for i, target in enumerate(out.target):
        assert out.end[i] == text.generate(unit_rows(flow.prototypes[[target[0] + 2 * target[1]]]), GREEDY)[0]
    assert all(c == GREEDY and not c.sampling and c.num_beams == 1 for c in text.configs)

    table = out.table(("p", "q"), [f"sentence {r}" for r in out.rows])
    first = table[0]
    assert first["row"] == out.rows[0] and first["sentence"] == f"sentence {out.rows[0]}"
    names = {(0, 0): "none", (1, 0): "p", (0, 1): "q", (1, 1): "p+q"}
    assert first["original"] == names[tuple(out.original[0].tolist())]
    assert first["target"] == names[tuple(out.target[0].tolist())]
    assert first["decoded endpoint"] == out.end[0]
    with pytest.raises(ValueError, match="3 sentences for 10"):
        out.table(("p", "q"), ["a", "b", "c"])


def test_decode_endpoints_rows_and_errors():
    probe = _probe(n=12)
    flow = PrototypeAdapter()
    every = decode_endpoints(
        flow, RoundingText(), probe.embeddings, probe.attributes, FlowConfig(2, 0.1, ("keep", "keep")), 50
    )
    assert every.rows.tolist() == list(range(12))
    assert decode_rows(1000, 8, seed=3).tolist() == decode_rows(1000, 8, seed=3).tolist()
    assert decode_rows(1000, 8, seed=3).tolist() != decode_rows(1000, 8, seed=4).tolist()
    with pytest.raises(ValueError, match="at least one row"):
        decode_rows(12, 0)
    with pytest.raises(ProbeError, match="8-d embeddings but the text model reads 384-d"):
        decode_endpoints(
            flow,
            RoundingText(384),
            probe.embeddings,
            probe.attributes,
            FlowConfig(2, 0.1, ("flip", "keep")),
            4,
        )

    class Silent(RoundingText):
        def spec(self):
            return AdapterSpec("codebook", latent_dim=8)

    with pytest.raises(AdapterError, match="cannot generate text"):
        check_decoder(flow, Silent())


class Drifting(PrototypeAdapter):
    """Moves every point a fixed fraction toward its prototype (no collapse), with training defaults."""

    def flow_defaults(self):
        return 3, 0.5

    def flow(self, z, y_target, steps, alpha):
        traj = super().flow(z, y_target, steps, alpha)
        return unit_rows((0.8 * traj[0] + 0.2 * traj).reshape(-1, self.d)).reshape(traj.shape)


def test_compare_flows_align_both_frames_on_the_inputs(tmp_path):
    probe = _probe(n=80)
    context = _context(probe.embeddings, probe.attributes, tmp_path, seed=1)
    view_a, view_b = compare_flows(
        (Drifting(), PrototypeAdapter()),
        ("a", "b"),
        probe,
        context,
        config=FlowConfig(3, 0.5, sample_size=30),
    )
    assert np.array_equal(view_a.target, probe_targets(probe.attributes))
    assert np.array_equal(view_b.target, view_a.target)
    assert np.array_equal(view_a.sample, view_b.sample) and len(view_a.sample) == 30
    # A's steps (3) are used for both; each has its own joint frame, both aligned on the input frame.
    assert view_a.paths.shape == view_b.paths.shape == (4, 30, 2)
    span = np.ptp(context.input_frame.coords, axis=0).max()
    for view in (view_a, view_b):
        assert np.linalg.norm(view.background - context.input_frame.coords, axis=1).mean() < 0.5 * span
    assert view_b.metrics["distinct_endpoints"] == 4
    assert view_a.metrics["distinct_endpoints"] == 80
    # A is drawn at its own steps and the diagnosis's targets: its home frame itself. B (trained with
    # other steps) starts from its home frame; that frame is kept only when placing B's endpoints into
    # its home frame was not trustworthy enough.
    assert view_a.frame_note == ""
    placed = view_b.frame_note == PLACED_NOTE
    assert len(list(tmp_path.glob("*.npz"))) == 3 - placed
    sample = path_sample(view_b, ("p", "q"), [f"s{i}" for i in view_b.sample])
    assert list(sample.rows) == list(view_b.sample) and sample.group_names[3] == "p+q"
    flipped = compare_flows(
        (Drifting(), Drifting()),
        ("a", "a"),
        probe,
        context,
        target=1 - probe.attributes,
        config=FlowConfig(2, 0.1),
    )
    assert flipped[0].paths.shape[0] == 3
    assert np.array_equal(flipped[0].target, 1 - probe.attributes)
    with pytest.raises(ProbeError, match="dimension 8 but the model expects 5"):
        compare_flows((Drifting(), PrototypeAdapter(d=5)), ("a", "b"), probe, context)
    with pytest.raises(ValueError, match="2 adapters for 1"):
        compare_flows((Drifting(), Drifting()), ("a",), probe, context)


def test_decode_selected_rows():
    probe, text = _probe(n=20), RoundingText()
    out = decode_selected(
        PrototypeAdapter(),
        text,
        probe.embeddings,
        probe.attributes,
        FlowConfig(3, 0.1, ("flip", "keep")),
        np.array([4, 9]),
    )
    assert out.rows.tolist() == [4, 9] and len(out.end) == 2
    assert out.start == tuple(text.generate(probe.embeddings[[4, 9]], GREEDY))
    with pytest.raises(ProbeError, match="rows to decode"):
        decode_selected(
            PrototypeAdapter(),
            text,
            probe.embeddings,
            probe.attributes,
            FlowConfig(1, 0.1, ("keep", "keep")),
            [20],
        )
