"""Weight health: NaN/Inf counts, magnitudes, per-layer norms, BatchNorm variances, optimizer state."""

import json
import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

import core.metrics.health as health_module
from core.diagnosis.training import weight_findings
from core.io.checkpoints import load_checkpoint
from core.metrics.health import tensor_health, weight_health


def _state() -> dict[str, torch.Tensor]:
    return {
        "enc.0.weight": torch.tensor([[3.0, 4.0], [math.nan, 0.0]]),
        "enc.0.bias": torch.tensor([0.0, -12.0]),
        "head.weight": torch.tensor([math.inf, -math.inf, 1.0]),
        "bn.running_var": torch.tensor([1e-12, 2.0, 5.0]),
        "bn.num_batches_tracked": torch.tensor(7),
        "empty": torch.zeros(0),
    }


def test_tensor_health_by_hand():
    t = tensor_health("w", torch.tensor([[3.0, 4.0], [math.nan, -math.inf]]))
    assert (t.numel, t.nan, t.inf, t.max_abs, t.norm) == (4, 1, 1, 4.0, 5.0)  # norm over finite 3, 4
    all_nan = tensor_health("n", torch.full((3,), math.nan))
    assert all_nan.nan == 3 and math.isnan(all_nan.max_abs) and all_nan.norm == 0.0
    ints = tensor_health("i", torch.tensor([-3, 4]))
    assert (ints.nan, ints.max_abs, ints.norm) == (0, 4.0, 5.0)


def test_chunked_pass_counts_like_one_pass(monkeypatch):
    x = torch.arange(10, dtype=torch.float32) - 4.5
    x[[1, 8]] = math.nan
    whole = tensor_health("x", x)
    monkeypatch.setattr(health_module, "CHUNK", 3)
    chunked = tensor_health("x", x)
    assert replace(chunked, norm=0.0) == replace(whole, norm=0.0)  # counts and max are exact
    assert chunked.norm == pytest.approx(whole.norm, rel=1e-6)  # float32 sums per chunk


def test_fast_and_exact_passes_agree_on_every_dtype():
    x = torch.tensor([3.0, -4.0, 12.0])
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        t = tensor_health("w", x.to(dtype))
        assert (t.nan, t.inf, t.max_abs, t.norm) == (0, 0, 12.0, pytest.approx(13.0, rel=1e-3))
    big = tensor_health("b", torch.tensor([1e30, -1e30]))  # squares overflow float32: norm in float64
    assert big.norm == pytest.approx(math.sqrt(2) * 1e30)
    overflow = tensor_health("o", torch.full((4,), 3e38))  # the sum overflows but every entry is finite
    assert (overflow.nan, overflow.inf, overflow.max_abs) == (0, 0, pytest.approx(3e38))
    c = tensor_health("c", torch.tensor([3 + 4j, complex(math.nan, 0)]))
    assert (c.nan, c.max_abs) == (1, 5.0)


def test_integer_buffers_are_not_weights(tmp_path):
    state = {
        "bn.weight": torch.ones(4),
        "bn.running_var": torch.ones(4),
        "bn.num_batches_tracked": torch.tensor(250_000),
        "step_counter": torch.tensor([10**9]),
    }
    torch.save(state, tmp_path / "m.pt")
    health = weight_health(load_checkpoint(tmp_path / "m.pt"))
    assert health.max_abs == 1.0 and {t.name for t in health.weights} == {"bn.weight", "bn.running_var"}
    assert {r.layer: r.max_abs for r in health.layers}["bn"] == 1.0
    assert math.isnan({r.layer: r.max_abs for r in health.layers}["step_counter"])
    (finding,) = weight_findings(health)
    assert finding.severity == "ok" and "blow-up" not in finding.summary


def test_weight_health_groups_layers_and_bn(tmp_path):
    path = tmp_path / "ckpt_epoch_004.pt"
    torch.save(
        {"model_state_dict": _state(), "global_step": 123, "optimizer_state_dict": {"state": {1: {}}}}, path
    )
    health = weight_health(load_checkpoint(path))
    assert (health.nan, health.inf, health.healthy) == (1, 2, False)
    assert health.max_abs == 12.0
    assert (health.epoch, health.step, health.optimizer_state) == (4, 123, True)
    assert health.cards() == {
        "NaN weights": "1",
        "Inf weights": "2",
        "Max |w|": "12",
        "Optimizer state saved": "yes",
        "Epoch / step": "4 / 123",
    }
    layers = {r.layer: r for r in health.layers}
    assert layers["enc.0"].numel == 6 and layers["enc.0"].norm == pytest.approx(13.0)  # sqrt(25 + 144)
    assert layers["head"].inf == 2
    assert [t.name for t in health.nonfinite_tensors] == ["enc.0.weight", "head.weight"]
    (bn,) = health.running_vars
    assert (bn.name, bn.min, bn.max) == ("bn.running_var", pytest.approx(1e-12), 5.0)
    rows = health.rows()
    assert [r["layer"] for r in rows[:2]] == ["head", "enc.0"]  # the most non-finite values first
    assert set(rows[0]) == {"layer", "tensors", "parameters", "NaN", "Inf", "max |w|", "norm"}
    payload = json.loads(json.dumps(health.to_json()))  # strict JSON: no NaN literals
    assert payload["nan"] == 1 and payload["inf"] == 2 and payload["optimizer_state"] is True
    assert payload["nonfinite_tensors"][0] == {"name": "enc.0.weight", "nan": 1, "inf": 0, "numel": 4}


def test_explicit_optimizer_flag_and_plain_objects():
    loaded = SimpleNamespace(  # anything with the LoadedCheckpoint fields works
        path="x.pt",
        state_dict={"w": torch.ones(2), "alias": torch.ones(2)},
        tied={"alias": "w"},
        metadata={"epoch": 3.0, "step": 9},
        epoch=None,
    )
    health = weight_health(loaded, optimizer_state=False)
    assert [t.name for t in health.tensors] == ["w"]  # tied alias counted once
    assert (health.epoch, health.step, health.optimizer_state, health.healthy) == (3, 9, False, True)
