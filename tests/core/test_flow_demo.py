import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.adapters.registry import build_adapter
from core.demo import flow as demo
from core.demo.corpus import ATTRIBUTE_NAMES, demo_corpus, embed_sentences, generate_corpus, split_corpus
from core.io.checkpoints import load_checkpoint
from core.io.probe import find_probe, load_probe

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "demo"


def test_corpus_is_seeded_distinct_and_realises_its_attributes():
    texts, attributes = generate_corpus(400, seed=3)
    again_texts, again_attributes = generate_corpus(400, seed=3)
    assert texts == again_texts and np.array_equal(attributes, again_attributes)
    assert len(set(texts)) == 400 and attributes.shape == (400, 5) and attributes.dtype == np.int8
    assert 0.35 < attributes.mean() < 0.65
    col = dict(zip(ATTRIBUTE_NAMES, attributes.T, strict=True))
    for i, text in enumerate(texts):
        assert text.endswith("?") == bool(col["question"][i]), text
        assert ("not " in text or "n't " in text) == bool(col["negated"][i]), text
        if not col["past"][i]:
            assert not any(
                w in text.lower().split() for w in ("did", "didn't", "was", "wasn't", "were", "weren't")
            )
    assert generate_corpus(50, seed=4)[0] != generate_corpus(50, seed=3)[0]


def test_embed_sentences_minilm():
    z = embed_sentences(
        ["The cat sat on the mat.", "A cat was sitting on the mat.", "Stock prices fell sharply."]
    )
    assert z.shape == (3, 384) and z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    assert z[0] @ z[1] > z[0] @ z[2] + 0.3
    np.testing.assert_allclose(
        embed_sentences(["Stock prices fell sharply."], batch_size=1)[0], z[2], atol=1e-5
    )


def test_targets_flip_one_or_two_attributes_on_odd_batches():
    y0 = torch.randint(0, 2, (500, 5), generator=torch.Generator().manual_seed(0)).float()
    fixed = next(r for r in demo.RUNS if r.name == "fixed")
    gen = torch.Generator().manual_seed(1)
    assert torch.equal(demo._targets(y0, fixed, 0, gen), y0)
    changed = (demo._targets(y0, fixed, 1, gen) != y0).sum(1)
    assert set(changed.tolist()) == {1, 2} and 0.4 < (changed == 2).float().mean() < 0.6
    collapsed = next(r for r in demo.RUNS if r.name == "collapsed")
    random = demo._targets(y0, collapsed, 0, gen)
    assert 0.4 < (random != y0).float().mean() < 0.6


def test_detaching_prototypes_changes_gradients_not_values():
    gen = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(40, 8, generator=gen), dim=-1)
    y = torch.randint(0, 2, (40, 2), generator=gen).float()
    grads, values = [], []
    for detach in (False, True):
        leaf = z.clone().requires_grad_(True)
        contrastive, attraction = demo._prototype_losses(leaf, y, detach)
        contrastive.backward()
        grads.append(leaf.grad)
        values.append((contrastive.item(), attraction.item()))
    assert values[0] == pytest.approx(values[1])
    assert not torch.allclose(grads[0], grads[1])


def _tiny_run(tmp_path: Path, name: str) -> tuple[list[dict], Path]:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 16)).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    y = rng.integers(0, 2, size=(60, 3)).astype(np.int8)
    settings = replace(next(r for r in demo.RUNS if r.name == name), epochs=2, checkpoint_epochs=(1, 2))
    run_dir = tmp_path / name
    return demo.train_run(settings, z[:40], y[:40], ("a", "b", "c"), run_dir, (z[40:], y[40:])), run_dir


def test_train_run_writes_learning_to_flow_checkpoints_and_log(tmp_path):
    log, run_dir = _tiny_run(tmp_path, "fixed")
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "fclf_epoch_001.pt",
        "fclf_epoch_002.pt",
        "training_log.json",
    ]
    assert json.loads((run_dir / "training_log.json").read_text()) == log
    assert [row["epoch"] for row in log] == [1, 2] and log[-1]["step"] == 2
    assert {"contrastive", "attraction", "identity", "total", "val_loss"} <= set(log[0])
    loaded = load_checkpoint(run_dir / "fclf_epoch_002.pt")
    assert loaded.epoch == 2 and loaded.metadata["val_loss"] == pytest.approx(log[-1]["val_loss"])
    assert {
        k: loaded.config[k] for k in ("embedding_dim", "num_attributes", "hidden_dim", "steps", "alpha")
    } == {
        "embedding_dim": 16,
        "num_attributes": 3,
        "hidden_dim": demo.HIDDEN_DIM,
        "steps": demo.STEPS,
        "alpha": demo.ALPHA,
    }
    adapter = build_adapter(loaded)
    assert adapter.name == "fclf_network" and adapter.spec().attribute_names == ("a", "b", "c")
    assert adapter.flow_defaults() == (demo.STEPS, demo.ALPHA)


def test_train_run_is_reproducible(tmp_path):
    first, _ = _tiny_run(tmp_path / "one", "collapsed")
    second, _ = _tiny_run(tmp_path / "two", "collapsed")
    assert first == second


def test_split_is_disjoint_and_seeded():
    train, held_out = split_corpus(50, probe_rows=10)
    assert len(held_out) == 10 and not set(train) & set(held_out) and len(train) + len(held_out) == 50
    assert np.array_equal(held_out, split_corpus(50, probe_rows=10)[1])
    assert not np.array_equal(held_out, split_corpus(50, probe_rows=10, seed=1)[1])


@pytest.mark.skipif(not (ASSETS / "corpus.npz").is_file(), reason="demo corpus not built")
def test_shipped_corpus_format():
    assert (ASSETS / "corpus.npz").stat().st_size <= 5 * 2**20
    with np.load(ASSETS / "corpus.npz", allow_pickle=False) as npz:
        assert npz["embeddings"].dtype == np.float16 and npz["attributes"].dtype == np.int8
        assert npz["embeddings"].shape == (len(npz["texts"]), 384) and npz["attributes"].shape[1] == 5
    texts, z, _, names = demo_corpus(ASSETS)
    assert names == ATTRIBUTE_NAMES and len(set(texts)) == len(texts) >= 3000
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)


@pytest.mark.skipif(not (ASSETS / "corpus.npz").is_file(), reason="demo corpus not built")
def test_quick_build_writes_both_runs_with_probes(tmp_path):
    (tmp_path / "corpus.npz").write_bytes((ASSETS / "corpus.npz").read_bytes())
    demo.build(tmp_path, quick=True)
    for run in ("collapsed", "fixed"):
        folder = tmp_path / "flow" / run
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["fclf_epoch_001.pt", "fclf_epoch_002.pt", "probe.npz", "training_log.json"]
        probe = load_probe(find_probe(folder / "fclf_epoch_002.pt"))
        assert probe.embeddings.shape == (demo.PROBE_ROWS, 384) and probe.attributes.shape == (
            demo.PROBE_ROWS,
            5,
        )
        assert probe.attribute_names == ATTRIBUTE_NAMES and len(probe.texts) == demo.PROBE_ROWS
