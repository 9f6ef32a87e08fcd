import json
import zipfile
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import save_file

from core.io.checkpoints import load_checkpoint
from core.io.errors import CheckpointError, NeedsTrustError
from core.io.unpickle import list_tensors_safely
from tests.conftest import folder_snapshot


class _RunsCode:
    """Pickles to a call of exec: loading it fully would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_plain_state_dict_with_ddp_and_compile_prefixes(tmp_path, small_mlp):
    sd = {f"module._orig_mod.{k}": v for k, v in small_mlp.state_dict().items()}
    torch.save(
        {"epoch": 7, "model_state_dict": sd, "optimizer_state_dict": {"state": {}, "param_groups": [{}]}},
        tmp_path / "m.pt",
    )
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.format == "torch"
    assert list(loaded.state_dict) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert set(loaded.stripped_prefixes) == {"module.", "_orig_mod."}
    assert loaded.epoch == 7 and loaded.has_optimizer
    assert loaded.parameter_count == 4 * 3 + 3 + 3 + 3


def test_inner_root_folder_name_does_not_matter(tmp_path, small_mlp):
    src = tmp_path / "orig.pt"
    torch.save(small_mlp.state_dict(), src)
    renamed = tmp_path / "renamed.pt"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(renamed, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            _, rest = info.filename.split("/", 1)
            zout.writestr(f"totally_other_root/{rest}", zin.read(info))
    assert load_checkpoint(renamed).shapes() == load_checkpoint(src).shapes()


def test_state_dict_discovery_order_and_components(tmp_path, small_mlp):
    sd = small_mlp.state_dict()
    torch.save({"model": sd, "state_dict": {"a.weight": torch.ones(2, 2)}}, tmp_path / "order.pt")
    assert list(load_checkpoint(tmp_path / "order.pt").state_dict) == ["a.weight"]
    torch.save({"vae_state_dict": sd, "optimizer_state_dict": {}}, tmp_path / "suffix.pt")
    assert list(load_checkpoint(tmp_path / "suffix.pt").components) == ["vae"]
    torch.save(
        {
            "encoder": sd,
            "quantizer": {"_embedding.weight": torch.zeros(8, 3)},
            "optimizer": {"state": {}},
            "epoch": 2,
            "config": {"k": 8},
        },
        tmp_path / "components.pt",
    )
    loaded = load_checkpoint(tmp_path / "components.pt")
    assert list(loaded.components) == ["encoder", "quantizer"]
    assert "quantizer._embedding.weight" in loaded.state_dict
    assert loaded.config == {"k": 8} and loaded.config_source == "in-file 'config'"


def test_an_ema_copy_beside_the_weights_is_named_not_read(tmp_path, small_mlp):
    sd = small_mlp.state_dict()
    ema = {k: v + 1 for k, v in sd.items()}
    torch.save({"model": sd, "model_ema": ema, "step": 10}, tmp_path / "beside.pt")
    loaded = load_checkpoint(tmp_path / "beside.pt")
    assert all(torch.equal(loaded.state_dict[k], v) for k, v in sd.items())
    assert loaded.metadata["ema_copy"].startswith(f"model_ema ({len(sd)} tensors): an EMA copy")
    lit_ema = {**sd, **{"model_ema." + k.replace(".", ""): v for k, v in ema.items()}}
    torch.save({"state_dict": lit_ema, "global_step": 5}, tmp_path / "inside.ckpt")
    assert (
        load_checkpoint(tmp_path / "inside.ckpt").metadata["ema_copy"].startswith(f"model_ema.* ({len(sd)}")
    )
    # An EMA dict that is all the file holds, or one read as a component, is what was read: no note.
    torch.save({"ema": sd}, tmp_path / "only.pt")
    torch.save({"net": sd, "ema": ema}, tmp_path / "both.pt")
    for name in ("only.pt", "both.pt"):
        assert "ema_copy" not in load_checkpoint(tmp_path / name).metadata


def test_lightning_with_omegaconf_hparams_uses_allow_list(tmp_path):
    hparams = OmegaConf.create({"latent_dim": 8, "layers": [64, 32]})
    sd = {"vae.encoder.0.weight": torch.zeros(4, 4), "vae.fc_mu.weight": torch.zeros(2, 4)}
    ckpt = {
        "state_dict": sd,
        "hyper_parameters": hparams,
        "pytorch-lightning_version": "2.4",
        "epoch": 3,
        "global_step": 90,
    }
    torch.save(ckpt, tmp_path / "last.ckpt")
    loaded = load_checkpoint(tmp_path / "last.ckpt")
    assert loaded.format == "lightning"
    assert set(loaded.state_dict) == {"encoder.0.weight", "fc_mu.weight"}
    assert loaded.config == {"latent_dim": 8, "layers": [64, 32]}
    assert "omegaconf.dictconfig.DictConfig" in loaded.allow_listed
    assert loaded.metadata["global_step"] == 90


def test_lightning_keeps_sequential_prefix(tmp_path):
    sd = {"network.0.weight": torch.zeros(4, 4), "network.3.weight": torch.zeros(4, 4)}
    torch.save({"state_dict": sd, "pytorch-lightning_version": "2.4", "global_step": 1}, tmp_path / "x.ckpt")
    assert set(load_checkpoint(tmp_path / "x.ckpt").state_dict) == set(sd)


def test_safetensors_and_hf_directory(tmp_path):
    save_file({"w": torch.ones(3, 2)}, tmp_path / "m.safetensors", metadata={"config": json.dumps({"d": 3})})
    loaded = load_checkpoint(tmp_path / "m.safetensors")
    assert loaded.format == "safetensors" and loaded.config == {"d": 3} and loaded.shapes() == {"w": (3, 2)}
    hf = tmp_path / "hf"
    hf.mkdir()
    save_file({"shared.weight": torch.ones(5, 2)}, hf / "model.safetensors")
    (hf / "config.json").write_text(json.dumps({"d_model": 2}))
    loaded = load_checkpoint(hf)
    assert loaded.format == "hf-dir" and loaded.config == {"d_model": 2}


def test_hf_directory_with_pytorch_bin(tmp_path):
    hf = tmp_path / "hf"
    hf.mkdir()
    torch.save({"lm_head.weight": torch.ones(5, 2)}, hf / "pytorch_model.bin")
    assert load_checkpoint(hf).shapes() == {"lm_head.weight": (5, 2)}


def test_bare_tensor_is_data(tmp_path):
    torch.save(torch.randn(10, 4), tmp_path / "emb.pt")
    loaded = load_checkpoint(tmp_path / "emb.pt")
    assert loaded.format == "tensor-data" and loaded.state_dict == {}
    assert tuple(loaded.data_tensors["tensor"].shape) == (10, 4)


def test_tied_storages_counted_once(tmp_path):
    emb = torch.nn.Embedding(10, 4)
    torch.save(
        {"shared.weight": emb.weight, "lm_head.weight": emb.weight, "b": torch.ones(2)}, tmp_path / "t.pt"
    )
    loaded = load_checkpoint(tmp_path / "t.pt")
    assert loaded.tied == {"lm_head.weight": "shared.weight"}
    assert loaded.parameter_count == 42


def test_config_discovery_from_siblings(tmp_path, small_mlp):
    ckpts = tmp_path / "run" / "ckpts"
    ckpts.mkdir(parents=True)
    torch.save(small_mlp.state_dict(), ckpts / "a.pt")
    (tmp_path / "run" / ".hydra").mkdir()
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text("model:\n  latent_dim: 16\n")
    loaded = load_checkpoint(ckpts / "a.pt")
    assert loaded.config == {"model": {"latent_dim": 16}} and loaded.config_source.endswith("config.yaml")
    (ckpts / "a.json").write_text(json.dumps({"hidden": 5}))
    assert load_checkpoint(ckpts / "a.pt").config == {"hidden": 5}


def test_in_file_config_wins_and_sibling_fills_the_rest(tmp_path, small_mlp):
    torch.save({"model_state_dict": small_mlp.state_dict(), "config": {"hidden": 3}}, tmp_path / "a.pt")
    (tmp_path / "config.json").write_text(json.dumps({"hidden": 99, "activation": "elu"}))
    loaded = load_checkpoint(tmp_path / "a.pt")
    assert loaded.config == {"hidden": 3, "activation": "elu"}
    assert loaded.config_source.startswith("in-file 'config' + ") and loaded.config_source.endswith(
        "config.json"
    )


def test_user_given_config(tmp_path, small_mlp):
    torch.save(small_mlp.state_dict(), tmp_path / "a.pt")
    (tmp_path.parent / f"{tmp_path.name}-cfg.json").write_text(json.dumps({"x": 1}))
    loaded = load_checkpoint(tmp_path / "a.pt", config_path=tmp_path.parent / f"{tmp_path.name}-cfg.json")
    assert loaded.config == {"x": 1}


def test_code_running_pickle_is_refused_and_listed(tmp_path, small_mlp):
    marker = tmp_path.parent / f"{tmp_path.name}-marker"
    torch.save({"state_dict": small_mlp.state_dict(), "callback": _RunsCode(marker)}, tmp_path / "evil.pt")
    with pytest.raises(NeedsTrustError, match="trust") as info:
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    assert "exec" in str(info.value)
    assert {t.name: t.shape for t in info.value.listing} == {
        "state_dict.0.weight": (3, 4),
        "state_dict.0.bias": (3,),
        "state_dict.1.weight": (3,),
        "state_dict.1.bias": (3,),
    }
    _, refused = list_tensors_safely(tmp_path / "evil.pt")
    assert any("exec" in r for r in refused) and not marker.exists()
    load_checkpoint(tmp_path / "evil.pt", trust=True)
    assert marker.read_text() == "ran"  # the switch really does unpickle fully


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("empty.pt", lambda p: p.write_bytes(b""), "empty"),
        ("image.pt", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64)), "PNG image"),
        ("scalars.pt", lambda p: torch.save({"loss": torch.tensor(1.0), "acc": torch.tensor(0.5)}, p), "0-d"),
        ("one.pt", lambda p: torch.save(torch.tensor(3.0), p), "0-d"),
        ("text.pt", lambda p: p.write_text("hello world, not a checkpoint"), "not a recognised"),
        ("list.pt", lambda p: torch.save([1, 2, 3], p), "not a state dict"),
        ("nostate.pt", lambda p: torch.save({"epoch": 1, "note": "x"}, p), "no weights"),
    ],
)
def test_bad_files_give_clear_messages(tmp_path, name, make, message):
    make(tmp_path / name)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / name)


def test_truncated_zip(tmp_path, small_mlp):
    torch.save(small_mlp.state_dict(), tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.pt")


def test_directories_without_weights(tmp_path, small_mlp):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(CheckpointError, match=r"no weights: looked for model\.safetensors"):
        load_checkpoint(tmp_path)
    torch.save(small_mlp.state_dict(), tmp_path / "ep1.pt")
    torch.save(small_mlp.state_dict(), tmp_path / "ep2.pt")
    with pytest.raises(CheckpointError, match="2 checkpoint files"):
        load_checkpoint(tmp_path)


def test_loading_writes_nothing_beside_the_checkpoint(tmp_path, small_mlp):
    torch.save({"model_state_dict": small_mlp.state_dict()}, tmp_path / "m.pt")
    (tmp_path / "bad.pt").write_bytes(b"\x89PNG" + bytes(10))
    before = folder_snapshot(tmp_path)
    load_checkpoint(tmp_path / "m.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "bad.pt")
    assert folder_snapshot(tmp_path) == before


def test_trusted_pickle_of_a_missing_class_is_a_message(tmp_path, small_mlp):
    import sys
    import types

    module = types.ModuleType("vanishing_module_for_test")

    class Gone:
        pass

    Gone.__module__, Gone.__qualname__ = module.__name__, "Gone"
    module.Gone = Gone
    sys.modules[module.__name__] = module
    try:
        torch.save({"state_dict": small_mlp.state_dict(), "extra": Gone()}, tmp_path / "gone.pt")
    finally:
        del sys.modules[module.__name__]
    with pytest.raises(NeedsTrustError, match=r"vanishing_module_for_test\.Gone") as info:
        load_checkpoint(tmp_path / "gone.pt")
    assert len(info.value.listing) == 4  # an object built without __init__ does not stop the listing
    with pytest.raises(CheckpointError, match=r"cannot read gone\.pt"):
        load_checkpoint(tmp_path / "gone.pt", trust=True)
