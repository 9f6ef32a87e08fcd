"""Device choice (issue 13): CPU by default, CUDA only when torch sees it, a clear exit 2 otherwise.

No GPU is needed: CUDA is switched off with monkeypatch so the tests mean the same on a GPU machine.
"""

import json

import numpy as np
import pytest
import torch

from core.adapters import flow as vectorfield
from core.adapters.flow import FlowNetworkAdapter
from core.adapters.registry import open_adapter
from core.cli import main
from core.models.device import DeviceError, available_devices, limit_threads, resolve_device
from core.models.flow import flow
from tests.adapters.cases_flow import network_case


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_cpu_is_the_default_and_auto_falls_back_to_it(no_cuda):
    assert resolve_device(None) == resolve_device("cpu") == resolve_device(" CPU ") == "cpu"
    assert resolve_device("auto") == "cpu"
    assert available_devices() == ["cpu"]


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_is_bad_input(no_cuda, name):
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device(name)


@pytest.mark.parametrize("name", ["gpu", "cuda0", "tpu", "cpu:1"])
def test_unknown_device_names_are_bad_input(name):
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device(name)


def test_cuda_index_beyond_the_gpus_is_bad_input(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == "cuda:0" and resolve_device("auto") == "cuda"
    with pytest.raises(DeviceError, match="torch sees 1 CUDA GPU"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("command", ["diagnose", "report"])
def test_cli_device_cuda_without_cuda_exits_2_with_one_line(no_cuda, tmp_path, capsys, command):
    checkpoint = network_case(tmp_path)
    assert main([command, str(checkpoint), "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: device 'cuda' was asked for")


def test_cli_device_cpu_diagnoses_as_before(tmp_path, capsys):
    checkpoint = network_case(tmp_path)
    outputs = []
    for extra in ([], ["--device", "cpu"], ["--device", "auto"]):
        code = main(["diagnose", str(checkpoint), "--json", *extra])
        outputs.append((code, json.loads(capsys.readouterr().out)))
    assert outputs[0] == outputs[1]
    assert outputs[0][1]["adapter"] == "fclf_network" and outputs[0][0] in (0, 1)
    if not torch.cuda.is_available():
        assert outputs[2] == outputs[0]


def test_adapters_record_their_device(no_cuda, tmp_path):
    checkpoint = network_case(tmp_path)
    adapter = open_adapter(str(checkpoint))
    assert adapter.device == "cpu" and adapter.field_fn() is adapter._module
    assert FlowNetworkAdapter.from_checkpoint(checkpoint).device == "cpu"
    with pytest.raises(DeviceError):
        FlowNetworkAdapter.from_checkpoint(checkpoint, device="cuda")
    with pytest.raises(DeviceError):
        open_adapter(str(checkpoint), device="cuda")


def test_adapter_flow_in_row_chunks_equals_one_pass(tmp_path, monkeypatch):
    checkpoint = network_case(tmp_path)
    adapter = open_adapter(str(checkpoint))
    rng = np.random.default_rng(0)
    z = rng.normal(size=(301, 12)).astype(np.float32)
    y = rng.integers(0, 2, (301, 3)).astype(np.float32)
    with torch.inference_mode():
        whole = flow(adapter._module, torch.from_numpy(z), torch.from_numpy(y), 6, 0.2).numpy()
    monkeypatch.setattr(vectorfield, "FLOW_CHUNK_ELEMENTS", 7 * 12 * 40)  # 40 rows per chunk
    chunked = adapter.flow(z, y, 6, 0.2)
    assert chunked.shape == (7, 301, 12) and chunked.dtype == np.float32
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_limit_threads_sets_torch_and_blas_pools(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    before = torch.get_num_threads()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    try:
        monkeypatch.setenv("COLLAPSE_EXPLORER_THREADS", "1")
        assert limit_threads(default=2) == 1 and torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        monkeypatch.setenv("COLLAPSE_EXPLORER_THREADS", "nonsense")
        assert limit_threads(default=2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
        threadpool_limits(limits=before)
