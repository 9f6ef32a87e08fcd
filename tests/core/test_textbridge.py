import json

import numpy as np
import pytest
import torch

from core.adapters.registry import build_adapter, open_adapter
from core.adapters.text import AdditiveBridgeAdapter, AttentionBridgeAdapter
from core.config import SamplingConfig
from core.io.checkpoints import load_checkpoint
from core.io.errors import AdapterError, ProbeError
from core.io.probe import load_probe
from core.models.text import (
    TextBridge,
    load_tokenizer,
    small_t5_config,
    t5_config_from_shapes,
    train_tokenizer,
)
from tests.adapters.cases_text import EMBED_DIM, hf_folder, seed_checkpoint, tiny_bridge


def _embeddings(n: int = 5) -> np.ndarray:
    x = np.random.default_rng(1).normal(size=(n, EMBED_DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_tokenizer_round_trips_sentences_with_apostrophes_and_punctuation():
    texts = ["Weren't the young pilots kind near the station?", "My neighbours cooked this charming speech."]
    tokenizer = load_tokenizer(train_tokenizer(texts))
    ids = tokenizer(texts).input_ids
    assert all(row[-1] == tokenizer.eos_token_id for row in ids)
    assert tokenizer.batch_decode(ids, skip_special_tokens=True) == texts
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1)


def test_t5_config_from_shapes_round_trips():
    config = small_t5_config(50, d_model=64, layers=3, num_decoder_layers=2, num_heads=4, d_kv=16, d_ff=96)
    model = TextBridge(20, config, "additive")
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    rebuilt = t5_config_from_shapes(shapes)
    for key in ("vocab_size", "d_model", "num_layers", "num_decoder_layers", "num_heads", "d_kv", "d_ff"):
        assert getattr(rebuilt, key) == getattr(config, key), key


def test_bridge_variants_differ_in_what_reaches_t5():
    x = torch.from_numpy(_embeddings(4))
    additive, _ = tiny_bridge("additive")
    attention, _ = tiny_bridge("attention")
    assert additive.bridge_tokens(x).shape == attention.bridge_tokens(x).shape == (4, 4, 32)
    assert "attention_bridge.in_proj_weight" in attention.state_dict()
    assert not any(k.startswith("attention_bridge") for k in additive.state_dict())
    with pytest.raises(ValueError, match=r"expected embeddings \[N, 16\]"):
        additive.bridge_tokens(torch.zeros(2, 8))


@pytest.mark.parametrize(
    ("bridge", "cls"), [("attention", AttentionBridgeAdapter), ("additive", AdditiveBridgeAdapter)]
)
def test_seed_checkpoint_loads_in_float32_and_matches_the_model(tmp_path, bridge, cls):
    path = seed_checkpoint(tmp_path, bridge)
    adapter = open_adapter(str(path))
    assert isinstance(adapter, cls)
    assert all(p.dtype == torch.float32 for p in adapter.model.parameters())
    spec = adapter.spec()
    assert (spec.family, spec.latent_dim, spec.supports_generation) == ("text", EMBED_DIM, True)
    model, _ = tiny_bridge(bridge)
    x = _embeddings()
    expected = model.eval().bridge_tokens(torch.from_numpy(x)).detach().numpy()
    # saved as float16, so equal to float16 precision only
    np.testing.assert_allclose(adapter.bridge_outputs(x), expected, atol=2e-2)


def test_generation_is_batched_seeded_and_deterministic(tmp_path, monkeypatch):
    adapter = open_adapter(str(seed_checkpoint(tmp_path, "attention")))
    x = _embeddings(6)
    greedy = SamplingConfig(max_new_tokens=8)
    outputs = adapter.generate(x, greedy)
    assert len(outputs) == 6 and all(isinstance(t, str) for t in outputs)
    monkeypatch.setattr("core.adapters.text.BATCH_SIZE", 1)
    assert adapter.generate(x, greedy) == outputs
    sampled = SamplingConfig(do_sample=True, temperature=1.5, max_new_tokens=8, seed=3)
    assert adapter.generate(x, sampled) == adapter.generate(x, sampled)
    others = [
        adapter.generate(x, SamplingConfig(do_sample=True, temperature=1.5, max_new_tokens=8, seed=s))
        for s in range(4)
    ]
    assert len({tuple(o) for o in others}) > 1
    state = torch.random.get_rng_state()
    adapter.generate(x, sampled)
    assert torch.equal(torch.random.get_rng_state(), state), "generation must not disturb the global RNG"


def test_wrong_embedding_size_is_a_clear_error(tmp_path):
    adapter = open_adapter(str(seed_checkpoint(tmp_path, "additive")))
    with pytest.raises(
        ProbeError, match=r"embeddings must be \[N, 16\] for this model, got shape \(3, 384\)"
    ):
        adapter.generate(np.zeros((3, 384), np.float32), SamplingConfig())
    with pytest.raises(ProbeError, match="NaN"):
        adapter.bridge_outputs(np.full((2, EMBED_DIM), np.nan, np.float32))


def test_missing_t5_part_is_a_clear_error(tmp_path):
    path = seed_checkpoint(tmp_path, "attention", drop_t5=True)
    with pytest.raises(AdapterError, match="the T5 part is missing"):
        build_adapter(load_checkpoint(path), "textbridge-attention")


def test_wrong_variant_and_missing_tokenizer_are_clear_errors(tmp_path):
    path = seed_checkpoint(tmp_path, "attention")
    with pytest.raises(AdapterError, match="not a additive-bridge checkpoint"):
        build_adapter(load_checkpoint(path), "textbridge-additive")


def _bare(tmp_path, bridge="additive", **args):
    """The seed layout without a tokenizer inside: the base model named in `args` instead."""
    path = seed_checkpoint(tmp_path, bridge)
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["args"]["tokenizer_json"]
    checkpoint["args"].update(args)
    bare = tmp_path / "bare.pt"
    torch.save(checkpoint, bare)
    return bare


def test_without_a_tokenizer_mode_collapse_is_judged_from_token_ids(tmp_path, monkeypatch):
    from core.adapters import text as textbridge
    from core.diagnosis import diagnose

    looked_up = []
    monkeypatch.setattr(
        textbridge, "cached_tokenizer", lambda name: (looked_up.append(name), (None, f"no {name} cached"))[1]
    )
    adapter = open_adapter(str(_bare(tmp_path, t5_model="google-t5/t5-small")))
    assert adapter.tokenizer is None and looked_up == ["google-t5/t5-small"]
    assert (
        "no google-t5/t5-small cached" in adapter.spec().description
        and "token ids" in adapter.spec().description
    )
    outputs = adapter.generate(_embeddings(3), SamplingConfig(max_new_tokens=4))
    assert all(o.startswith("ids: ") for o in outputs)
    (finding,) = diagnose(adapter, load_probe(tmp_path / "probe.npz")).findings
    assert finding.kind == "mode" and finding.severity in ("collapse", "warning", "ok")
    assert "token ids" in finding.summary and "BLEU needs one" in finding.summary
    assert "tokenizer" in finding.metrics["bleu"].reason and "bleu_constant_baseline" not in finding.metrics
    assert 0 < finding.metrics["distinct_1"] <= 1 and 0 < finding.metrics["unique_output_ratio"] <= 1


def test_a_cached_hugging_face_tokenizer_of_the_base_model_is_used(tmp_path, monkeypatch):
    from core.adapters import text as textbridge

    _, tokenizer_json = tiny_bridge("additive")
    monkeypatch.setattr(
        textbridge, "cached_tokenizer", lambda name: (load_tokenizer(tokenizer_json), "cached")
    )
    adapter = open_adapter(str(_bare(tmp_path, model_name="org/tiny-t5")))
    assert adapter.tokenizer is not None and adapter.tokenizer_note == "cached"
    assert not adapter.generate(_embeddings(2), SamplingConfig(max_new_tokens=4))[0].startswith("ids:")


def test_cached_tokenizer_reads_the_local_cache_only(tmp_path):
    from core.adapters.text import base_model_name, cached_tokenizer

    _, tokenizer_json = tiny_bridge("additive")
    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abcd")
    (snapshot / "tokenizer.json").write_text(tokenizer_json)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "t5"}))
    (snapshot / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>", "eos_token": "</s>"})
    )
    tokenizer, how = cached_tokenizer("org/tiny", cache_dir=tmp_path / "hub")
    assert tokenizer is not None and "local Hugging Face cache" in how
    assert tokenizer("a man rides a horse .").input_ids
    missing, why = cached_tokenizer("org/absent", cache_dir=tmp_path / "hub")
    assert missing is None and "org/absent" in why
    assert base_model_name({"args": {"model_name": "t5-small"}}) == "t5-small"
    assert (
        base_model_name({"model_name": "../../etc"}) is None and base_model_name({"t5": "/abs/path"}) is None
    )


def test_hugging_face_folder_gives_the_same_outputs(tmp_path):
    folder = hf_folder(tmp_path, "attention")
    loaded = load_checkpoint(folder)
    assert loaded.format == "hf-dir"
    adapter = build_adapter(loaded)
    assert adapter.name == "textbridge-attention"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "t5"
    probe = load_probe(folder / "probe.npz")
    model, _ = tiny_bridge("attention")
    expected = model.eval().bridge_tokens(torch.from_numpy(probe.embeddings)).detach().numpy()
    np.testing.assert_allclose(adapter.bridge_outputs(probe.embeddings), expected, atol=1e-5)
    assert len(adapter.generate(probe.embeddings, SamplingConfig(max_new_tokens=4))) == probe.n


def test_attention_head_count_does_not_matter_with_one_key(tmp_path):
    model, _ = tiny_bridge("attention")
    one_head = TextBridge(EMBED_DIM, model.t5.config, "attention", num_queries=4, num_heads=1)
    one_head.load_state_dict(model.state_dict())
    x = torch.from_numpy(_embeddings())
    torch.testing.assert_close(one_head.eval().bridge_tokens(x), model.eval().bridge_tokens(x))


def test_encoder_outputs_feed_skips_the_t5_encoder():
    model, tokenizer_json = tiny_bridge("attention")
    direct = TextBridge(EMBED_DIM, model.t5.config, "attention", num_queries=4, feed="encoder_outputs")
    direct.load_state_dict(model.state_dict())
    model.eval()
    direct.eval()
    x = torch.from_numpy(_embeddings(3))
    inputs = direct.t5_inputs(x)
    torch.testing.assert_close(inputs["encoder_outputs"].last_hidden_state, direct.bridge_tokens(x))
    labels = load_tokenizer(tokenizer_json)(["a man rides a horse ."] * 3, return_tensors="pt").input_ids
    assert torch.isfinite(direct(x, labels)) and not torch.isclose(direct(x, labels), model(x, labels))
    with pytest.raises(ValueError, match="feed must be"):
        TextBridge(EMBED_DIM, model.t5.config, "attention", feed="decoder")  # type: ignore[arg-type]


def test_missing_projection_and_broken_tokenizer_are_clear_errors(tmp_path):
    path = seed_checkpoint(tmp_path, "attention")
    checkpoint = torch.load(path, weights_only=True)
    state = checkpoint["model_state_dict"]
    for key in ("projection.weight", "projection.bias"):
        del state[key]
    torch.save(checkpoint, tmp_path / "no_projection.pt")
    with pytest.raises(
        AdapterError, match="embedding size 16 differs from T5 d_model 32: needs a projection"
    ):
        open_adapter(str(tmp_path / "no_projection.pt"))
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["args"]["tokenizer_json"] = "{not json"
    torch.save(checkpoint, tmp_path / "bad_tokenizer.pt")
    with pytest.raises(AdapterError, match="the tokenizer cannot be read"):
        open_adapter(str(tmp_path / "bad_tokenizer.pt"))


def test_seed_like_file_with_full_tied_state_and_sibling_tokenizer(tmp_path):
    """E == d_model (no projection), every tied key saved, float32, tokenizer.json beside the file."""
    torch.manual_seed(0)
    tokenizer_json = train_tokenizer(["a man rides a horse .", "two dogs play ."])
    config = small_t5_config(len(load_tokenizer(tokenizer_json)), d_model=32, layers=1, d_kv=8, num_heads=4)
    model = TextBridge(32, config, "attention", num_queries=32, num_heads=8).eval()
    assert "t5.lm_head.weight" in model.state_dict() and "projection.weight" not in model.state_dict()
    path = tmp_path / "bridge_best.pt"
    torch.save(
        {"epoch": 9, "model_state_dict": model.state_dict(), "val_bleu": 1.5, "args": {"lr": 1e-4}}, path
    )
    (tmp_path / "tokenizer.json").write_text(tokenizer_json)
    adapter = open_adapter(str(path))
    assert adapter.name == "textbridge-attention" and adapter.spec().latent_dim == 32
    x = np.random.default_rng(0).normal(size=(3, 32)).astype(np.float32)
    expected = model.bridge_tokens(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(adapter.bridge_outputs(x), expected, atol=1e-6)
    ids = model.t5.generate(inputs_embeds=torch.from_numpy(expected), max_new_tokens=5, do_sample=False)
    decoded = [t.strip() for t in load_tokenizer(tokenizer_json).batch_decode(ids, skip_special_tokens=True)]
    assert adapter.generate(x, SamplingConfig(max_new_tokens=5)) == decoded
