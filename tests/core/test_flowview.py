import numpy as np
import pytest
import torch

from core.adapters.base import AdapterSpec, CheckpointAdapter
from core.errors import AdapterError, ProbeError
from core.flowview import check_flow_inputs, field_at_inputs, flow_view, target_attributes
from core.probe import ProbeData
from core.projection import Projection, unit_rows


class PrototypeAdapter(CheckpointAdapter):
    """Moves every point straight onto a fixed prototype of its packed target (total prototype collapse)."""

    name = "test-prototype"
    family = "flow"

    def __init__(self, d: int = 8, a: int = 2) -> None:
        self.prototypes = unit_rows(np.random.default_rng(9).normal(size=(2**a, d)))
        self.d, self.a = d, a

    @classmethod
    def detect(cls, shapes, config):
        return False

    @classmethod
    def from_loaded(cls, loaded):
        raise NotImplementedError

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


def test_flow_view_metrics_and_sample():
    rng = np.random.default_rng(0)
    embeddings = unit_rows(rng.normal(size=(200, 8)))
    attributes = rng.integers(0, 2, size=(200, 2)).astype(np.int8)
    frame = Projection(embeddings, rng.normal(size=(200, 2)).astype(np.float32))
    view = flow_view(PrototypeAdapter(), embeddings, attributes, frame, ("flip", "keep"), 5, 0.1, 50)
    assert view.total == 200 and len(view.sample) == 50
    assert view.paths.shape == (6, 50, 2)
    assert np.allclose(view.paths[0], frame.coords[view.sample])
    assert np.array_equal(view.target[:, 0], 1 - attributes[:, 0])
    assert view.metrics["distinct_endpoints"] == 4
    assert view.metrics["spread_ratio"] == pytest.approx(0.0, abs=1e-4)
    assert view.far_endpoints == 1.0  # every endpoint sits on a prototype far from all inputs
    assert view.per_step.shape == (5,) and view.per_step.min() > 0
    still = flow_view(PrototypeAdapter(), embeddings, attributes, frame, ("flip", "keep"), 0, 0.1, 50)
    assert still.far_endpoints == 0.0 and still.per_step.shape == (0,)
    # Flipping one attribute for everyone relabels groups one-to-one: endpoints still group by original.
    assert view.metrics["silhouette_original"] == pytest.approx(1.0, abs=1e-5)
    merged = flow_view(PrototypeAdapter(), embeddings, attributes, frame, ("set 1", "keep"), 5, 0.1, 500)
    assert len(merged.sample) == 200
    assert merged.metrics["distinct_endpoints"] == 2
    assert merged.metrics["n_clusters"] == 2
    assert merged.metrics["silhouette_target"] == pytest.approx(1.0, abs=1e-5)


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
