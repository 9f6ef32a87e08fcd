"""Quantizers without a codebook tensor (FSQ, LFQ), found by what their forward returns.

The FSQ and LFQ modules below are written here from the shapes and behaviour of lucidrains'
vector-quantize-pytorch (`vector_quantize_pytorch/finite_scalar_quantization.py`: a non-persistent
int32 `_levels` buffer, `codebook_size = prod(levels)`, tanh bound then rounding, forward returns
`(codes, indices)` with int32 indices [B, N]; `vector_quantize_pytorch/lookup_free_quantization.py`: a
`mask` buffer of the powers of two, sign quantisation, forward returns the namedtuple
`Return(quantized, indices, entropy_aux_loss)`). Each sits in a tiny encoder / decoder whose encoder is
the identity on the quantised dimensions, so the probe below picks the codes used by construction;
zeroing the encoder's last layer sends every token to one code.
"""

import itertools
import json
from collections import namedtuple

import numpy as np
import pytest
import torch
from torch import nn

from core.adapters.live import adapter_from_module
from core.cli import main
from core.diagnosis import diagnose
from core.guard import CollapseGuard
from core.io.errors import AdapterError
from core.io.probe import ProbeData

LEVELS = [5, 5, 5]
K_FSQ = 125
BITS = 4
K_LFQ = 16
WIDTH = 4  # model inputs [N, T, WIDTH]
# z per FSQ level: tanh(z) * 2.002 rounds to -2, -1, 0, 1, 2
Z_OF_LEVEL = {-2: -3.0, -1: -0.549, 0: 0.0, 1: 0.549, 2: 3.0}

Return = namedtuple("Return", ["quantized", "indices", "entropy_aux_loss"])


class FSQ(nn.Module):
    """`levels_name` other than `_levels` and `state_k=False`: an FSQ that states K nowhere."""

    def __init__(self, levels: list[int], levels_name: str = "_levels", state_k: bool = True) -> None:
        super().__init__()
        self.levels_name = levels_name
        self.register_buffer(levels_name, torch.tensor(levels, dtype=torch.int32), persistent=False)
        basis = torch.cumprod(torch.tensor([1, *levels[:-1]]), dim=0).to(torch.int32)
        self.register_buffer("_basis", basis, persistent=False)
        if state_k:
            self.codebook_size = int(np.prod(levels))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        levels = getattr(self, self.levels_name)
        half_l = (levels - 1) * 1.001 / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        shift = (offset / half_l).atanh()
        level = ((z + shift).tanh() * half_l - offset).round()
        half_width = levels // 2
        indices = ((level + half_width) * self._basis).sum(dim=-1).to(torch.int32)
        return level / half_width, indices


class LFQ(nn.Module):
    def __init__(self, bits: int) -> None:
        super().__init__()
        self.register_buffer("mask", 2 ** torch.arange(bits - 1, -1, -1))
        self.register_buffer("zero", torch.tensor(0.0), persistent=False)

    def forward(self, x: torch.Tensor) -> Return:
        quantized = torch.where(x > 0, 1.0, -1.0)
        indices = ((x > 0).int() * self.mask.int()).sum(dim=-1)
        return Return(quantized, indices, self.zero)


class Model(nn.Module):
    """encoder (two Linear) -> quantizer -> decoder; forward returns (reconstruction, aux)."""

    def __init__(self, quantizer: str) -> None:
        super().__init__()
        dim = BITS if quantizer == "lfq" else len(LEVELS)
        self.encoder = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, dim))
        quantizers = {
            "fsq": lambda: FSQ(LEVELS),
            "lfq": lambda: LFQ(BITS),
            "fsq_hidden": lambda: FSQ(LEVELS, levels_name="grid", state_k=False),
        }
        self.quantizer = quantizers[quantizer]()
        self.decoder = nn.Linear(dim, WIDTH)
        with torch.no_grad():
            self.encoder[0].weight.copy_(torch.eye(WIDTH))
            self.encoder[0].bias.zero_()
            self.encoder[1].weight.copy_(torch.eye(dim, WIDTH))
            self.encoder[1].bias.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.quantizer(self.encoder(x))
        return self.decoder(out[0]), out[1]


def collapse(model: Model) -> Model:
    with torch.no_grad():
        model.encoder[1].weight.zero_()
        model.encoder[1].bias.zero_()
    return model


def build(loaded) -> nn.Module:
    """The --builder: the model class named in the checkpoint's config, weights loaded."""
    model = Model(loaded.config["quantizer"])
    model.load_state_dict(loaded.state_dict)
    return model


def fsq_probe() -> np.ndarray:
    """100 distinct FSQ level vectors (first level in -1..2, the others in -2..2), each twice, as 100
    inputs of 2 tokens: 200 tokens, more than K = 125, so one code used reads as collapse."""
    combos = [c for c in itertools.product(range(-2, 3), repeat=3) if c[0] != -2]
    z = np.array([[Z_OF_LEVEL[v] for v in c] for c in combos], np.float32)
    x = np.concatenate([z, np.zeros((len(z), WIDTH - 3), np.float32)], axis=1)
    return np.tile(x, (2, 1)).reshape(100, 2, WIDTH)


def lfq_probe() -> np.ndarray:
    """Each of the 16 sign patterns 3 times, one token per input."""
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=BITS)), np.float32)
    return np.tile(signs, (3, 1))[:, None, :]


def _save(tmp_path, model: Model, quantizer: str, x: np.ndarray) -> tuple[str, str]:
    ckpt, probe = tmp_path / f"{quantizer}.pt", tmp_path / f"{quantizer}_probe.npz"
    torch.save({"state_dict": model.state_dict(), "config": {"quantizer": quantizer}}, ckpt)
    np.savez(probe, x=x)
    return str(ckpt), str(probe)


def _diagnose(capsys, ckpt: str, probe: str) -> tuple[int, dict]:
    code = main(["diagnose", ckpt, "--builder", f"{__name__}:build", "--data", probe, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _codebook(report: dict) -> dict:
    (finding,) = [f for f in report["findings"] if f["kind"] == "codebook"]
    return finding


@pytest.mark.parametrize(
    ("quantizer", "probe", "k", "used", "collapsed_code"),
    [
        ("fsq", fsq_probe(), K_FSQ, 100, 2 * 1 + 2 * 5 + 2 * 25),  # level 0 everywhere: (0 + 2) * basis
        ("lfq", lfq_probe(), K_LFQ, 16, 0),  # no bit positive
    ],
)
def test_healthy_and_collapsed_models_through_the_cli(
    tmp_path, capsys, quantizer, probe, k, used, collapsed_code
):
    ckpt, data = _save(tmp_path, Model(quantizer), quantizer, probe)
    code, report = _diagnose(capsys, ckpt, data)
    finding = _codebook(report)
    assert code == 0 and report["adapter"] == "live_implicit_codebook"
    assert finding["severity"] == "ok"
    m = finding["metrics"]
    # every used code is hit equally often, so perplexity = used codes
    assert m["codebook_size"] == k and m["used_codes"] == used
    assert m["code_perplexity"] == pytest.approx(used)
    assert m["dead_code_fraction"] == pytest.approx((k - used) / k)
    assert "implicit codebook (no codebook tensor) of the quantizer quantizer" in finding["summary"]
    assert "found by its forward returning integer code indices" in finding["summary"]

    ckpt, data = _save(tmp_path, collapse(Model(quantizer)), quantizer, probe)
    code, report = _diagnose(capsys, ckpt, data)
    finding = _codebook(report)
    assert code == 1 and finding["severity"] == "collapse"
    assert finding["metrics"]["used_codes"] == 1 and finding["metrics"]["code_perplexity"] == pytest.approx(
        1.0
    )
    assert f"1 of {k} codes used" in finding["summary"]
    assert "no code can be reseeded" in finding["fix"]
    tokens = probe.shape[0] * probe.shape[1]
    codes = adapter_from_module(collapse(Model(quantizer)), probe_x=probe).code_indices(probe)
    assert codes.dtype == np.int64 and codes.shape == (probe.shape[0], probe.shape[1])
    assert (codes == collapsed_code).sum() == tokens


def test_k_stated_nowhere_gives_undefined_metrics_with_the_reason(tmp_path, capsys):
    ckpt, data = _save(tmp_path, Model("fsq_hidden"), "fsq_hidden", fsq_probe())
    code, report = _diagnose(capsys, ckpt, data)
    finding = _codebook(report)
    assert code == 3 and finding["severity"] == "undefined"
    m = finding["metrics"]
    assert m["used_codes"] == 100 and m["code_perplexity"] == pytest.approx(100)
    for key in ("codebook_size", "code_perplexity_ratio", "dead_code_fraction"):
        assert "the number of implicit codes K is unknown" in str(m[key])
    assert "100 codes used, perplexity 100.00, but FSQ has no int codebook_size" in finding["summary"]
    spec = adapter_from_module(Model("fsq_hidden"), probe_x=fsq_probe()).spec()
    assert spec.codebook_size is None and spec.supports_code_indices


def test_the_adapter_has_no_codebook_vectors_and_leaves_the_model_as_it_was():
    model = Model("fsq").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapter = adapter_from_module(model, family="codebook", probe_x=fsq_probe())
    spec = adapter.spec()
    assert spec.codebook_size == K_FSQ and spec.codebook_count == 1 and "implicit codebook" in spec.parts
    assert "K = 125 from its codebook_size attribute" in spec.description
    with pytest.raises(NotImplementedError, match="keeps no codebook tensor"):
        adapter.codebook()
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks for m in model.modules())
    lfq = adapter_from_module(Model("lfq"), probe_x=lfq_probe()).spec()
    assert lfq.codebook_size == K_LFQ and "its 4-bit sign mask" in lfq.description


def test_a_bare_quantizer_is_found_and_no_quantizer_keeps_todays_message():
    bare = adapter_from_module(FSQ(LEVELS), probe_x=np.zeros((3, 2, 3), np.float32))
    assert bare.spec().codebook_size == K_FSQ
    np.testing.assert_array_equal(bare.code_indices(np.zeros((3, 2, 3), np.float32)), np.full((3, 2), 62))
    plain = nn.Sequential(nn.Linear(3, 3))
    with pytest.raises(AdapterError, match="no known part; roles found: nothing"):
        adapter_from_module(plain, probe_x=np.zeros((2, 3), np.float32))
    with pytest.raises(AdapterError, match="no known part; roles found: nothing"):
        adapter_from_module(Model("fsq"))  # no probe x: nothing to run the search on


def test_weights_alone_say_no_codebook_tensor_and_ask_for_a_builder(tmp_path, capsys):
    ckpt, data = _save(tmp_path, Model("fsq"), "fsq", fsq_probe())
    assert main(["diagnose", ckpt, "--data", data]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "FSQ / LFQ-style quantizers keep no codebook tensor" in err
    assert "--builder" in err


def test_the_guard_finds_the_collapsed_fsq_model():
    guard = CollapseGuard(fsq_probe(), every_n_steps=1, families=("codebook",), on_collapse="stop")
    with pytest.warns(UserWarning, match="collapse at step"):
        check = guard.check(collapse(Model("fsq")), 1)
    (finding,) = check.findings
    assert finding.severity == "collapse" and finding.metrics["used_codes"] == 1
    assert check.adapters == ("live_implicit_codebook",) and guard.should_stop
    healthy = CollapseGuard(fsq_probe(), every_n_steps=1, families=("codebook",)).check(Model("fsq"), 1)
    assert healthy.findings[0].severity == "ok" and healthy.findings[0].metrics["used_codes"] == 100


class TwoLevels(nn.Module):
    """Two FSQs of one K read as heads (the first fed zeros: collapsed), an LFQ of another K named only."""

    def __init__(self) -> None:
        super().__init__()
        self.coarse, self.fine, self.bits = FSQ(LEVELS), FSQ(LEVELS), LFQ(BITS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        coarse, coarse_idx = self.coarse(torch.zeros_like(x[..., :3]))
        fine, fine_idx = self.fine(x[..., :3])
        bits = self.bits(x)
        return coarse + fine, coarse_idx, fine_idx, bits.indices


def test_quantizers_of_one_size_are_heads_and_the_worst_speaks():
    x = fsq_probe()
    adapter = adapter_from_module(TwoLevels(), probe_x=x)
    spec = adapter.spec()
    assert spec.codebook_count == 2 and spec.codebook_size == K_FSQ
    assert (
        "not measured (another K): implicit codebook (no codebook tensor) of the quantizer bits"
        in spec.description
    )
    coarse, fine = adapter.code_indices_per_head(x)
    assert np.unique(coarse).tolist() == [62] and len(np.unique(fine)) == 100
    (finding,) = diagnose(adapter, ProbeData(x=x)).findings
    assert finding.severity == "collapse" and finding.metrics["worst_head"] == 0
    assert finding.metrics["used_codes"] == 1 and finding.metrics["codebook_heads"] == 2


def test_k_is_not_read_from_an_integer_buffer_longer_than_any_quantiser():
    from core.adapters.live.implicit import MAX_QUANTISED_DIMS, implicit_size

    long = nn.Module()
    long.register_buffer("mask", 2 ** torch.arange(MAX_QUANTISED_DIMS + 1))
    long.levels = torch.full((MAX_QUANTISED_DIMS + 1,), 2)
    size, why = implicit_size(long)
    assert size is None and "K is unknown" in why
    short = nn.Module()
    short.register_buffer("mask", 2 ** torch.arange(4))
    assert implicit_size(short) == (16, "its 4-bit sign mask (2**4)")
