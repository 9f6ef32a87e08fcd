"""Every registered adapter passes the same contract (see core/adapters/base.py).

Each family provides `tests/adapters/cases_<family>.py` with CASES: adapter name -> function that
writes a small checkpoint into a folder and returns its path.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.adapters.base import AdapterSpec, CheckpointAdapter
from core.adapters.registry import build_adapter, detect, load_all
from core.io.checkpoints import load_checkpoint
from core.io.probe import find_probe, load_probe
from tests.conftest import folder_snapshot

CASES: dict[str, Callable[[Path], Path]] = {}
for module in sorted(Path(__file__).parent.glob("cases_*.py")):
    CASES.update(importlib.import_module(f"tests.adapters.{module.stem}").CASES)

ADAPTERS = sorted(load_all())


def test_every_adapter_has_a_case():
    assert ADAPTERS, "no adapters registered"
    assert sorted(set(ADAPTERS) - set(CASES)) == []


@pytest.fixture(params=ADAPTERS)
def built(request, tmp_path) -> tuple[str, Path, CheckpointAdapter]:
    name = request.param
    if name not in CASES:
        pytest.fail(f"adapter {name} has no conformance case")
    path = CASES[name](tmp_path)
    before = folder_snapshot(tmp_path)
    adapter = build_adapter(load_checkpoint(path))
    assert folder_snapshot(tmp_path) == before, "building an adapter wrote into the checkpoint folder"
    return name, path, adapter


def test_detection_picks_exactly_this_adapter(built):
    name, path, adapter = built
    loaded = load_checkpoint(path)
    assert detect(loaded.shapes(), loaded.config) == name
    assert adapter.name == name
    matching = [other for other, cls in load_all().items() if cls.detect(loaded.shapes(), loaded.config)]
    assert matching == [name], f"layout also matched by {matching}"


def test_from_checkpoint_and_spec(built):
    name, path, adapter = built
    cls = load_all()[name]
    again = cls.from_checkpoint(path)
    spec = adapter.spec()
    assert isinstance(spec, AdapterSpec) and spec == again.spec()
    assert spec.family == cls.family
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.family = "other"  # type: ignore[misc]


def _inputs(adapter: CheckpointAdapter) -> dict[str, tuple]:
    spec = adapter.spec()
    rng = np.random.default_rng(0)
    d = spec.latent_dim or 4
    z = rng.normal(size=(6, d)).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    y = rng.integers(0, 2, size=(6, max(len(spec.attribute_names), 1))).astype(np.float32)
    from core.config import SamplingConfig

    latent = rng.normal(size=(6, spec.latent_dim or 4)).astype(np.float32)
    x = np.zeros((6, d), dtype=np.float32)

    inputs: dict[str, tuple] = {
        "flow": (z, y, 3, 0.5),
        "code_usage": (),
        "posterior": (x,),
        "decode": (latent,),
        "code_indices": (x,),
        "complete": (["red cat", "a fish"], SamplingConfig(max_new_tokens=6)),
    }
    if spec.family == "text":
        inputs["generate"] = (z, SamplingConfig(max_new_tokens=6))
    else:
        inputs["generate"] = (z, None)
    return inputs


CAPABILITIES = {
    "flow": "supports_flow",
    "generate": "supports_generation",
    "code_usage": "supports_code_usage",
    "posterior": "supports_posterior",
    "decode": "supports_decode",
    "code_indices": "supports_code_indices",
    "complete": "supports_prompts",
}


def _probe_x(path: Path) -> np.ndarray:
    """Model inputs x of the probe a case writes beside a model that reads inputs."""
    found = find_probe(path)
    x = load_probe(found).x if found is not None else None
    assert x is not None, "a case whose adapter reads model inputs writes probe x beside its checkpoint"
    return x


def test_every_capability_is_declared_by_one_spec_flag():
    flags = {f.name for f in dataclasses.fields(AdapterSpec) if f.name.startswith("supports_")}
    assert set(CAPABILITIES.values()) == flags
    assert all(hasattr(CheckpointAdapter, method) for method in CAPABILITIES)


def test_unsupported_capabilities_raise_naming_the_adapter(built):
    name, _, adapter = built
    spec = adapter.spec()
    inputs = _inputs(adapter)
    unsupported = [m for m, flag in CAPABILITIES.items() if not getattr(spec, flag)]
    for method in unsupported:
        with pytest.raises(NotImplementedError, match=name):
            getattr(adapter, method)(*inputs.get(method, ()))


def test_supported_capabilities_return_numpy_and_repeat(built):
    _, _, adapter = built
    spec = adapter.spec()
    inputs = _inputs(adapter)
    if spec.supports_flow:
        z, y, steps, alpha = inputs["flow"]
        out = adapter.flow(z, y, steps, alpha)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (steps + 1, *z.shape)
        np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(out, adapter.flow(z, y, steps, alpha))
    if spec.supports_generation:
        z, config = inputs["generate"]
        texts = adapter.generate(z, config)
        assert isinstance(texts, list) and len(texts) == len(z) and all(isinstance(t, str) for t in texts)
        assert texts == adapter.generate(z, config)
    if spec.supports_prompts:
        prompts, config = inputs["complete"]
        texts = adapter.complete(prompts, config)
        assert (
            isinstance(texts, list) and len(texts) == len(prompts) and all(isinstance(t, str) for t in texts)
        )
        assert texts == adapter.complete(prompts, config)
    if spec.supports_code_usage:
        usage = adapter.code_usage()
        assert isinstance(usage, np.ndarray) and usage.shape == (
            max(spec.codebook_count, 1),
            spec.codebook_size,
        )
        assert (usage >= 0).all()
    assert spec.family in ("flow", "text", "codebook", "posterior", "language")


def test_declared_model_input_capabilities_return_numpy_and_repeat(built):
    """posterior, decode and code_indices, run on the case's probe x wherever the spec declares them."""
    _, path, adapter = built
    spec = adapter.spec()
    declared = [spec.supports_posterior, spec.supports_decode, spec.supports_code_indices]
    if not any(declared):
        pytest.skip(f"{adapter.name} reads no model inputs")
    x = _probe_x(path)
    if spec.supports_posterior:
        mu, logvar = adapter.posterior(x)
        assert spec.latent_dim is not None
        for part in (mu, logvar):
            assert isinstance(part, np.ndarray) and part.dtype == np.float32
            assert part.shape == (len(x), spec.latent_dim) and np.isfinite(part).all()
        again = adapter.posterior(x)
        np.testing.assert_array_equal(mu, again[0])
        np.testing.assert_array_equal(logvar, again[1])
    if spec.supports_decode:
        if spec.family == "codebook":  # a VQ decoder reads the code vectors the encoder's indices pick
            z = adapter.codebook()[0][adapter.code_indices(x)].reshape(len(x), -1)  # type: ignore[attr-defined]
        else:
            z = adapter.posterior(x)[0]  # the posterior means
        decoded = adapter.decode(z)
        assert isinstance(decoded, np.ndarray) and len(decoded) == len(z) and np.isfinite(decoded).all()
        np.testing.assert_array_equal(decoded, adapter.decode(z))
    if spec.supports_code_indices:
        codes = adapter.code_indices(x)
        assert isinstance(codes, np.ndarray) and codes.dtype == np.int64 and len(codes) == len(x)
        assert spec.codebook_size is not None and codes.min() >= 0 and codes.max() < spec.codebook_size
        np.testing.assert_array_equal(codes, adapter.code_indices(x))
