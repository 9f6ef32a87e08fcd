"""Round-3 corpus: the user's own class and data, text models, learned priors, conv latents.

Module definitions read (names and shapes only; the modules in real3.py are written here):
- pytorch/tutorials: beginner_source/translation_transformer.py (Seq2SeqTransformer: `transformer`,
  `generator` Linear(emb, tgt_vocab), `src_tok_emb.embedding` / `tgt_tok_emb.embedding` nn.Embedding
  [vocab, emb], `positional_encoding.pos_embedding`)
- timbmg/VAE-CVAE-MNIST: models.py (VAE(conditional=True): forward(x, c), `encoder.MLP`,
  `linear_means`, `linear_log_var`, a decoder taking [z, label])
- timbmg/Sentence-VAE: model.py (SentenceVAE: `embedding`, `encoder_rnn` / `decoder_rnn` GRUs,
  `hidden2mean`, `hidden2logv`, `latent2hidden`, `outputs2vocab`; forward(input_sequence, length) returns
  log-probabilities [N, T, V], mean, logv, z)
- yjlolo/vae-audio: base/base_model.py (BaseGMVAE: `mu_lookup` / `logvar_lookup` nn.Embedding(n_class,
  latent_dim) tables of a learned mixture prior, each called with one component index)
- bentrevett/pytorch-seq2seq: 1 - Sequence to Sequence Learning with Neural Networks.ipynb (Encoder
  `embedding`, `rnn` LSTM; Decoder `embedding`, `rnn`, `fc_out`; Seq2Seq forward(src, trg))
- dome272/Diffusion-Models-pytorch: modules.py (UNet_conditional: sinusoidal time encoding plus
  `label_emb` nn.Embedding(num_classes, time_dim), forward(x, t, y))
- 1Konny/Beta-VAE: model.py (BetaVAE_H: the encoder's last Linear gives 2 x z_dim)
- atong01/conditional-flow-matching: torchcfm/models/models.py (an MLP velocity field on the state and
  time; the conditional variant here takes cat(t, one_hot(c), x), the layout issue 21 reports)
Layouts without a public definition read: the conv VAE with Conv2d mean / log-variance heads on a 4 x 4
map and the `fcm` / `fcs` twin heads are the shapes issue 21's report gives.

Each layout is diagnosed from the weights alone and through --builder with probe data; the table in
/work/notes/real.md lists the verdicts.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.adapters.live import adapter_from_module
from core.cli import main
from core.diagnosis import diagnose
from core.io.probe import ProbeData, load_probe
from core.metrics.posterior import kl_per_dim
from core.roles import roles_of
from tests.corpus import layouts, real3


def _cli(*args: str) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, (json.loads(out.getvalue()) if out.getvalue() else None), err.getvalue()


def _files(tmp_path: Path, module: torch.nn.Module, probe: dict[str, np.ndarray]) -> tuple[str, str]:
    torch.save(module.state_dict(), tmp_path / "model.pt")
    np.savez(tmp_path / "data.npz", **probe)
    return str(tmp_path / "model.pt"), str(tmp_path / "data.npz")


# (name, build, builder, probe, weight-only severities (collapsed, healthy), with builder + probe)
CASES = [
    ("cvae", real3.cvae, "build_cvae", real3.cvae_probe, ("collapse", "undefined"), ("collapse", "ok")),
    ("gmvae", real3.gmvae, "build_gmvae", lambda: {"x": real3.cvae_probe()["x"]}, ("collapse", "undefined"),
     ("collapse", "ok")),
    ("conv_vae", real3.conv_vae, "build_conv_vae", lambda: {"x": real3.conv_images()}, ("collapse", "undefined"),
     ("collapse", "ok")),
    ("short_twin", real3.short_twin, "build_short_twin", lambda: {"x": real3.cvae_probe()["x"]},
     ("collapse", "ok"), ("collapse", "ok")),
    ("sentence_vae", real3.sentence_vae, "build_sentence_vae", real3.sentence_probe, ("collapse", "undefined"),
     ("collapse", "ok")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("collapsed", [True, False], ids=["collapsed", "healthy"])
def test_weight_only_and_builder_verdicts_without_internal_errors(case, collapsed, tmp_path):
    _, build, builder, probe, weights, live = case
    model, data = _files(tmp_path, build(collapsed), probe())
    code, report, err = _cli("diagnose", model, "--json")
    assert err == "" and code in (0, 1, 3)
    assert report["findings"][0]["severity"] == weights[0 if collapsed else 1], report["findings"][0][
        "summary"
    ]
    code, report, err = _cli(
        "diagnose", model, "--builder", f"tests.corpus.real3:{builder}", "--data", data, "--json"
    )
    assert err == "" and code in (0, 1), err
    finding = report["findings"][0]
    assert report["adapter"] == "live_posterior"
    assert finding["severity"] == live[0 if collapsed else 1], finding["summary"]


def test_probe_fields_reach_the_forward_by_parameter_name(tmp_path):
    """timbmg's CVAE forward(x, c): the probe's `c` reaches it; without `c` the one line says what to add."""
    model, data = _files(tmp_path, real3.cvae(False), real3.cvae_probe())
    np.savez(tmp_path / "x_only.npz", x=real3.cvae_probe()["x"])
    code, _, err = _cli(
        "diagnose",
        model,
        "--builder",
        "tests.corpus.real3:build_cvae",
        "--data",
        str(tmp_path / "x_only.npz"),
    )
    assert code == 2 and "forward also takes 'c'" in err and "add an array named 'c'" in err
    assert len(err.strip().splitlines()) == 1
    probe = load_probe(data)
    assert set(probe.fields()) == {"c"} and probe.fields()["c"].dtype.kind == "i"
    code, report, err = _cli(
        "diagnose", model, "--builder", "tests.corpus.real3:build_cvae", "--data", data, "--json"
    )
    assert code == 0 and report["findings"][0]["metrics"]["active_units"] == real3.CVAE_Z


def test_a_head_changed_in_place_is_read_before_the_change():
    """`var = self.var(h).exp_()`: the hook keeps h, and z = mu + sqrt(var) eps shows h is a log-variance."""
    torch.manual_seed(0)
    model = real3.variance_vae(real3.InPlaceVarVAE)
    x = real3.cvae_probe()["x"]
    adapter = adapter_from_module(model)
    mu, logvar = adapter.posterior(x)
    with torch.no_grad():
        h = torch.relu(model.body(torch.from_numpy(x)))
        expected_mu, expected_logvar = model.mean(h).numpy(), model.var(h).numpy()
    np.testing.assert_allclose(mu, expected_mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logvar, expected_logvar, rtol=1e-5, atol=1e-5)
    assert adapter.reading.parameterisation == "logvar" and "exp(0.5 h)" in adapter.reading.note
    report = diagnose(adapter, ProbeData(x=x))
    kl = float(kl_per_dim(expected_mu, expected_logvar).sum())
    assert report.findings[0].metrics["kl_total"] == pytest.approx(kl, rel=1e-4)


def test_a_variance_head_is_read_as_the_forward_samples_with_it():
    """Heads named `mean` / `var`, but the forward samples z = mu + exp(h) eps: h is a log-std, so the
    log-variance is 2 h, not h as the name would say."""
    model = real3.variance_vae(real3.LogStdVAE)
    x = real3.cvae_probe()["x"]
    adapter = adapter_from_module(model)
    _mu, logvar = adapter.posterior(x)
    with torch.no_grad():
        raw = model.var(torch.relu(model.body(torch.from_numpy(x)))).numpy()
    assert adapter.reading.parameterisation == "log_std" and "mu + exp(h) eps" in adapter.reading.note
    np.testing.assert_allclose(logvar, 2 * raw, rtol=1e-5, atol=1e-5)
    summary = diagnose(adapter, ProbeData(x=x)).findings[0].summary
    assert "variance head read as the forward uses it: z = mu + exp(h) eps" in summary


def test_an_ambiguous_variance_reading_gives_both_kls():
    model = real3.short_twin(False)
    with torch.no_grad():
        model.fcs.weight.zero_()
        model.fcs.bias.zero_()  # h = 0: exp(h / 2) = exp(h) = 1, no forward can tell the readings apart
    summary = diagnose(adapter_from_module(model), ProbeData(x=real3.cvae_probe()["x"])).findings[0].summary
    assert "the variance head's reading is ambiguous" in summary
    assert "nats read as logvar" in summary and "nats read as log_std" in summary


def test_a_learned_mixture_prior_is_the_prior_not_a_second_level_of_heads():
    """yjlolo's GM-VAE: mu_lookup / logvar_lookup are the prior (called with one index, 1-D outputs).
    Means that move by about 0.05 are under the N(0, 1) rule's threshold but far above the prior's spread."""
    model = real3.gmvae(False)
    roles = roles_of({k: tuple(v.shape) for k, v in model.state_dict().items()})
    assert len(roles.heads) == 1 and roles.heads[0].prior is not None
    assert roles.heads[0].prior.mean == "mu_lookup" and roles.heads[0].prior.components == real3.GM_K
    finding = diagnose(adapter_from_module(model), ProbeData(x=real3.cvae_probe()["x"])).findings[0]
    m = finding.metrics
    assert m["active_units"] == 0 and m["active_units_learned_prior"] == real3.GM_Z
    assert (
        finding.severity == "ok"
        and "does not apply to a model trained towards another prior" in finding.summary
    )
    assert m["kl_learned_prior"] > 1.0


def test_conv_heads_count_the_whole_latent_per_image():
    """Heads Conv2d(16 -> 8) on a 4 x 4 map: 8 x 4 x 4 = 128 latent dims per image, KL summed over them."""
    model = real3.conv_vae(False)
    x = real3.conv_images()
    adapter = adapter_from_module(model)
    mu, _logvar = adapter.posterior(x)
    assert mu.shape == (len(x), 128)
    with torch.no_grad():
        h = model.encoder(torch.from_numpy(x))
        expected = kl_per_dim(
            model.conv_mu(h).reshape(len(x), -1).numpy(), model.conv_logvar(h).reshape(len(x), -1).numpy()
        )
    m = diagnose(adapter, ProbeData(x=x)).findings[0].metrics
    assert m["latent_dim"] == 128 and m["kl_total"] == pytest.approx(float(expected.sum()), rel=1e-4)


def test_twin_heads_with_short_names_are_found():
    roles = roles_of({k: tuple(v.shape) for k, v in real3.short_twin(False).state_dict().items()})
    (heads,) = roles.heads
    assert (heads.mean, heads.variance, heads.decoder_input) == ("fcm", "fcs", "fc3")
    assert "could also mean a std or log-std" in heads.assumption


def test_token_logits_do_not_crash_the_reconstruction_check(tmp_path):
    """Sentence-VAE returns log-probabilities [N, T, V] for token ids [N, T]: reconstruction spread is
    undefined with its reason, the posterior is still measured (its `length` reaches the forward)."""
    model, data = _files(tmp_path, real3.sentence_vae(False), real3.sentence_probe())
    code, report, err = _cli(
        "diagnose", model, "--builder", "tests.corpus.real3:build_sentence_vae", "--data", data, "--json"
    )
    finding = report["findings"][0]
    assert code == 0 and err == "" and "reconstruction diversity undefined (" in finding["summary"]
    assert finding["metrics"]["active_units"] == real3.CVAE_Z


def test_token_embeddings_are_not_codebooks():
    """A seq2seq transformer's [vocab, d] tables sit at the input of its stacks with positional embeddings,
    attention layers and a generator over the same vocabulary: token embeddings, never a codebook."""
    model = real3.seq2seq(False)
    roles = roles_of({k: tuple(v.shape) for k, v in model.state_dict().items()})
    assert roles.codebooks == () and roles.family is None
    assert any("looks like a text model" in hint and "token ids" in hint for hint in roles.hints)


# --- honest weight-only verdicts ---------------------------------------------------------------------------


def _weight_only(tmp_path: Path, module: torch.nn.Module) -> tuple[int, dict]:
    torch.save(module.state_dict(), tmp_path / "model.pt")
    code, report, err = _cli("diagnose", str(tmp_path / "model.pt"), "--json")
    assert err == "", err
    return code, report["findings"][0]


def test_a_sizeable_share_of_codes_never_trained_is_a_warning_with_a_lower_bound(tmp_path):
    """taming's VectorQuantizer2 (uniform +-1/K init, no EMA): 14 of 32 codes never left the init box."""
    model = layouts.taming(False)
    with torch.no_grad():
        model.quantize.embedding.weight[18:] = layouts.box_codebook(layouts.K, layouts.D, 0, 3)[18:]
    code, finding = _weight_only(tmp_path, model)
    assert finding["severity"] == "warning" and code == 0
    assert "at least 14 of 32 codes never trained (a lower bound on dead codes)" in finding["summary"]
    with torch.no_grad():
        model.quantize.embedding.weight[2:] = layouts.box_codebook(layouts.K, layouts.D, 0, 3)[2:]
    code, finding = _weight_only(tmp_path, model)
    assert finding["severity"] == "collapse" and code == 1
    assert "at least 30 of 32 codes never trained" in finding["summary"]


def test_ema_codes_that_are_exact_zero_rows_never_trained(tmp_path):
    """zalando's VectorQuantizerEMA with a cluster-size buffer the code never fills (all zeros): that is no
    usage signal; 20 of 32 codes are exact zero rows (never assigned), every other code moved."""
    model = layouts.zalando(False)
    with torch.no_grad():
        model._vq_vae._ema_cluster_size.zero_()
        model._vq_vae._embedding.weight.copy_(torch.randn(layouts.K, layouts.D))
    _, finding = _weight_only(tmp_path, model)
    assert finding["severity"] == "undefined" and "no usage signal" in finding["summary"]
    with torch.no_grad():
        model._vq_vae._embedding.weight[12:] = 0.0
    _, finding = _weight_only(tmp_path, model)
    assert finding["severity"] == "warning"
    assert "at least 20 of 32 codes never trained (a lower bound on dead codes)" in finding["summary"]
    assert "exact zero rows" in finding["summary"] and "no usage signal" in finding["summary"]


def test_heads_that_cannot_vary_with_the_input_are_collapse_from_weights(tmp_path):
    """1Konny's BetaVAE_H whose 2 x Z head shrank to a tenth of its init, rows alike: 0 of 6 active."""
    code, finding = _weight_only(tmp_path, real3.beta_vae_shrunk(True))
    assert finding["severity"] == "collapse" and code == 1
    assert "0 of 6 latent units look active" in finding["summary"]
    assert "heads that cannot vary with the input" in finding["summary"]
    code, finding = _weight_only(tmp_path, real3.beta_vae_shrunk(False))
    assert finding["severity"] == "undefined" and code == 3


# --- text models through --builder ----------------------------------------------------------------------------

TEXT_CASES = [
    ("seq2seq_transformer", real3.seq2seq, "build_seq2seq"),
    ("lstm_seq2seq", real3.lstm_seq2seq, "build_lstm_seq2seq"),
]


@pytest.mark.parametrize("case", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
@pytest.mark.parametrize("collapsed", [True, False], ids=["collapsed", "healthy"])
def test_a_text_model_is_decoded_greedily_never_read_as_a_codebook(case, collapsed, tmp_path):
    """Weights alone: no codebook, and the one line says what to give. With the builder and probe token
    ids: greedy outputs judged for mode collapse (a healthy model writes many distinct outputs)."""
    _, build, builder = case
    model, data = _files(tmp_path, build(collapsed), {"x": real3.token_ids()})
    code, _, err = _cli("diagnose", model, "--json")
    assert code == 2 and err.startswith(
        "error: no adapter recognises this checkpoint's layout: it looks like a text"
    )
    assert "probe token ids" in err and len(err.strip().splitlines()) == 1
    code, report, err = _cli(
        "diagnose", model, "--builder", f"tests.corpus.real3:{builder}", "--data", data, "--json"
    )
    finding = report["findings"][0]
    assert err == "" and report["adapter"] == "live_text" and finding["kind"] == "mode"
    distinct = round(finding["metrics"]["unique_output_ratio"] * finding["metrics"]["inputs"])
    if collapsed:
        assert code == 1 and finding["severity"] == "collapse" and distinct == 1
    else:
        assert code == 0 and finding["severity"] == "ok" and distinct > 20, finding["summary"]
    assert "pooled over all outputs distinct-1" in finding["summary"]


def test_a_table_fed_integer_ids_is_a_token_table_in_the_live_path():
    model = real3.BagOfTokens()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert [c.key for c in roles_of(shapes).codebooks] == [
        "embedding.weight"
    ]  # the weights alone cannot tell
    adapter = adapter_from_module(model, probe_x=real3.token_ids())
    assert adapter.spec().family == "text" and adapter.name == "live_text"


# --- generative flows through --builder ---------------------------------------------------------------------

FLOW_CASES = [
    ("flow_matching_mlp", real3.flow_mlp, "build_flow_mlp", real3.flow_probe, "c", "net takes 7 inputs"),
    ("unet_time_label", real3.unet, "build_unet", real3.unet_probe, "y", "time embedding time_mlp.0"),
]


@pytest.mark.parametrize("case", FLOW_CASES, ids=[c[0] for c in FLOW_CASES])
@pytest.mark.parametrize("collapsed", [True, False], ids=["collapsed", "healthy"])
def test_a_generative_flow_is_integrated_from_probe_noise_with_its_own_signature(case, collapsed, tmp_path):
    """v(x, t, c) on cat(t, one_hot(c), x) and a conv U-Net v(x, timesteps, y): weights alone say what to
    give; with the builder the probe noise is integrated with the probe's conditions and judged against
    the real samples x1 (healthy: x(1) = x0 + mu_c, the data's own law; collapsed: every sample of a
    class on its centre)."""
    _, build, builder, probe, condition, why = case
    model, data = _files(tmp_path, build(collapsed), probe())
    code, _, err = _cli("diagnose", model, "--json")
    assert code == 2 and "looks like a velocity field with a time input" in err and why in err
    code, report, err = _cli(
        "diagnose", model, "--builder", f"tests.corpus.real3:{builder}", "--data", data, "--json"
    )
    assert err == "" and report["adapter"] == "live_generative_flow"
    finding = report["findings"][0]
    m = finding["metrics"]
    assert f"conditions from probe '{condition}'" in finding["summary"]
    if collapsed:
        assert code == 1 and finding["severity"] == "collapse"
        assert m["distinct_endpoints"] <= real3.CLASSES and m["condition_spread_min"] < 0.05
    else:
        assert code == 0 and finding["severity"] == "ok", finding["summary"]
        assert m["endpoint_spread_ratio"] == pytest.approx(1.0, abs=0.15) and m["mode_coverage"] == 1.0
        assert m["condition_spread_min"] > 0.6 and "4 of its 4 modes reached" in finding["summary"]


def test_the_flow_is_euler_through_the_users_forward():
    """Endpoints equal 50 Euler steps of the model itself from t = 0 to 1."""
    model = real3.flow_mlp(True)
    probe = real3.flow_probe(n=12)
    adapter = adapter_from_module(model).with_probe(ProbeData(x=probe["x"], extras={"c": probe["c"]}))
    ends = adapter.endpoints(probe["x"])
    x, c = torch.from_numpy(probe["x"]), torch.from_numpy(probe["c"])
    with torch.no_grad():
        for k in range(50):
            x = x + 0.02 * model(x, torch.full((12,), k * 0.02), c)
    np.testing.assert_allclose(ends, x.numpy(), rtol=1e-5, atol=1e-5)


def test_a_generative_flow_without_real_samples_says_what_to_give(tmp_path):
    probe = real3.flow_probe()
    finding = diagnose(
        adapter_from_module(real3.flow_mlp(False)), ProbeData(x=probe["x"], extras={"c": probe["c"]})
    ).findings[0]
    assert finding.severity == "undefined" and "give real samples `x1`" in finding.summary


# --- no internal error, whatever is given ---------------------------------------------------------------------

EVERY = (
    [(name, build, builder, probe) for name, build, builder, probe, *_ in CASES]
    + [(name, build, builder, lambda: {"x": real3.token_ids()}) for name, build, builder in TEXT_CASES]
    + [(name, build, builder, probe) for name, build, builder, probe, *_ in FLOW_CASES]
)


@pytest.mark.parametrize("case", EVERY, ids=[c[0] for c in EVERY])
def test_no_internal_error_with_a_builder_and_no_probe(case, tmp_path):
    """A builder without probe data: a verdict, undefined with what to give, or one line of bad input."""
    _, build, builder, probe = case
    model, _ = _files(tmp_path, build(True), probe())
    code, _, err = _cli("diagnose", model, "--builder", f"tests.corpus.real3:{builder}", "--json")
    assert code in (0, 1, 2, 3) and "internal error" not in err and "Traceback" not in err
    assert code != 2 or len(err.strip().splitlines()) == 1


def test_the_generative_frame_shows_noise_endpoints_and_real_data():
    from core.plots.flow.generative import generative_figure, generative_frame

    probe = real3.flow_probe(n=40)
    adapter = adapter_from_module(real3.flow_mlp(True)).with_probe(
        ProbeData(x=probe["x"], extras={"c": probe["c"]})
    )
    ends = adapter.endpoints(probe["x"])
    _start, end, data, frame = generative_frame(probe["x"], ends, probe["x1"])
    assert frame == "data axes" and np.allclose(end, ends) and data.shape == (40, 2)
    fig = generative_figure(probe["x"], ends, probe["x1"])
    assert [t.name for t in fig.data] == ["noise x", "real data x1", "endpoints"]
    images = real3.unet_probe(n=30)
    _, end, data, frame = generative_frame(images["x"], images["x1"], images["x1"])
    assert frame.startswith("joint PCA") and end.shape == data.shape == (30, 2) and np.allclose(end, data)


def test_probe_texts_are_encoded_with_the_models_own_tokenizer(tmp_path):
    rng = np.random.default_rng(0)
    texts = np.array(["".join(rng.choice(list("abcdefghi"), size=4)) for _ in range(80)])
    for collapsed, severity in ((True, "collapse"), (False, "ok")):
        model, data = _files(tmp_path, real3.seq2seq(collapsed), {"texts": texts})
        _code, report, err = _cli(
            "diagnose",
            model,
            "--builder",
            "tests.corpus.real3:build_seq2seq_tokenized",
            "--data",
            data,
            "--json",
        )
        finding = report["findings"][0]
        assert err == "" and report["adapter"] == "live_text" and finding["severity"] == severity, finding[
            "summary"
        ]
        assert "judged from generated token ids" not in finding["summary"]
        if collapsed:  # token 5 everywhere, decoded by the tokenizer
            assert set(finding["metrics"]["most_common_output"]) == {"c"}


def test_the_sampled_z_is_told_from_other_outputs_shaped_like_mu():
    """A forward returning (recon, mu, std, z): std is shaped like mu but is no sample; z is read."""

    class StdFirst(real3.LogStdVAE):
        def forward(self, x: torch.Tensor) -> tuple:
            h = torch.relu(self.body(x))
            mu, raw = self.mean(h), self.var(h)
            std = torch.exp(raw)
            z = mu + std * torch.randn_like(mu)
            return self.fc_dec(z), mu, std, z

    model = real3.variance_vae(StdFirst)
    adapter = adapter_from_module(model)
    adapter.posterior(real3.cvae_probe()["x"])
    assert adapter.reading.parameterisation == "log_std"


def test_a_learned_prior_that_cannot_be_read_is_said_not_to_fit_the_standard_rule():
    """A mixture prior kept in one tensor (`z_pre` [1, 2K, Z], as some GM-VAEs do): not readable as
    tables, so the verdict says the N(0, 1) rule may not apply."""
    model = real3.short_twin(False)
    model.z_pre = torch.nn.Parameter(torch.randn(1, 2 * 3, real3.CVAE_Z))
    finding = diagnose(adapter_from_module(model), ProbeData(x=real3.cvae_probe()["x"])).findings[0]
    assert "learned prior (z_pre)" in finding.summary and "may not apply" in finding.summary
