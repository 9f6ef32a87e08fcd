import numpy as np
import pytest
import torch
from torch import nn

from core import DEMO_DIR
from core.adapters.posterior import FcMuVAEAdapter, MuLogvarVAEAdapter
from core.adapters.registry import build_adapter, open_adapter
from core.demo.codebook import digits_split
from core.io.checkpoints import load_checkpoint
from core.io.errors import AdapterError, ProbeError
from core.io.probe import load_probe
from tests.adapters.cases_posterior import FEATURES, LATENT, fc_mu_case, lightning_hydra_case, small_vae


def _reference(model, x):
    model.eval()
    with torch.no_grad():
        mu, logvar = model.encode(torch.from_numpy(x))
        return mu.numpy(), logvar.numpy(), model.decode(mu).numpy()


def _x(n=7):
    return np.random.default_rng(3).normal(size=(n, FEATURES)).astype(np.float32)


def test_fc_mu_plain_checkpoint_round_trips(tmp_path):
    adapter = open_adapter(str(fc_mu_case(tmp_path)))
    assert isinstance(adapter, FcMuVAEAdapter)
    spec = adapter.spec()
    assert (spec.family, spec.latent_dim, spec.supports_posterior, spec.supports_decode) == (
        "posterior",
        LATENT,
        True,
        True,
    )
    mu, logvar = adapter.posterior(_x())
    assert mu.dtype == np.float32 and mu.shape == logvar.shape == (7, LATENT)
    ref_mu, ref_logvar, ref_recon = _reference(small_vae(("fc_mu", "fc_var")), _x())
    np.testing.assert_allclose(mu, ref_mu, atol=1e-6)
    np.testing.assert_allclose(logvar, ref_logvar, atol=1e-6)
    recon = adapter.decode(mu)
    assert recon.dtype == np.float32 and recon.shape == (7, FEATURES)
    np.testing.assert_allclose(recon, ref_recon, atol=1e-6)


def test_lightning_checkpoint_takes_its_activation_from_the_hydra_config(tmp_path):
    path = lightning_hydra_case(tmp_path)
    loaded = load_checkpoint(path)
    assert loaded.format == "lightning" and loaded.config_source.endswith(".hydra/config.yaml")
    adapter = build_adapter(loaded)
    assert isinstance(adapter, MuLogvarVAEAdapter)
    assert adapter.activation == "elu from config" and adapter.free_bits == 0.25
    mu, _ = adapter.posterior(_x())
    elu_mu, _, elu_recon = _reference(small_vae(("mu", "logvar"), activation="elu"), _x())
    relu_mu, _, _ = _reference(small_vae(("mu", "logvar"), activation="relu"), _x())
    np.testing.assert_allclose(mu, elu_mu, atol=1e-6)
    assert np.abs(mu - relu_mu).max() > 1e-3, "the ELU and ReLU models should differ on this input"
    np.testing.assert_allclose(adapter.decode(mu), elu_recon, atol=1e-6)


def test_config_that_disagrees_with_the_weights_is_an_adapter_error(tmp_path):
    path = lightning_hydra_case(tmp_path)
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text("model:\n  latent_dim: 16\n  activation: elu\n")
    with pytest.raises(AdapterError, match="config says 16 latents but the weights have 4"):
        open_adapter(str(path))


def test_unknown_activation_in_config_is_an_adapter_error(tmp_path):
    path = lightning_hydra_case(tmp_path)
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text("model:\n  activation: wiggle\n")
    with pytest.raises(AdapterError, match="unknown activation 'wiggle'"):
        open_adapter(str(path))


def _save_state(tmp_path, state):
    path = tmp_path / "bad.pt"
    torch.save({"model_state_dict": state}, path)
    return str(path)


def test_heads_not_chaining_into_the_decoder_are_read_alone_not_rebuilt(tmp_path):
    """A decoder that takes more than z (a CVAE's [z, label]) cannot be rebuilt as an MLP VAE: the heads
    are read from the weights alone instead of the file being refused."""
    state = small_vae(("fc_mu", "fc_var")).state_dict()
    state["fc_mu.weight"] = torch.zeros(16, 10)
    state["fc_mu.bias"] = torch.zeros(16)
    state["fc_var.weight"] = torch.zeros(16, 10)
    state["fc_var.bias"] = torch.zeros(16)
    adapter = open_adapter(_save_state(tmp_path, state))
    assert adapter.name == "vae_heads" and not adapter.spec().supports_posterior


def test_heads_of_different_sizes_are_a_clear_error(tmp_path):
    state = small_vae(("fc_mu", "fc_var")).state_dict()
    state["fc_var.weight"] = torch.zeros(3, 10)
    state["fc_var.bias"] = torch.zeros(3)
    with pytest.raises(AdapterError, match="fc_mu outputs 4 latents but fc_var outputs 3"):
        open_adapter(_save_state(tmp_path, state))


def test_convolutional_vae_opens_weight_only_and_refuses_an_mlp_rebuild(tmp_path):
    state = small_vae(("fc_mu", "fc_var")).state_dict()
    state["encoder.0.weight"] = torch.zeros(12, 1, 3, 3)
    path = _save_state(tmp_path, state)
    adapter = open_adapter(path)
    assert adapter.name == "vae_heads" and not adapter.spec().supports_posterior
    assert "--builder" in adapter.spec().description
    np.testing.assert_array_equal(adapter.head_weights().mu_weight, state["fc_mu.weight"].numpy())
    with pytest.raises(AdapterError, match="only MLP"):
        open_adapter(path, "vae_fc_mu")


class _NamedVAE(nn.Module):
    """A layout with named layers, BatchNorm, `decoder_input` and LeakyReLU (not the reference class)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.encoder = nn.Sequential(nn.Linear(FEATURES, 12), nn.BatchNorm1d(12), nn.LeakyReLU())
        self.fc_mu, self.fc_var = nn.Linear(12, LATENT), nn.Linear(12, LATENT)
        self.decoder_input = nn.Linear(LATENT, 10)
        self.decoder = nn.Sequential(nn.LeakyReLU(), nn.Linear(10, 9), nn.LeakyReLU(), nn.Linear(9, FEATURES))
        with torch.no_grad():
            self.encoder[1].running_mean.uniform_(-0.5, 0.5)
            self.encoder[1].running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        h = self.encoder(x)
        mu = self.fc_mu(h)
        return mu, self.fc_var(h), self.decoder(self.decoder_input(mu))


def test_other_layouts_rebuild_from_shapes_and_config(tmp_path):
    model = _NamedVAE().eval()
    path = tmp_path / "named.pt"
    torch.save({"state_dict": model.state_dict(), "hparams": {"act": "leaky_relu"}}, path)
    adapter = open_adapter(str(path))
    x = _x()
    with torch.no_grad():
        mu, logvar, recon = (t.numpy() for t in model(torch.from_numpy(x)))
    got_mu, got_logvar = adapter.posterior(x)
    np.testing.assert_allclose(got_mu, mu, atol=1e-5)
    np.testing.assert_allclose(got_logvar, logvar, atol=1e-5)
    np.testing.assert_allclose(adapter.decode(got_mu), recon, atol=1e-5)


def test_inputs_are_validated(tmp_path):
    adapter = open_adapter(str(fc_mu_case(tmp_path)))
    with pytest.raises(ProbeError, match="x has 10 values per row but vae_fc_mu expects 16"):
        adapter.posterior(np.zeros((3, 10), np.float32))
    with pytest.raises(ProbeError, match="z has 3 values per row but vae_fc_mu expects 4"):
        adapter.decode(np.zeros((2, 3), np.float32))
    with pytest.raises(ProbeError, match="finite"):
        adapter.posterior(np.full((2, FEATURES), np.nan, np.float32))
    with pytest.raises(ProbeError, match=r"must be \[N, 16\]"):
        adapter.posterior(np.zeros(FEATURES, np.float32))
    images = _x(5).reshape(5, 4, 4)
    np.testing.assert_array_equal(adapter.posterior(images)[0], adapter.posterior(images.reshape(5, -1))[0])
    empty_mu, _ = adapter.posterior(np.zeros((0, FEATURES), np.float32))
    assert empty_mu.shape == (0, LATENT)


def test_head_weights_are_copies(tmp_path):
    adapter = open_adapter(str(fc_mu_case(tmp_path)))
    weights = adapter.head_weights()
    assert weights.mu_weight.shape == (LATENT, 10) and weights.logvar_bias.shape == (LATENT,)
    weights.mu_weight[:] = 0
    assert np.abs(adapter.head_weights().mu_weight).sum() > 0


@pytest.mark.parametrize(
    ("run", "adapter_name", "fmt"),
    [("collapsed", "vae_fc_mu", "torch"), ("fixed", "vae_mu_logvar", "lightning")],
)
def test_shipped_demo_checkpoints_open(run, adapter_name, fmt):
    path = DEMO_DIR / "posterior" / run / "vae_epoch_060.pt"
    loaded = load_checkpoint(path)
    assert loaded.format == fmt and loaded.epoch == 60
    adapter = build_adapter(loaded)
    assert adapter.name == adapter_name and adapter.spec().latent_dim == 8


def test_denormalise_undoes_the_recorded_channel_wise_normalisation():
    pixels = digits_split()[2]
    fixed = open_adapter(str(DEMO_DIR / "posterior" / "fixed" / "vae_epoch_060.pt"))
    standardised = load_probe(DEMO_DIR / "posterior" / "fixed" / "probe.npz").x
    assert np.abs(standardised - pixels).max() > 1.0
    np.testing.assert_allclose(fixed.denormalise(standardised), pixels, atol=1e-5)
    collapsed = open_adapter(str(DEMO_DIR / "posterior" / "collapsed" / "vae_epoch_060.pt"))
    assert collapsed.feature_scale is None
    np.testing.assert_array_equal(collapsed.denormalise(pixels), pixels)


def test_missing_activation_is_said_to_be_assumed(tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"model_state_dict": small_vae(("fc_mu", "fc_var")).state_dict()}, path)
    assert "relu assumed: no activation in config" in open_adapter(str(path)).spec().description
