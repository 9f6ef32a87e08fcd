"""Checkpoints people actually have: a corpus of public layouts, each built collapsed and healthy.

Module definitions read (shapes and names only; the modules in layouts.py are written here):
- zalandoresearch/pytorch-vq-vae: vq-vae.ipynb (VectorQuantizerEMA: `_embedding`, `_ema_cluster_size`, `_ema_w`;
  Model: `_encoder`, `_pre_vq_conv`, `_vq_vae`, `_decoder`)
- rosinality/vq-vae-2-pytorch: vqvae.py (Quantize buffers `embed [dim, n_embed]`, `cluster_size`, `embed_avg`;
  VQVAE levels `quantize_t` / `quantize_b`, `quantize_conv_t` / `quantize_conv_b`, `enc_b`, `enc_t`, `dec_t`, `dec`)
- lucidrains/vector-quantize-pytorch: vector_quantize_pytorch/vector_quantize_pytorch.py (EuclideanCodebook
  `initted`, `cluster_size [H, K]`, `embed_avg`, `embed [H, K, D]`) and vector_quantize_pytorch/residual_vq.py
  (ResidualVQ `layers.N._codebook`)
- facebookresearch/encodec: encodec/quantization/core_vq.py (EuclideanCodebook `inited`, `cluster_size [K]`,
  `embed [K, D]`, `embed_avg`; ResidualVectorQuantization `layers`)
- nadavbh12/VQ-VAE: vq_vae/nearest_embed.py (NearestEmbed `weight [D, K]`; NearestEmbedEMA buffers `weight`,
  `cluster_size`, `embed_avg`)
- CompVis/taming-transformers: taming/modules/vqvae/quantize.py (VectorQuantizer2 `embedding` uniform in
  +-1/n_e, `used` remap buffer; GumbelQuantize `proj`, `embed`)
- CompVis/latent-diffusion: ldm/models/autoencoder.py (VQModel `quant_conv`, `post_quant_conv`, `quantize`;
  AutoencoderKL `quant_conv` with 2 * embed_dim outputs, `post_quant_conv`, `loss`)
- AntixK/PyTorch-VAE: models/vanilla_vae.py (`encoder`, `fc_mu`, `fc_var`, `decoder_input`, `decoder`,
  `final_layer`) and models/vq_vae.py (`vq_layer.embedding` uniform in +-1/K)
- pytorch/examples: vae/main.py (`fc1`, `fc21`, `fc22`, `fc3`, `fc4`)
- openai/jukebox: jukebox/vqvae/bottleneck.py (BottleneckBlock registers only `k [k_bins, emb_width]`;
  Bottleneck `level_blocks`; dead codes re-drawn from encoder outputs)
- MishaLaskin/vqvae: models/vqvae.py (`pre_quantization_conv`, `vector_quantization`) and utils.py (saves
  `{'model', 'results', 'hyperparameters'}`)
- ritheshkumar95/pytorch-vqvae: modules.py (AutoEncoder with a top-level `embedding` initialised 1/K * randn)
- karpathy/deep-vector-quantization: dvq/model/quantize.py (VQVAEQuantize `proj`, `embed`, `data_initialized`,
  k-means init)
- 1Konny/Beta-VAE: model.py (BetaVAE_H: the encoder's last Linear gives z_dim * 2, decoder starts Linear(z_dim))
- YannDubs/disentangling-vae: disvae/models/encoders.py (`mu_logvar_gen` Linear(hidden, latent_dim * 2))
- Lightning-Universe/lightning-bolts: src/pl_bolts/models/autoencoders/basic_vae/basic_vae_module.py
  (LightningModule with `encoder`, `decoder`, `fc_mu`, `fc_var`)
- hamzaamrani/vae-pl-ecg: models/vae.py (ECG VAE `fc1..fc3`, `fc_mu`, `fc_logvar`, `fc4..fc6`, `log_scale`;
  VAE_trainer(LightningModule) holds it as `vae`)
- lucidrains/DALLE-pytorch: DiscreteVAE `codebook = nn.Embedding(num_tokens, codebook_dim)` with Gumbel logits;
  train_vae.py saves `{'hparams', 'weights'}`
- clementchadebec/benchmark_VAE (pythae): src/pythae/models/nn/default_architectures.py (Encoder_VAE_MLP
  `layers`, `embedding` as the mean, `log_var`; Encoder_LadderVAE_MLP / Decoder_LadderVAE_MLP module lists
  `layers`, `mu_s`, `log_var_s`, the decoder's being top-down priors) and
  src/pythae/models/base/base_model.py (saves `model.pt` with `model_state_dict`, `model_config.json` beside)
- atong01/conditional-flow-matching: torchcfm/models/models.py (MLP `net` Linear(dim + 1, w) ... Linear(w, dim),
  SELU)

Each file is checked for the adapter that reads it and the verdict of its main finding: from the weights
alone where no probe is beside it (a weight-only estimate never says "ok" when it cannot see), from probe
data where one is; a --builder run returning the user's own nn.Module gives data-driven findings.
Renaming prefixes, wrapping in `module.` / `_orig_mod.` or moving parts into component dicts must not
change the verdict.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.adapters.registry import build_adapter
from core.cli import main
from core.diagnosis.checkpoint import diagnose_checkpoint
from core.io.checkpoints import load_checkpoint
from core.io.probe import load_probe
from tests.corpus.layouts import CORPUS, Entry

CASES = [(entry, collapsed) for entry in CORPUS for collapsed in (True, False)]


def _id(case: tuple[Entry, bool]) -> str:
    entry, collapsed = case
    return f"{entry.project}-{entry.adapter}-{'collapsed' if collapsed else 'healthy'}"


def _write(entry: Entry, collapsed: bool, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = entry.save(entry.build(collapsed), folder)
    if entry.probe is not None:
        np.savez(folder / "probe.npz", **entry.probe())
    return path


def _verdict(path: Path) -> tuple[str, str, str]:
    """(adapter, severity of the main finding, its summary) as the CLI would diagnose `path`."""
    loaded = load_checkpoint(path)
    probe = path.parent / "probe.npz"
    report = diagnose_checkpoint(loaded, load_probe(probe) if probe.is_file() else None)
    main = report.findings[0]
    return build_adapter(loaded).name, main.severity, main.summary


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_the_corpus_spans_at_least_15_projects_and_30_files():
    assert len({e.project for e in CORPUS}) >= 15
    assert len(CASES) >= 30
    assert len({(e.project, e.layout) for e in CORPUS}) >= 15


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_each_layout_is_recognised_with_the_right_verdict(case, tmp_path):
    entry, collapsed = case
    path = _write(entry, collapsed, tmp_path / "run")
    adapter, severity, summary = _verdict(path)
    expected = entry.verdicts[0 if collapsed else 1]
    assert adapter == entry.adapter, summary
    assert severity == expected, summary
    if entry.probe is None and severity == "ok":
        assert "EMA cluster sizes" in summary  # no blind "ok": only usage the weights keep is seen
    if severity == "undefined":
        assert "weight-only" in summary and ("give probe" in summary or "--builder" in summary)
    code, out, err = _cli("diagnose", str(path), "--json")
    findings = json.loads(out)["findings"]
    assert err == "" and code in (0, 1, 3)
    assert (code == 1) == any(f["severity"] == "collapse" for f in findings)


BUILDER_CASES = [(e, c) for e in CORPUS if e.builder for c in (True, False)]


@pytest.mark.parametrize("case", BUILDER_CASES, ids=[_id(c) for c in BUILDER_CASES])
def test_builder_returning_a_module_gives_data_driven_findings(case, tmp_path):
    entry, collapsed = case
    path = _write(entry, collapsed, tmp_path / "run")
    np.savez(tmp_path / "x.npz", **entry.builder_probe())
    code, out, err = _cli(
        "diagnose",
        str(path),
        "--builder",
        f"tests.corpus.layouts:{entry.builder}",
        "--data",
        str(tmp_path / "x.npz"),
        "--json",
    )
    assert err == "" and code in (0, 1), err
    report = json.loads(out)
    assert report["adapter"].startswith("live_")
    finding = report["findings"][0]
    marker = {"codebook": "tokens of probe x", "posterior": "probe rows", "prototype": "distinct endpoints"}
    assert marker[finding["kind"]] in finding["summary"]
    expected = entry.data_verdicts[0 if collapsed else 1]
    if expected is not None:
        assert finding["severity"] == expected, finding["summary"]


def test_a_ladder_vae_is_judged_by_its_most_collapsed_level(tmp_path):
    entry = next(e for e in CORPUS if e.builder == "build_pythae_ladder")
    for collapsed in (True, False):
        folder = tmp_path / ("collapsed" if collapsed else "healthy")
        path = _write(entry, collapsed, folder)
        _, severity, summary = _verdict(path)
        if collapsed:
            assert severity == "collapse"
            assert "worst of 2 levels of heads, encoder.mu_s.1: 0 of 3" in summary
            assert "other levels: encoder.mu_s.0 6 of 6" in summary
        np.savez(folder / "x.npz", **entry.builder_probe())
        code, out, _ = _cli(
            "diagnose", str(path), "--builder", "tests.corpus.layouts:build_pythae_ladder",
            "--data", str(folder / "x.npz"), "--json",
        )  # fmt: skip
        finding = json.loads(out)["findings"][0]
        top = "0 of 3" if collapsed else "3 of 3"
        assert f"active units at the other levels of heads: encoder.mu_s.1 {top}" in finding["summary"]
        assert finding["metrics"]["active_units"] == 6  # the first level, measured in full
        assert code == (1 if collapsed else 0)
        if collapsed:
            assert finding["summary"].startswith("posterior collapse at encoder.mu_s.1 (0 of 3 units active)")


def test_an_interleaved_2z_head_is_split_as_the_model_splits_it(tmp_path):
    """YannDubs' encoder returns mu_logvar.view(-1, Z, 2).unbind(-1): even outputs are the means. With
    units 3-5 pinned to the prior and input-dependent log-variances for units 0-2, reading the head as
    halves would see 6 moving rows; the forward shows the split, and the weights say both readings."""
    from tests.corpus.layouts import YannVAE

    torch.manual_seed(0)
    model = YannVAE()
    with torch.no_grad():
        model.encoder.mu_logvar_gen.weight[6:] = 0.0  # rows 6-11: mean and log-variance of units 3-5
        model.encoder.mu_logvar_gen.bias[6:] = 0.0
        model.encoder.mu_logvar_gen.weight[:6] *= 4.0
    path = tmp_path / "run" / "model.pt"
    path.parent.mkdir()
    torch.save(model.state_dict(), path)
    _, severity, summary = _verdict(path)
    assert severity == "undefined" and "6 of 6 latent units look active" in summary
    assert "read as interleaved pairs instead" in summary and "3 of 6 units look active" in summary
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x=rng.normal(size=(200, 1, 8, 8)).astype(np.float32))
    code, out, _ = _cli(
        "diagnose", str(path), "--builder", "tests.corpus.layouts:build_yann", "--data", str(tmp_path / "x.npz"),
        "--json",
    )  # fmt: skip
    finding = json.loads(out)["findings"][0]
    assert finding["metrics"]["active_units"] == 3, finding["summary"]
    assert "3 of 6 latent units active" in finding["summary"] and code == 1  # (its decoder is untrained)


# --- the same file under other names ------------------------------------------------------------------

SAFE_PREFIXES = ("net", "model_a", "wrapper", "core", "backbone", "pl_module", "inner", "my_model")
WRAPPERS = ("", "module.", "_orig_mod.", "module._orig_mod.")
PROPERTY_PROJECTS = (
    "zalandoresearch/pytorch-vq-vae",
    "rosinality/vq-vae-2-pytorch",
    "CompVis/taming-transformers",
    "CompVis/latent-diffusion",
    "1Konny/Beta-VAE",
)
PROPERTY_ENTRIES = [e for e in CORPUS if e.project in PROPERTY_PROJECTS]


def _renamed(state: dict, prefix: str | None, wrapper: str, split: bool) -> dict:
    """The state dict under `prefix.` and a wrapper prefix, optionally split into component dicts."""
    keyed = {f"{prefix}.{k}" if prefix else k: v for k, v in state.items()}
    if split:
        parts: dict[str, dict] = {}
        for key, value in keyed.items():
            head, _, rest = key.partition(".")
            parts.setdefault(f"{head}_state_dict", {})[f"{wrapper}{rest}"] = value
        return parts
    return {f"{wrapper}{k}": v for k, v in keyed.items()}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(PROPERTY_ENTRIES) - 1),
    collapsed=st.booleans(),
    prefix=st.one_of(st.none(), st.sampled_from(SAFE_PREFIXES)),
    wrapper=st.sampled_from(WRAPPERS),
    split=st.booleans(),
)
def test_renaming_wrapping_or_splitting_keeps_the_verdict(index, collapsed, prefix, wrapper, split):
    entry = PROPERTY_ENTRIES[index]
    with tempfile.TemporaryDirectory() as tmp:
        base = _write(entry, collapsed, Path(tmp) / "base")
        _, expected, _ = _verdict(base)
        module = entry.build(collapsed)
        moved = Path(tmp) / "moved"
        moved.mkdir()
        torch.save(_renamed(module.state_dict(), prefix, wrapper, split), moved / "renamed.pt")
        loaded = load_checkpoint(moved / "renamed.pt")
        assert build_adapter(loaded).family == build_adapter(load_checkpoint(base)).family
        (finding, *_) = diagnose_checkpoint(loaded, None).findings
        assert finding.severity == expected, finding.summary


def test_a_quantizer_moved_into_its_own_component_dict_keeps_the_verdict(tmp_path):
    entry = next(e for e in CORPUS if e.project == "CompVis/taming-transformers")
    state = entry.build(True).state_dict()
    quantizer = {k.removeprefix("quantize."): v for k, v in state.items() if k.startswith("quantize.")}
    rest = {k: v for k, v in state.items() if not k.startswith("quantize.")}
    parts = {
        "encoder_state_dict": rest,
        "quantizer_state_dict": quantizer,
        "optimizer_state_dict": {},
        "epoch": 3,
    }
    torch.save(parts, tmp_path / "parts.pt")
    torch.save({"encoder": rest, "quantizer": quantizer}, tmp_path / "components.pt")
    for name in ("parts.pt", "components.pt"):
        loaded = load_checkpoint(tmp_path / name)
        finding = diagnose_checkpoint(loaded, None).findings[0]
        assert build_adapter(loaded).name == "vq_embedding" and finding.severity == "collapse", (
            finding.summary
        )


# --- data is not a model ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "looks"),
    [
        (torch.randn(50, 8), "looks like embeddings [N = 50, D = 8]"),
        (torch.randint(0, 32, (50, 16)), "looks like code indices"),
        ([torch.randn(4, 3), torch.randn(4, 3)], "looks like embeddings"),
        ({"mean": torch.zeros(3), "std": torch.ones(3)}, "normalisation statistics"),
        ({"counts": torch.arange(32.0)}, "code histogram over 32 codes"),
    ],
)
def test_data_files_say_they_are_data_and_exit_2(tmp_path, payload, looks):
    torch.save(payload, tmp_path / "thing.pt")
    for command in ("diagnose", "inspect"):
        code, out, err = _cli(command, str(tmp_path / "thing.pt"))
        if command == "diagnose":
            assert code == 2 and err.startswith("error: thing.pt is data, not a model") and looks in err
            assert len(err.strip().splitlines()) == 1
        else:
            assert code == 0 and "is data, not a model" in out and looks in out


def test_code_indices_saved_as_a_tensor_serve_as_probe_data(tmp_path):
    entry = next(e for e in CORPUS if e.project == "CompVis/taming-transformers")
    path = _write(entry, False, tmp_path / "run")
    codes = torch.cat([torch.arange(32), torch.zeros(32, dtype=torch.int64)]).repeat(8).view(32, 16)
    torch.save(codes, tmp_path / "codes.pt")
    code, out, err = _cli("diagnose", str(path), "--data", str(tmp_path / "codes.pt"), "--json")
    finding = json.loads(out)["findings"][0]
    assert code in (0, 1) and err == "" and "from probe codes" in finding["summary"]
    assert finding["metrics"]["used_codes"] == 32


def test_spare_latents_are_a_warning_with_the_count_not_collapse(tmp_path):
    entry = next(e for e in CORPUS if e.build.__name__ == "examples_vae_spare")
    path = _write(entry, False, tmp_path / "run")
    _, severity, summary = _verdict(path)
    assert severity == "warning" and "6 of 16 latent units active" in summary
    assert "spare capacity if the data has about 6 factors" in summary
    (path.parent / "probe.npz").unlink()
    _, blind, estimate = _verdict(path)
    assert blind == "warning" and "10 of 16 units carry nothing" in estimate
