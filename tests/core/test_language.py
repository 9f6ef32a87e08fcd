"""The language family end to end: HF folders (GPT-2 and Llama), a plain torch file, PEFT LoRA adapters,
the CLI's verdicts and exit codes, inspect, and hostile folders that must run no code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.cli import main
from core.metrics.language import longest_loop, prompt_sensitivity, repetition_metrics
from tests import language_fixtures as lf


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("language")
    for arch in ("gpt2", "llama"):
        for behaviour in ("healthy", "collapsed"):
            lf.hf_folder(tmp, arch, behaviour)
    lf.hf_folder(tmp, "gpt2", "looping")
    lf.lora_folder(tmp, tmp / "gpt2_healthy", trained=True, name="lora_trained")
    lf.lora_folder(tmp, tmp / "gpt2_healthy", trained=False, name="lora_zero")
    lf.lora_folder(tmp, tmp / "gpt2_healthy", trained=True, name="lora_hub", relative_base=False)
    lf.torch_checkpoint(tmp, "collapsed")
    return tmp


def _diagnose(capsys, *args: str) -> tuple[int, dict]:
    code = main(["diagnose", *args, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else {"stderr": out.err}


def _finding(report: dict, kind: str) -> dict:
    return next(f for f in report["findings"] if f["kind"] == kind)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_mode_collapse_exit_1_and_healthy_exit_0(zoo, capsys, arch):
    code, report = _diagnose(
        capsys, str(zoo / f"{arch}_collapsed"), "--data", str(zoo / f"{arch}_collapsed/prompts.npz")
    )
    mode = _finding(report, "mode")
    assert code == 1 and mode["severity"] == "collapse"
    assert mode["metrics"]["most_common_output"] == "answer is always yes"
    assert mode["metrics"]["most_common_share"] == 1.0 and mode["metrics"]["prompt_sensitivity"] == 0.0
    assert report["adapter"] == "language-model"
    code, report = _diagnose(
        capsys, str(zoo / f"{arch}_healthy"), "--data", str(zoo / f"{arch}_healthy/prompts.npz")
    )
    mode = _finding(report, "mode")
    assert code == 0 and mode["severity"] == "ok"
    assert mode["metrics"]["unique_output_ratio"] == 1.0
    # prompt "red cat": the chain continues after "cat" and stops at the end of its group of 8 words
    assert "dog bird fish" in mode["summary"] or mode["metrics"]["most_common_share"] == 0.125
    assert _finding(report, "repetition")["severity"] == "ok"


def test_repetition_on_a_looping_model(zoo, capsys):
    code, report = _diagnose(
        capsys, str(zoo / "gpt2_looping"), "--data", str(zoo / "gpt2_looping/prompts.npz")
    )
    rep = _finding(report, "repetition")
    assert code == 1 and rep["severity"] == "collapse"
    assert rep["metrics"]["looping_share"] == 1.0 and rep["metrics"]["longest_loop"] == 32
    assert _finding(report, "mode")["severity"] == "ok"  # each prompt loops on its own last word


def test_plain_torch_file_with_config_dict(zoo, capsys):
    path = zoo / "plain_collapsed" / "lm_step_100.pt"
    code, report = _diagnose(capsys, str(path), "--data", str(zoo / "gpt2_collapsed/prompts.npz"))
    assert code == 1 and _finding(report, "mode")["severity"] == "collapse"


def test_no_probe_uses_the_builtin_prompts_and_says_so(zoo, capsys):
    _, report = _diagnose(capsys, str(zoo / "gpt2_collapsed"))
    mode = _finding(report, "mode")
    assert "built-in neutral prompts" in mode["summary"] and mode["metrics"]["inputs"] == 8


def test_lora_zero_b_is_collapse_with_and_without_prompts(zoo, capsys):
    folder = zoo / "lora_zero"
    for extra in ([], ["--data", str(folder / "prompts.npz")]):
        code, report = _diagnose(capsys, str(folder), *extra)
        adapter = _finding(report, "adapter")
        assert code == 1 and adapter["severity"] == "collapse"
        assert "changes nothing" in adapter["summary"] and adapter["metrics"]["zero_b_share"] == 1.0
        assert adapter["metrics"]["changed_share"] == 0.0


def test_trained_lora_is_ok_and_changes_five_of_eight_prompts(zoo, capsys):
    folder = zoo / "lora_trained"
    code, report = _diagnose(capsys, str(folder), "--data", str(folder / "prompts.npz"))
    adapter = _finding(report, "adapter")
    assert code == 0 and adapter["severity"] == "ok"
    assert adapter["metrics"]["changed_share"] == 5 / 8
    # ||B·A||·(alpha/r) = 40·sqrt(2)·2 against ||W_base|| = 10·sqrt(40)
    assert adapter["metrics"]["relative_update"] == pytest.approx(80 * 2**0.5 / (10 * 40**0.5))


def test_lora_without_its_base_judges_the_weights_alone(zoo, capsys):
    folder = zoo / "lora_hub"  # names a hub id: never fetched
    code, report = _diagnose(capsys, str(folder))
    adapter = _finding(report, "adapter")
    assert code == 0 and adapter["severity"] == "ok" and "weight-only" in adapter["summary"]
    assert _finding(report, "mode")["severity"] == "undefined"
    code, report = _diagnose(
        capsys, str(folder), "--base", str(zoo / "gpt2_healthy"), "--data", str(folder / "prompts.npz")
    )
    assert code == 0 and _finding(report, "adapter")["metrics"]["changed_share"] == 5 / 8


def test_inspect_lists_model_and_adapter_folders(zoo, capsys):
    assert main(["inspect", str(zoo / "llama_healthy"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["language"]
    assert summary["architecture"] == "LlamaForCausalLM" and summary["model_type"] == "llama"
    assert summary["vocab_size"] == len(lf.VOCAB) and summary["layers"] == 2 and summary["tokenizer"] is True
    assert main(["inspect", str(zoo / "lora_hub")]) == 0
    text = capsys.readouterr().out
    assert "LoRA adapter" in text and "lora_alpha: 4" in text and "lm_head" in text
    assert "not a local model folder" in text
    assert main(["inspect", str(zoo / "lora_zero"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["language"]
    assert (
        summary["r"] == 2 and summary["lora_b_zero_modules"] == 1 and summary["base"].endswith("gpt2_healthy")
    )


def _copy(zoo: Path, tmp_path: Path, name: str = "gpt2_healthy") -> Path:
    folder = tmp_path / name
    shutil.copytree(zoo / name, folder)
    return folder


def test_auto_map_code_never_runs(zoo, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    payload = f"open({str(marker)!r}, 'w').write('ran')\n"
    for model_type, expect in (("gpt2", 0), ("evil_lm", 2)):
        folder = _copy(zoo, tmp_path / model_type)
        (folder / "modeling_evil.py").write_text(payload)
        (folder / "configuration_evil.py").write_text(payload)
        config = json.loads((folder / "config.json").read_text())
        config["model_type"] = model_type
        config["auto_map"] = {"AutoConfig": "configuration_evil.C", "AutoModelForCausalLM": "modeling_evil.M"}
        (folder / "config.json").write_text(json.dumps(config))
        code, report = _diagnose(capsys, str(folder), "--data", str(folder / "prompts.npz"))
        assert code == expect
        if expect == 2:
            assert "no native transformers" in report["stderr"] and "never run" in report["stderr"]
            assert report["stderr"].count("\n") == 1
        assert main(["inspect", str(folder)]) == 0
        capsys.readouterr()
    assert not marker.exists()


@pytest.mark.parametrize(
    ("shard", "why"),
    [
        ("../../outside.safetensors", "outside"),
        ("model\u0000.safetensors", "NUL byte"),
        ("/etc/passwd", "outside"),
    ],
)
def test_shard_index_outside_the_folder_is_refused(zoo, tmp_path, capsys, shard, why):
    folder = _copy(zoo, tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    index = {
        "metadata": {},
        "weight_map": {"lm_head.weight": shard, "transformer.wte.weight": "model-00001-of-00001.safetensors"},
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    code, report = _diagnose(capsys, str(folder))
    assert code == 2 and why in report["stderr"] and report["stderr"].count("\n") == 1


def test_sharded_folder_opens(zoo, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    folder = _copy(zoo, tmp_path)
    tensors = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    names = sorted(tensors)
    half = len(names) // 2
    shards = {
        "model-00001-of-00002.safetensors": names[:half],
        "model-00002-of-00002.safetensors": names[half:],
    }
    for shard, keys in shards.items():
        save_file({k: tensors[k].contiguous() for k in keys}, folder / shard)
    weight_map = {k: shard for shard, keys in shards.items() for k in keys}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    code, report = _diagnose(capsys, str(folder), "--data", str(folder / "prompts.npz"))
    assert code == 0 and _finding(report, "mode")["metrics"]["unique_output_ratio"] == 1.0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("vocab_size", 10**12, "over the limit"), ("n_layer", 10**6, "layers"), ("n_embd", -4, "negative")],
)
def test_huge_declared_sizes_are_refused_before_building(zoo, tmp_path, capsys, key, value, message):
    folder = _copy(zoo, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    code, report = _diagnose(capsys, str(folder))
    assert code == 2 and message in report["stderr"]


def test_loop_detection_by_hand():
    assert longest_loop(["a", "b", "a", "b", "a", "b", "c"]).unit == ("a", "b")
    assert longest_loop(["a", "b", "a", "b", "a", "b", "c"]).length == 6
    assert (
        longest_loop(["the", "cat", "and", "the", "dog", "and", "the", "bird"]) is None
    )  # "the" 3 times, not in a row
    assert longest_loop(["Hi", "Hi", "Hi"]).repeats == 3
    metrics = repetition_metrics(["Hi Hi Hi Hi", "a fine answer .", "no no no", "ok"])
    assert metrics["looping_share"] == 0.5 and metrics["longest_loop"] == 4 and metrics["loop_unit"] == "Hi"


def test_prompt_sensitivity_by_hand():
    assert prompt_sensitivity(["same answer"] * 4) == 0.0
    assert prompt_sensitivity(["a b", "c d"]) == 1.0
    # "a b c d" vs "a b x y": 2 of 4 words match in order on each side -> ratio 0.5
    assert prompt_sensitivity(["a b c d", "a b x y"]) == pytest.approx(0.5)


def _trainer_state(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer_state.json").write_text(
        json.dumps({"global_step": rows[-1]["step"], "log_history": rows})
    )
    return folder


def test_trainer_state_flags_entropy_and_constant_completion_length(tmp_path):
    from core.diagnosis.training import training_findings
    from core.io.logs import scan_run_folder

    rows = [
        {"step": s, "loss": 1.0 / s, "entropy": e, "completions/min_length": lo, "completions/max_length": hi}
        for s, e, lo, hi in (
            (10, 1.0, 3, 12),
            (20, 0.6, 5, 12),
            (30, 0.25, 9, 9),
            (40, 0.1, 9, 9),
            (50, 0.05, 9, 9),
        )
    ]
    findings = training_findings(scan_run_folder(_trainer_state(tmp_path / "rl", rows)))
    summaries = {f.summary.split(":")[0]: f for f in findings}
    entropy = summaries["policy entropy collapses"]
    assert entropy.severity == "warning" and entropy.metrics["entropy_collapse_step"] == 30
    length = summaries["completion length collapses to a constant"]
    assert length.metrics == {"constant_length": 9.0, "constant_length_step": 30}
    healthy = [dict(r, entropy=1.0 - r["step"] / 200, **{"completions/min_length": 3}) for r in rows]
    findings = training_findings(scan_run_folder(_trainer_state(tmp_path / "ok", healthy)))
    assert [f.severity for f in findings] == ["ok"]


def _tiny(arch: str):
    import transformers

    v = len(lf.VOCAB)
    ids = {"vocab_size": v, "pad_token_id": 0, "eos_token_id": lf.EOS, "bos_token_id": lf.EOS}
    configs = {
        "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1}),
        "mistral": ("MistralConfig", "MistralForCausalLM", {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1}),
        "gpt_neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM", {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}),
        "t5": ("T5Config", "T5ForConditionalGeneration", {"d_model": 16, "d_ff": 32, "d_kv": 8, "num_layers": 1, "num_heads": 2, "decoder_start_token_id": 0}),
        "bart": ("BartConfig", "BartForConditionalGeneration", {"d_model": 16, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2, "decoder_attention_heads": 2, "max_position_embeddings": 64, "decoder_start_token_id": lf.EOS, "forced_eos_token_id": None}),
    }  # fmt: skip
    config_name, model_name, sizes = configs[arch]
    torch_seed(0)
    return getattr(transformers, model_name)(getattr(transformers, config_name)(**ids, **sizes))


def torch_seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


@pytest.mark.parametrize("arch", ["qwen2", "mistral", "gpt_neox", "t5", "bart"])
def test_other_native_architectures_open_and_continue(tmp_path, capsys, arch):
    folder = tmp_path / arch
    _tiny(arch).save_pretrained(folder)
    lf.write_tokenizer(folder)
    lf.write_prompts(folder / "prompts.npz")
    code, report = _diagnose(capsys, str(folder), "--data", str(folder / "prompts.npz"))
    assert code in (0, 1) and report["adapter"] == "language-model"
    mode = _finding(report, "mode")
    assert mode["severity"] != "undefined" and mode["metrics"]["inputs"] == 8
    from core.adapters.registry import open_adapter

    spec = open_adapter(str(folder)).spec()
    assert spec.parts[0] == ("seq2seq" if arch in ("t5", "bart") else "causal LM") and spec.parts[1] == arch
