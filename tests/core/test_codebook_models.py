"""Reference VQ-VAE, the codebook adapters on every layout, usage measurement and the demo trainer."""

import json

import numpy as np
import pytest
import torch

from core import DEMO_DIR
from core.adapters.codebook import (
    CodeUsage,
    EmaCodebookAdapter,
    measure_usage,
    probe_codes,
    run_checkpoints,
    run_usage,
)
from core.adapters.registry import build_adapter, detect, open_adapter
from core.demo.codebook import RECIPES, train_run
from core.io.checkpoints import load_checkpoint
from core.io.errors import AdapterError, CheckpointError, ProbeError
from core.io.probe import ProbeData, load_probe
from core.models.codebook import VQVAE, VQVAEConfig, build_vqvae
from tests.adapters import cases_codebook as cases

SMALL = VQVAEConfig(hidden_dim=16, num_embeddings=16, embedding_dim=4, num_tokens=2)
RUNS = DEMO_DIR / "codebook"


def _model() -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(SMALL)


def test_forward_shapes_bounded_encoder_and_clamped_codebook():
    model = _model().train()
    x = torch.rand(5, 64) * 100  # large inputs push tanh to its bound
    out = model(x)
    assert out["recon"].shape == (5, 64) and out["logits"].shape == (5, 10)
    assert out["indices"].shape == (5, 2) and out["indices"].dtype == torch.int64
    assert model.encode(x).abs().max() <= SMALL.bound
    model.quantizer._ema_w.mul_(1e6)  # an EMA update would push codes far outside the box...
    model(x)
    assert model.quantizer._embedding.weight.abs().max() <= SMALL.bound  # ...the clamp keeps them in it


def test_reseed_moves_only_dead_codes_onto_encoder_outputs():
    q = _model().quantizer
    before = q._embedding.weight.clone()
    dead = torch.zeros(16, dtype=torch.bool)
    dead[[2, 7]] = True
    z = torch.full((3, 4), 0.5)
    assert q.reseed(dead, z, torch.Generator().manual_seed(0)) == 2
    torch.testing.assert_close(q._embedding.weight[dead], torch.full((2, 4), 0.5))
    torch.testing.assert_close(q._embedding.weight[~dead], before[~dead])
    assert q.reseed(torch.zeros(16, dtype=torch.bool), z, torch.Generator()) == 0


def test_build_from_state_dict_reads_the_architecture_off_shapes():
    model = _model()
    rebuilt = build_vqvae(model.state_dict(), {})
    assert rebuilt.config.num_tokens == 2 and rebuilt.config.num_embeddings == 16
    x = torch.rand(7, 64)
    torch.testing.assert_close(rebuilt.code_indices(x), model.eval().code_indices(x))


def test_semantic_head_is_optional():
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(hidden_dim=16, num_embeddings=16, embedding_dim=4, num_tokens=2, num_classes=0))
    assert "logits" not in model(torch.rand(3, 64))
    assert not any(k.startswith("semantic_heads") for k in model.state_dict())
    assert detect({k: tuple(v.shape) for k, v in model.state_dict().items()}, {}) == "vqvae_digits"
    assert build_vqvae(model.state_dict(), {}).config.num_classes == 0


def test_build_rejects_foreign_or_misshapen_state_dicts():
    with pytest.raises(AdapterError, match="missing"):
        build_vqvae({"encoder.net.0.weight": torch.zeros(3, 3)}, {})
    sd = dict(_model().state_dict())
    sd["decoder.net.2.weight"] = torch.zeros(5, 5)
    with pytest.raises(AdapterError, match="does not fit"):
        build_vqvae(sd, {})


@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_every_layout_reads_codebook_and_usage(name, tmp_path):
    path = cases.CASES[name](tmp_path)
    adapter = open_adapter(str(path))
    assert adapter.name == name
    book = adapter.codebook()
    spec = adapter.spec()
    assert book.shape == (max(spec.codebook_count, 1), spec.codebook_size, spec.latent_dim)


def test_transposed_layout_is_turned_back_to_k_by_d(tmp_path):
    path = cases.transposed_codebook(tmp_path)
    raw = torch.load(path)
    adapter = open_adapter(str(path))
    np.testing.assert_allclose(adapter.codebook()[0], raw["quantize.embed"].T.numpy())
    np.testing.assert_allclose(adapter.code_usage()[0], raw["quantize.cluster_size"].numpy())


def test_multihead_usage_keeps_heads_and_strips_ddp_prefix(tmp_path):
    path = cases.multihead_codebook(tmp_path)
    adapter = open_adapter(str(path))
    raw = torch.load(path)["state_dict"]["module.vq._codebook.cluster_size"]
    np.testing.assert_allclose(adapter.code_usage(), raw.numpy())
    assert adapter.spec().codebook_count == 2


def test_embed_buffer_orientation_follows_cluster_size(tmp_path):
    g = torch.Generator().manual_seed(0)
    sd = {"vq.embed": torch.randn(12, 3, generator=g), "vq.cluster_size": torch.rand(12, generator=g)}
    sd["vq.embed_avg"] = torch.randn(12, 3, generator=g)
    torch.save(sd, tmp_path / "k_by_d.pt")
    adapter = open_adapter(str(tmp_path / "k_by_d.pt"))
    assert adapter.name == "vq_multihead" and adapter.codebook().shape == (1, 12, 3)
    np.testing.assert_allclose(adapter.codebook()[0], sd["vq.embed"].numpy())
    assert detect({"embed": (3, 12), "cluster_size": (12,), "embed_avg": (3, 12)}, {}) == "vq_transposed"
    assert detect({"embed": (4, 4), "cluster_size": (4,), "embed_avg": (4, 4)}, {}) == "vq_transposed"


def test_ema_embedding_sum_variant_and_plain_embedding_names():
    shapes = {"q._embedding.weight": (8, 3), "q._ema_cluster_size": (8,), "q._ema_embedding_sum": (8, 3)}
    assert detect(shapes, {}) == "vq_ema"
    assert detect({"vq.codebook.weight": (8, 3)}, {}) == "vq_embedding"
    assert detect({"codebook.weight": (8, 3)}, {}) == "vq_embedding"
    # Token embeddings of a language model are not codebooks.
    assert detect({"shared.weight": (100, 8), "encoder.embed_tokens.weight": (100, 8)}, {}) != "vq_embedding"


def test_plain_and_component_dict_checkpoints_give_the_same_model(tmp_path):
    model = _model()
    plain = tmp_path / "plain.pt"
    torch.save({"epoch": 1, "model_state_dict": model.state_dict(), "config": SMALL.to_dict()}, plain)
    comp = cases.reference_vqvae(tmp_path)  # same seed, same architecture
    a, b = open_adapter(str(plain)), open_adapter(str(comp))
    assert a.name == b.name == "vqvae_digits"
    x = np.random.default_rng(1).random((9, 64), dtype=np.float32)
    np.testing.assert_array_equal(a.code_indices(x), b.code_indices(x))
    assert a.code_indices(x).shape == (9, 2) and a.code_indices(x).dtype == np.int64
    assert a.reconstruct(x).shape == (9, 64)
    assert a.decode(np.zeros((2, 8), dtype=np.float32)).shape == (2, 64)


def test_reference_adapter_rejects_wrong_inputs(tmp_path):
    adapter = open_adapter(str(cases.reference_vqvae(tmp_path)))
    with pytest.raises(ProbeError, match=r"\[N, 64\]"):
        adapter.code_indices(np.zeros((3, 10), dtype=np.float32))
    with pytest.raises(ProbeError, match="latents"):
        adapter.decode(np.zeros((2, 5), dtype=np.float32))
    assert adapter.code_indices(np.zeros((3, 8, 8))).shape == (3, 2)  # images flatten


def test_measure_usage_prefers_data_then_probe_codes_then_ema(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "e").mkdir()
    ref = open_adapter(str(cases.reference_vqvae(tmp_path / "r")))
    probe = load_probe(tmp_path / "r" / "probe.npz")
    usage = measure_usage(ref, probe)
    assert usage.source == "data" and usage.counts.sum() == 12 * 2 and usage.indices.shape == (12, 2)
    # its EMA cluster sizes are all zeros (nothing was ever counted in them): no usage signal
    assert ref.spec().supports_code_usage and not ref.code_usage().any() and measure_usage(ref, None) is None
    plain = open_adapter(str(cases.embedding_codebook(tmp_path / "e")))
    coded = measure_usage(plain, load_probe(tmp_path / "e" / "probe.npz"))
    assert coded.source == "probe codes" and coded.counts.sum() == 60
    assert measure_usage(plain, None) is None
    assert measure_usage(plain, ProbeData(x=np.zeros((3, 4)))) is None


def test_probe_codes_are_read_from_the_npz_and_validated(tmp_path):
    np.savez(tmp_path / "codes.npz", codes=np.array([[0, 1]]), labels=np.array([3]))
    assert probe_codes(load_probe(tmp_path / "codes.npz")).tolist() == [[0, 1]]
    np.savez(tmp_path / "floats.npz", codes=np.array([0.5]))
    with pytest.raises(ProbeError, match="integer"):
        probe_codes(load_probe(tmp_path / "floats.npz"))
    np.savez(tmp_path / "rows.npz", codes=np.zeros((3, 2), dtype=int), labels=np.zeros(4, dtype=int))
    with pytest.raises(ProbeError, match="number of rows"):
        probe_codes(load_probe(tmp_path / "rows.npz"))
    assert probe_codes(None) is None


def test_multihead_probe_codes_need_a_head_axis(tmp_path):
    adapter = open_adapter(str(cases.multihead_codebook(tmp_path)))
    good = ProbeData(labels=np.zeros(4, dtype=np.int64), source="")
    assert measure_usage(adapter, good).source == "ema"
    object.__setattr__(good, "codes", np.zeros((4, 3, 2), dtype=np.int64))  # as if ProbeData had `codes`
    usage = measure_usage(adapter, good)
    assert usage.counts.shape == (2, 16) and usage.counts[:, 0].tolist() == [12, 12]
    object.__setattr__(good, "codes", np.zeros((4, 3), dtype=np.int64))
    with pytest.raises(ProbeError, match="heads"):
        measure_usage(adapter, good)


def test_run_usage_orders_the_shipped_run_by_epoch():
    run = run_usage(RUNS / "collapsing", load_probe(RUNS / "collapsing" / "probe.npz"))
    assert run.epochs == (1, 5, 10, 20, 40)
    assert run.counts.shape == (5, 1, 64) and set(run.sources) == {"data"}
    assert (run.counts.sum(axis=-1) == 360 * 4).all()


def test_run_folder_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        run_checkpoints(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="no checkpoint files"):
        run_checkpoints(tmp_path)
    cases.embedding_codebook(tmp_path)
    (tmp_path / "probe.npz").unlink()
    with pytest.raises(ProbeError, match="give probe x or codes"):
        run_usage(tmp_path, None)


def test_weight_only_adapter_refuses_non_finite_codebooks(tmp_path):
    path = tmp_path / "nan.pt"
    sd = {"_embedding.weight": torch.full((4, 2), float("nan")), "_ema_cluster_size": torch.ones(4)}
    sd["_ema_w"] = torch.zeros(4, 2)
    torch.save(sd, path)
    with pytest.raises(AdapterError, match="NaN"):
        EmaCodebookAdapter.from_loaded(load_checkpoint(path))


def test_demo_trainer_is_reproducible_and_writes_the_run(tmp_path):
    recipe = RECIPES[0]
    log_a = train_run(recipe, tmp_path / "a", epochs=2, save_epochs=(2,))
    log_b = train_run(recipe, tmp_path / "b", epochs=2, save_epochs=(2,))
    assert log_a == log_b
    assert {"epoch", "step", "recon", "commitment", "classification", "perplexity", "val_recon"} <= set(
        log_a[0]
    )
    assert json.loads((tmp_path / "a" / "training_log.json").read_text()) == log_a
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "probe.npz",
        "training_log.json",
        "vqvae_epoch_002.pt",
    ]
    adapter = build_adapter(load_checkpoint(tmp_path / "a" / "vqvae_epoch_002.pt"))
    assert isinstance(measure_usage(adapter, load_probe(tmp_path / "a" / "probe.npz")), CodeUsage)
