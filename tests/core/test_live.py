"""adapter_from_module: a live nn.Module's parts found by role and run with hooks, read-only and cheap."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from core.adapters.base import AdapterSpec, CheckpointAdapter
from core.adapters.live import (
    BUILDER_ENV,
    adapter_from_module,
    builder_adapter,
    builder_from_env,
    evaluating,
    nearest_codes,
)
from core.cli import main
from core.diagnosis import diagnose
from core.io.errors import AdapterError, ProbeError
from core.io.probe import ProbeData
from core.models.flow import VectorFieldNetwork, flow
from tests.corpus import layouts


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _read_only(module: nn.Module, call) -> object:
    """Run `call()`; assert weights, training flags, hooks and the RNG are as they were."""
    module.train()
    next(module.children()).eval()  # mixed flags must come back as they were
    flags = [m.training for m in module.modules()]
    before, rng = _snapshot(module), torch.random.get_rng_state()
    result = call()
    assert [m.training for m in module.modules()] == flags
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert torch.equal(rng, torch.random.get_rng_state())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())
    return result


def test_codebook_indices_are_the_nearest_codes_of_the_quantizer_input():
    model = layouts.taming(True)
    adapter = adapter_from_module(model)
    assert adapter.name == "live_codebook" and adapter.spec().supports_code_indices
    x = layouts.images(3, 10)
    codes = _read_only(model, lambda: adapter.code_indices(x))
    with torch.no_grad():
        z = model.encode_to_prequant(torch.from_numpy(x)).permute(0, 2, 3, 1).reshape(-1, layouts.D)
        expected = torch.cdist(z, model.quantize.embedding.weight).argmin(1).view(10, -1).numpy()
    assert codes.dtype == np.int64 and codes.shape == (10, 16)
    np.testing.assert_array_equal(codes, expected)


def test_multi_head_codebooks_give_indices_per_head_and_ema_usage():
    model = layouts.lucid_heads(True)
    adapter = adapter_from_module(model)
    spec = adapter.spec()
    assert (spec.codebook_count, spec.codebook_size, spec.supports_code_usage) == (2, layouts.K, True)
    x = np.random.default_rng(0).normal(size=(6, layouts.FEATURES)).astype(np.float32)
    heads = _read_only(model, lambda: adapter.code_indices_per_head(x))
    assert len(heads) == 2 and all(h.shape == (6, 4) for h in heads)
    with torch.no_grad():
        _, idx, _ = model.vq(model.encoder(torch.from_numpy(x)).view(6, 4, -1))
    np.testing.assert_array_equal(heads[1], idx[..., 1].numpy())
    np.testing.assert_allclose(adapter.code_usage(), model.vq._codebook.cluster_size.numpy())
    (finding,) = diagnose(adapter, ProbeData(x=x)).findings
    assert finding.metrics["codebook_heads"] == 2 and "tokens of probe x" in finding.summary


def test_gumbel_codes_come_from_the_logits_argmax():
    model = layouts.dalle(True)
    codes = adapter_from_module(model).code_indices(layouts.images(0, 5))
    assert codes.shape == (5, 16) and (codes == 0).all()


def test_posterior_reads_the_heads_and_decodes_through_the_module():
    model = layouts.examples_vae(False)
    adapter = adapter_from_module(model)
    x, _ = layouts.factor_data(n=20)
    mu, logvar = _read_only(model, lambda: adapter.posterior(x))
    with torch.no_grad():
        want_mu, want_lv = model.encode(torch.from_numpy(x))
    np.testing.assert_allclose(mu, want_mu.numpy(), atol=1e-5)
    np.testing.assert_allclose(logvar, want_lv.numpy(), atol=1e-5)
    assert adapter.spec().supports_decode
    np.testing.assert_allclose(adapter.decode(mu), x, atol=1e-3)
    assert adapter.reconstruct(x).shape == (20, layouts.FEATURES)
    np.testing.assert_array_equal(adapter.head_weights().mu_weight, model.fc21.weight.detach().numpy())


def test_a_two_z_head_is_split_in_halves_and_conv_heads_give_a_row_per_position():
    model = layouts.yann(False)
    mu, logvar = adapter_from_module(model).posterior(layouts.images(0, 4))
    with torch.no_grad():
        want_mu, want_lv = model.encoder(torch.from_numpy(layouts.images(0, 4)))
    np.testing.assert_allclose(mu, want_mu.numpy(), atol=1e-6)
    np.testing.assert_allclose(logvar, want_lv.numpy(), atol=1e-6)
    kl = adapter_from_module(layouts.latent_kl(False), family="posterior")
    assert kl.heads.kind == "conv"


def test_flow_calls_a_two_input_module_or_the_field_mlp():
    torch.manual_seed(0)
    field = VectorFieldNetwork(12, 3, 8)
    adapter = adapter_from_module(
        field, config={"attribute_names": ["a", "b", "c"], "steps": 4, "alpha": 0.2}
    )
    probe = layouts.field_probe(n=9)
    z, y = probe["embeddings"], probe["attributes"].astype(np.float32)
    path = _read_only(field, lambda: adapter.flow(z, y, 4, 0.2))
    with torch.no_grad():
        want = flow(field, torch.from_numpy(z), torch.from_numpy(y), 4, 0.2).numpy()
    np.testing.assert_allclose(path, want, atol=1e-6)
    assert adapter.flow_defaults() == (4, 0.2) and adapter.spec().attribute_names == ("a", "b", "c")
    mlp = layouts.cfm(False)
    one_input = adapter_from_module(mlp)
    assert one_input.flow(z, y, 2, 0.1).shape == (3, 9, 12)
    with pytest.raises(ProbeError, match="embedding dim"):
        one_input.flow(z[:, :5], y, 2, 0.1)


def test_live_adapters_keep_the_adapter_contract():
    for module in (layouts.taming(True), layouts.examples_vae(True), layouts.cfm(True)):
        adapter = adapter_from_module(module)
        spec = adapter.spec()
        assert isinstance(adapter, CheckpointAdapter) and isinstance(spec, AdapterSpec)
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.family = "other"  # type: ignore[misc]
        with pytest.raises(NotImplementedError, match=adapter.name):
            adapter.generate(np.zeros((1, 4), np.float32), None)
        assert not type(adapter).detect({}, {})
        with pytest.raises(AdapterError, match=r"built from an nn\.Module"):
            type(adapter).from_loaded(None)


def test_no_grad_is_tracked_and_other_dtypes_work():
    model = layouts.examples_vae(False).double()
    adapter = adapter_from_module(model)
    mu, _ = adapter.posterior(layouts.factor_data(n=5)[0])
    assert mu.dtype == np.float32 and model.fc1.weight.dtype == torch.float64
    with evaluating(model):
        assert not torch.is_grad_enabled() and not model.training
    assert model.training


def test_modules_without_known_parts_and_bad_inputs_are_clear_errors():
    with pytest.raises(AdapterError, match="no known part; roles found: nothing"):
        adapter_from_module(nn.Sequential(nn.Linear(3, 3)))
    with pytest.raises(AdapterError, match=r"expected an nn\.Module"):
        adapter_from_module("model")  # type: ignore[arg-type]
    with pytest.raises(AdapterError, match="has no posterior heads"):
        adapter_from_module(layouts.taming(True), family="posterior")
    adapter = adapter_from_module(layouts.taming(True))
    with pytest.raises(ProbeError, match="cannot run probe x"):
        adapter.code_indices(np.zeros((2, 5), np.float32))
    with pytest.raises(ProbeError, match="finite"):
        adapter.code_indices(np.full((2, 1, 8, 8), np.nan, np.float32))


def test_nearest_codes_matches_a_brute_force_argmin():
    rng = np.random.default_rng(0)
    v, book = torch.from_numpy(rng.normal(size=(50, 3))), torch.from_numpy(rng.normal(size=(7, 3)))
    want = ((v[:, None] - book[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(nearest_codes(v, book), want)


def test_builders_may_return_a_module_an_adapter_or_fail_in_one_line(tmp_path, capsys, monkeypatch):
    model = layouts.taming(True)
    assert builder_adapter(lambda loaded: model)(_Loaded()).name == "live_codebook"
    ready = adapter_from_module(model)
    assert builder_adapter(lambda loaded: ready)(_Loaded()) is ready
    with pytest.raises(AdapterError, match="returned a int"):
        builder_adapter(lambda loaded: 3)(_Loaded())
    with pytest.raises(AdapterError, match="builder failed: KeyError"):
        builder_adapter(lambda loaded: {}["missing"])(_Loaded())
    path = layouts.bare("m.pt")(model, tmp_path)
    assert main(["diagnose", str(path), "--builder", "tests.corpus.layouts:build_dalle"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: builder tests.corpus.layouts:build_dalle failed")
        and len(err.splitlines()) == 1
    )
    monkeypatch.setenv(BUILDER_ENV, "tests.corpus.layouts:build_taming")
    assert builder_from_env(trust=False) is None
    assert builder_from_env(trust=True) is not None


class _Loaded:
    def __init__(self) -> None:
        self.config: dict = {}
