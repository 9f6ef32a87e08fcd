import numpy as np
import pytest
import torch

from core.adapters.flow import FlowAttrMLPAdapter, FlowNetworkAdapter, attribute_names, flow_settings
from core.adapters.registry import build_adapter, detect
from core.io.checkpoints import load_checkpoint
from core.io.errors import AdapterError, ProbeError
from core.metrics.flow.field import field_stats
from core.models.flow import AttributeMLPField, VectorFieldNetwork, flow
from tests.adapters.cases_flow import NAMES, A, D, H, attr_mlp_ddp_case, network_case


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _inputs(n: int = 7, d: int = D, a: int = A, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return _unit(rng.normal(size=(n, d))), rng.integers(0, 2, size=(n, a)).astype(np.float32)


def test_learning_to_flow_layout_keys_and_shapes():
    shapes = {k: tuple(v.shape) for k, v in VectorFieldNetwork(512, 5, 256).state_dict().items()}
    assert shapes == {
        "network.0.weight": (256, 517),
        "network.0.bias": (256,),
        "network.1.weight": (256,),
        "network.1.bias": (256,),
        "network.3.weight": (256, 256),
        "network.3.bias": (256,),
        "network.4.weight": (256,),
        "network.4.bias": (256,),
        "network.6.weight": (256, 256),
        "network.6.bias": (256,),
        "network.8.weight": (512, 256),
        "network.8.bias": (512,),
    }
    layers = VectorFieldNetwork(8, 2, 4).network
    assert isinstance(layers[1], torch.nn.LayerNorm) and isinstance(layers[4], torch.nn.LayerNorm)
    assert [type(layers[i]) for i in (2, 5, 7)] == [torch.nn.ReLU] * 3


def test_sibling_layout_keys_and_shapes():
    shapes = {k: tuple(v.shape) for k, v in AttributeMLPField(512, 5, 256).state_dict().items()}
    assert shapes == {
        "attr_mlp.0.weight": (256, 5),
        "attr_mlp.0.bias": (256,),
        "mlp.0.weight": (256, 768),
        "mlp.0.bias": (256,),
        "mlp.2.weight": (256, 256),
        "mlp.2.bias": (256,),
        "mlp.4.weight": (512, 256),
        "mlp.4.bias": (512,),
        "scale": (),
    }


def test_flow_is_euler_on_the_sphere():
    torch.manual_seed(0)
    field = VectorFieldNetwork(D, A, H)
    z, y = (torch.from_numpy(a) for a in _inputs())
    with torch.no_grad():
        traj = flow(field, 3 * z, y, 4, 0.3)
        expected = torch.nn.functional.normalize(z + 0.3 * field(z, y), dim=-1)
    assert traj.shape == (5, 7, D)
    torch.testing.assert_close(traj[0], z)
    torch.testing.assert_close(traj[1], expected)
    torch.testing.assert_close(traj.norm(dim=-1), torch.ones(5, 7))


def test_flow_into_a_strided_output_equals_the_stacked_path():
    torch.manual_seed(0)
    field = VectorFieldNetwork(D, A, H)
    z, y = (torch.from_numpy(a) for a in _inputs())
    whole = np.full((5, 9, D), np.nan, dtype=np.float32)
    into = torch.from_numpy(whole[:, 1:8])  # rows 1..7 of a larger array: strided in the step axis
    with torch.inference_mode():
        stacked = flow(field, 3 * z, y, 4, 0.3)
        written = flow(field, 3 * z, y, 4, 0.3, out=into)
    assert written is into
    np.testing.assert_array_equal(whole[:, 1:8], stacked.numpy())
    assert np.isnan(whole[:, [0, 8]]).all()


def test_flow_alpha_zero_and_zero_steps_do_not_move():
    torch.manual_seed(0)
    field = VectorFieldNetwork(D, A, H)
    z, y = (torch.from_numpy(a) for a in _inputs())
    with torch.no_grad():
        still = flow(field, z, y, 6, 0.0)
        none = flow(field, z, y, 0, 0.5)
    torch.testing.assert_close(still, z.expand(7, -1, -1))
    assert none.shape == (1, 7, D)


@pytest.fixture
def network_adapter(tmp_path) -> FlowNetworkAdapter:
    return build_adapter(load_checkpoint(network_case(tmp_path)))


@pytest.fixture
def attr_adapter(tmp_path) -> FlowAttrMLPAdapter:
    return build_adapter(load_checkpoint(attr_mlp_ddp_case(tmp_path)))


def test_detection_and_dims_from_shapes(network_adapter, attr_adapter):
    assert isinstance(network_adapter, FlowNetworkAdapter)
    assert isinstance(attr_adapter, FlowAttrMLPAdapter)
    for adapter in (network_adapter, attr_adapter):
        spec = adapter.spec()
        assert (spec.family, spec.latent_dim, spec.supports_flow) == ("flow", D, True)
    assert network_adapter.spec().attribute_names == tuple(NAMES)
    assert attr_adapter.spec().attribute_names == ("attr_0", "attr_1", "attr_2")


def test_detection_rejects_near_misses():
    shapes = {k: tuple(v.shape) for k, v in VectorFieldNetwork(D, A, H).state_dict().items()}
    assert detect(shapes, {}) == "fclf_network"
    assert detect({k: v for k, v in shapes.items() if not k.startswith("network.8")}, {}) is None
    assert detect({**shapes, "network.8.weight": (D, H + 1)}, {}) is None
    sibling = {k: tuple(v.shape) for k, v in AttributeMLPField(D, A, H).state_dict().items()}
    assert detect(sibling, {}) == "fclf_attr_mlp"
    assert detect({**sibling, "scale": (3,)}, {}) is None
    assert detect({**sibling, "mlp.0.weight": (H, D + H + 1)}, {}) is None


def test_rebuilt_models_match_the_saved_weights(tmp_path):
    path = network_case(tmp_path)
    torch.manual_seed(0)
    original = VectorFieldNetwork(D, A, H)
    z, y = _inputs()
    with torch.no_grad():
        expected = flow(original, torch.from_numpy(z), torch.from_numpy(y), 3, 0.2).numpy()
    np.testing.assert_allclose(build_adapter(load_checkpoint(path)).flow(z, y, 3, 0.2), expected, atol=1e-6)


def test_sibling_scale_multiplies_the_field(tmp_path):
    torch.manual_seed(2)
    model = AttributeMLPField(D, A, H)
    z, y = (torch.from_numpy(a) for a in _inputs())
    with torch.no_grad():
        base = model(z, y)
        model.scale.fill_(-2.5)
        torch.testing.assert_close(model(z, y), -2.5 * base)


def test_flow_output_contract(network_adapter):
    z, y = _inputs()
    out = network_adapter.flow(z * 4, y, 5, 0.2)
    assert out.dtype == np.float32 and out.shape == (6, 7, D)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[0], z, atol=1e-6)
    np.testing.assert_array_equal(network_adapter.flow(z, y, 0, 0.2), z[None])
    np.testing.assert_allclose(network_adapter.flow(z, y, 5, 0.0), np.broadcast_to(z, (6, 7, D)), atol=1e-6)


@pytest.mark.parametrize(
    ("z_shape", "y_shape", "message"),
    [
        ((4, 512), (4, A), f"embedding dim 512 does not match the model's {D}"),
        ((4, D), (4, A + 2), rf"target attributes must be \[N, {A}\]"),
        ((4, D), (5, A), "4 embeddings but 5 target attribute rows"),
        ((D,), (1, A), r"embeddings must be \[N, D\]"),
    ],
)
def test_flow_shape_errors(network_adapter, z_shape, y_shape, message):
    with pytest.raises(ProbeError, match=message):
        network_adapter.flow(np.ones(z_shape, np.float32), np.zeros(y_shape, np.float32), 2, 0.1)


def test_flow_value_errors(attr_adapter):
    z, y = _inputs()
    z[2, 3] = np.nan
    with pytest.raises(ProbeError, match="1 of 7 embeddings contain NaN"):
        attr_adapter.flow(z, y, 2, 0.1)
    with pytest.raises(ProbeError, match="all zeros"):
        attr_adapter.flow(np.zeros((3, D), np.float32), y[:3], 2, 0.1)
    with pytest.raises(ProbeError, match="steps"):
        attr_adapter.flow(*_inputs(), -1, 0.1)


def test_identical_inputs_flow_identically(attr_adapter):
    z = np.repeat(_inputs()[0][:1], 5, axis=0)
    out = attr_adapter.flow(z, np.ones((5, A), np.float32), 3, 0.5)
    np.testing.assert_allclose(out[-1], np.repeat(out[-1][:1], 5, axis=0), atol=1e-6)


def test_names_and_flow_settings_from_config():
    assert attribute_names({"data": {"attributes": ["a", "b"]}}, 2) == ("a", "b")
    assert attribute_names({"attribute_names": ["a", "b"]}, 3) == ("attr_0", "attr_1", "attr_2")
    assert flow_settings({"steps": 20, "alpha": 0.05}) == (20, 0.05)
    assert flow_settings({"steps": "many"}) == (10, 0.1)
    assert flow_settings({"steps": 0}) == (10, 0.1)


def test_flow_defaults_come_from_the_checkpoint(tmp_path):
    model = VectorFieldNetwork(D, A, H)
    path = tmp_path / "fclf_best.pt"
    torch.save({"model_state_dict": model.state_dict(), "config": {"steps": 7, "alpha": 0.3}}, path)
    assert build_adapter(load_checkpoint(path)).flow_defaults() == (7, 0.3)


def test_nan_weights_are_refused(tmp_path):
    sd = VectorFieldNetwork(D, A, H).state_dict()
    sd["network.3.weight"][0, 0] = float("nan")
    path = tmp_path / "fclf_epoch_1.pt"
    torch.save({"model_state_dict": sd}, path)
    with pytest.raises(AdapterError, match="NaN"):
        build_adapter(load_checkpoint(path))


def test_field_fn_feeds_divergence(network_adapter):
    z, y = _inputs()
    field = network_adapter.field_fn()
    yt = torch.from_numpy(y)
    with torch.no_grad():
        v = field(torch.from_numpy(z), yt)
    assert v.shape == (7, D)
    stats = field_stats(lambda x: field(x, yt), z, probes=4)
    assert np.isfinite(stats.divergence) and stats.curl > 0
    assert stats == field_stats(lambda x: field(x, yt), z, probes=4)
