"""Untrusted text stays text (issue 26): names from hostile files through every sink (terminal, HTML,
JSON in <script>, Plotly, CSV), outputs that never follow a planted symlink, a content-aware sweep
cache key, and unusual but legal inputs that used to end in "internal error"."""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import core.io.hf as hf_module
import core.io.sniff as sniff_module
import core.io.state_dict as state_dict_module
from core import DEMO_DIR
from core.cli import main
from core.io import encode
from core.io.checkpoints import load_checkpoint
from core.io.errors import CheckpointError, CollapseExplorerError
from core.io.files import write_atomic
from core.io.paths import resolve_user_path
from tests import hostile_files as hf

CODEBOOK = DEMO_DIR / "codebook" / "collapsing"
POSTERIOR = DEMO_DIR / "posterior" / "fixed" / "vae_epoch_060.pt"
needs_demo = pytest.mark.skipif(not DEMO_DIR.is_dir(), reason="demo assets not built")


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def no_control_bytes(text: str) -> bool:
    """Only newlines ending lines and tabs separating columns: no ESC, BEL, CR, bidi override."""
    return not any(c in text for c in hf.CONTROL_BYTES if c not in "\n\t")


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "internal error" not in lines[0] and "Traceback" not in err
    return lines[0]


# --- the sinks, one by one ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", list(hf.PAYLOADS.values()), ids=list(hf.PAYLOADS))
def test_each_sink_makes_every_payload_text(payload):
    shown = encode.terminal(payload)
    assert no_control_bytes(shown) and "\n" not in shown and "\t" not in shown
    escaped = encode.markdown(payload)
    # Every ASCII punctuation mark is escaped: no link, image, emphasis, HTML or directive can start.
    assert not re.search(r"(?<!\\)[\[\]()!<>*_`:$=|]", escaped.replace("\\\\", "")), escaped
    assert no_control_bytes(escaped)
    html_shown = encode.html_text(payload)
    assert "<" not in html_shown and '"' not in html_shown
    script = encode.script_json({"name": payload})
    assert json.loads(script) == {"name": payload}
    assert not set(script) & {"<", ">", "&", "\u2028", "\u2029"}
    plotly = encode.plotly_text(payload)
    assert "<" not in plotly and ">" not in plotly and no_control_bytes(plotly)


def test_csv_cells_are_never_formulas_but_numbers_stay_numbers():
    frame = pd.DataFrame(
        {
            "name": [hf.PAYLOADS["formula"], "-0.5", "+3", "-1+cmd", "@x", "\tx", "ok"],
            "v": [-1.0, 2, 3, 4, 5, 6, 7],
        }
    )
    cells = encode.csv_frame(frame)
    assert cells["name"].tolist() == [
        "'" + hf.PAYLOADS["formula"],
        "-0.5",
        "+3",
        "'-1+cmd",
        "'@x",
        "'\tx",
        "ok",
    ]
    assert cells["v"].tolist() == frame["v"].tolist()
    assert encode.csv_frame(pd.DataFrame({"=cmd": [1]})).columns.tolist() == ["'=cmd"]


def test_plotly_figures_keep_their_own_tags_and_lose_every_other():
    import plotly.graph_objects as go

    link = hf.PAYLOADS["html_link"]
    figure = go.Figure(go.Bar(x=[link, "b"], y=[1, 2], name=link, customdata=[[link], ["c"]]))
    figure.update_layout(title=f"share<br>{link}", xaxis={"ticktext": [link], "tickvals": [0]})
    figure.add_annotation(text=link)
    spec = json.loads(encode.inert_figure(figure).to_json())
    spec["layout"].pop("template")
    text = json.dumps(spec)
    assert "<a" not in text and "&lt;a href" in text
    assert spec["layout"]["title"]["text"].startswith("share<br>")  # the product's own line break stays


# --- 1. terminal: inspect, diagnose and the error line --------------------------------------------------


def test_inspect_escapes_control_bytes_and_cannot_forge_a_line(tmp_path, capsys):
    names = list(hf.PAYLOADS.values())
    path = hf.payload_keys(tmp_path, names)
    for argv in (["inspect", str(path)], ["diagnose", str(path)]):
        code, out, err = cli(argv, capsys)
        assert no_control_bytes(out + err), (out + err)[:400]
    code, out, _ = cli(["inspect", str(path)], capsys)
    assert code == 0 and [line for line in out.splitlines() if line.startswith("  adapter:")] == [
        "  adapter:    none detected"
    ]
    assert "\\x1b]0;owned\\x07" in out  # shown, written out
    code, _, err = cli(["diagnose", str(path)], capsys)
    assert code == 2 and no_control_bytes(one_error_line(err))


def test_json_output_stays_json(tmp_path, capsys):
    path = hf.payload_keys(tmp_path, list(hf.PAYLOADS.values()))
    code, out, _ = cli(["inspect", str(path), "--json"], capsys)
    names = {t["name"] for t in json.loads(out)["tensors"]}
    assert code == 0 and set(hf.PAYLOADS.values()) <= {n.split(".", 1)[-1] for n in names} | names


# --- 2. the HTML report and the sweep leaderboard --------------------------------------------------------


class _Scripts(HTMLParser):
    """The text of every <script> element and every link target, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[str] = []
        self._in: bool = False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "script"
        if tag == "script":
            self.scripts.append("")
        self.links += [v for k, v in attrs if k in ("href", "src") and v]

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.scripts[-1] += data


@needs_demo
def test_report_keeps_names_inert_in_text_scripts_and_figures(tmp_path, capsys):
    from core.plots import codebook as cb
    from core.report.html import Entry, report_html
    from core.timeline import report_for

    names = list(hf.PAYLOADS.values())
    checkpoint = hf.payload_flow_run(tmp_path, names)
    _, _, _, report = report_for(str(checkpoint), None, trust=False)
    figure = cb.sorted_usage_figure({name: np.arange(5.0) for name in names[:6]})
    document = report_html(
        [Entry("A", str(checkpoint), report, str(checkpoint.parent / "probe.npz"))], None, [figure]
    )
    parsed = _Scripts()
    parsed.feed(document)
    assert parsed.links == []  # no <a href> and no image from a name
    for script in parsed.scripts:
        assert "<" not in script  # no "</script", "<!--" or "<a" inside a script
    specs = [s for s in parsed.scripts if s.lstrip().startswith("{")]
    data = [json.loads(s) for s in specs]
    assert any(hf.PAYLOADS["script_break"] in json.dumps(d, ensure_ascii=False) for d in data)
    figure_text = json.dumps(data[0]["data"])
    assert "<a" not in figure_text and "&lt;a href" in figure_text


def test_sweep_leaderboard_cells_are_not_formulas(tmp_path):
    from core.sweep import leaderboard_html

    board = pd.DataFrame(
        {
            "run": [hf.PAYLOADS["formula"]],
            "status": ["collapse"],
            "first_collapsed_epoch": [-1],
            "folder": ["x"],
        }
    )
    page = leaderboard_html(board, tmp_path / hf.PAYLOADS["script_break"])
    assert "<td>&#x27;=HYPERLINK(" in page and "<td>-1</td>" in page
    assert "<!--<script" not in page


# --- 3. writing: never through a planted symlink ---------------------------------------------------------


@needs_demo
def test_report_refuses_a_symlink_planted_at_the_json_it_was_not_named(tmp_path, capsys):
    team = tmp_path / "team"
    team.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (team / "r.json").symlink_to(victim)
    code, _, err = cli(["report", str(POSTERIOR), "--out", str(team / "r.html")], capsys)
    assert code == 2 and "symbolic link" in one_error_line(err)
    assert victim.read_text() == "precious" and not (team / "r.html").exists()
    assert sorted(p.name for p in team.iterdir()) == ["r.json"]  # no temp file left behind
    (team / "r.json").unlink()
    (team / "r.html").symlink_to(victim)  # the name the user gave: replaced, never written through
    code, _, _ = cli(["report", str(POSTERIOR), "--out", str(team / "r.html")], capsys)
    assert code in (0, 1) and victim.read_text() == "precious"
    assert not (team / "r.html").is_symlink() and (team / "r.json").is_file()


def test_atomic_writer_never_writes_through_a_planted_link(tmp_path):
    target = write_atomic(tmp_path / "out.txt", b"one")
    assert target.read_bytes() == b"one" and (target.stat().st_mode & 0o777) == 0o600
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "link.txt").symlink_to(victim)
    with pytest.raises(CollapseExplorerError, match="symbolic link"):
        write_atomic(tmp_path / "link.txt", b"x", named=False)
    write_atomic(tmp_path / "link.txt", b"x")
    assert victim.read_text() == "keep" and (tmp_path / "link.txt").read_bytes() == b"x"


@needs_demo
def test_sweep_refuses_a_symlink_at_the_leaderboard_beside_its_table(tmp_path, capsys):
    root = tmp_path / "root" / "run"
    root.mkdir(parents=True)
    (root / "vae_epoch_060.pt").write_bytes(POSTERIOR.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.html"
    victim.write_text("precious")
    (out / "t.html").symlink_to(victim)
    code, _, err = cli(["sweep", str(tmp_path / "root"), "--out", str(out / "t.parquet")], capsys)
    assert code == 2 and "symbolic link" in one_error_line(err)
    assert victim.read_text() == "precious"


# --- 4. the sweep cache key ------------------------------------------------------------------------------


def test_sweep_rediagnoses_a_file_rewritten_in_place_with_its_old_stat(tmp_path):
    from core.sweep import _Index

    path = tmp_path / "m.pt"
    path.write_bytes(b"a" * 64)
    index = _Index(tmp_path / "index.json")
    before = index.digest(path)
    stat = path.stat()
    with path.open("r+b") as fh:  # same inode, same size
        fh.write(b"b" * 64)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the old mtime
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if after.st_ctime_ns == stat.st_ctime_ns:
        pytest.skip("this filesystem's clock did not move between the writes")
    assert index.digest(path) != before and index.hashed == 2


# --- 5. exotic but legal inputs: read, or refused in one line naming the tensor --------------------------


def _with(tmp_path: Path, name: str, extra) -> Path:
    path = tmp_path / f"{name}.pt"
    torch.save({**hf.small_state(), **extra}, path)
    return path


@pytest.mark.parametrize(
    "extra",
    [
        {"sparse": torch.eye(4).to_sparse()},
        {"sparse": torch.eye(4).to_sparse_csr()},
        {"f8": torch.randn(4, 4).to(torch.float8_e4m3fn)},
        {"q": torch.quantize_per_tensor(torch.randn(4, 4), 0.1, 10, torch.quint8)},
        {"q": torch.quantize_per_tensor(torch.randn(4, 4), 0.1, 0, torch.qint8)},
    ],
    ids=["coo", "csr", "float8", "quint8", "qint8"],
)
def test_sparse_float8_and_quantized_tensors_are_read(tmp_path, capsys, extra):
    path = _with(tmp_path, "exotic", extra)
    loaded = load_checkpoint(path)
    name = next(iter(extra))
    assert loaded.state_dict[name].layout == torch.strided and loaded.state_dict[name].dtype == torch.float32
    code, out, err = cli(["inspect", str(path)], capsys)
    assert code == 0 and err == "" and "NaN weights 0" in out


def test_sparse_tensor_densifying_past_the_limit_is_refused(tmp_path, monkeypatch):
    indices = torch.tensor([[0], [0]])
    huge = torch.sparse_coo_tensor(indices, torch.ones(1), (10**6, 10**6))
    path = _with(tmp_path, "sparse", {"big": huge})
    with pytest.raises(CheckpointError, match=r"sparse tensor 'big' \[1000000, 1000000\] would densify"):
        load_checkpoint(path)


def test_integer_state_dict_keys_are_refused_in_one_line(tmp_path, capsys):
    path = _with(tmp_path, "ints", {3: torch.zeros(2)})
    code, _, err = cli(["inspect", str(path)], capsys)
    assert code == 2 and "a state-dict key is the int '3'" in one_error_line(err)


def test_huge_integer_in_safetensors_metadata_is_a_clear_refusal(tmp_path, capsys):
    from safetensors.torch import save_file

    save_file(hf.small_state(), tmp_path / "m.safetensors", metadata={"config": '{"d": ' + "9" * 5000 + "}"})
    code, _, err = cli(["inspect", str(tmp_path / "m.safetensors")], capsys)
    assert code == 2 and "metadata cannot be read" in one_error_line(err)


@needs_demo
def test_a_log_value_too_large_for_a_float_is_skipped_and_the_verdict_stands(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "vae_epoch_060.pt").write_bytes(POSTERIOR.read_bytes())
    (run / "probe.npz").write_bytes((POSTERIOR.parent / "probe.npz").read_bytes())
    code, clean, _ = cli(["diagnose", str(run / "vae_epoch_060.pt"), "--json"], capsys)
    rows = [{"step": i, "loss": 1.0 / (i + 1)} for i in range(5)]
    text = json.dumps(rows)[:-1] + ', {"step": 5, "loss": ' + str(10**400) + "}]"
    (run / "training_log.json").write_text(text)
    code_with, out, err = cli(["diagnose", str(run / "vae_epoch_060.pt"), "--json"], capsys)
    assert err == "" and code_with == code
    verdict = {f["kind"]: f["severity"] for f in json.loads(out)["findings"] if f["kind"] != "training"}
    assert verdict == {
        f["kind"]: f["severity"] for f in json.loads(clean)["findings"] if f["kind"] != "training"
    }
    from core.io.logs import scan_run_folder

    log = scan_run_folder(run)
    assert log.series("loss")[1].tolist() == [1.0 / (i + 1) for i in range(5)]
    assert "skipped 1 value of loss too large for a float" in log.sources[0].notes
    (run / "training_log.json").write_text('[{"step": 0, "loss": ' + "9" * 5000 + "}]")
    assert scan_run_folder(run).sources[0].notes == ("skipped 1 value of loss too large for a float",)


def test_nul_byte_in_a_shard_name_is_refused(tmp_path, capsys):
    from safetensors.torch import save_file

    save_file(hf.small_state(), tmp_path / "model-1.safetensors")
    index = {"weight_map": {"network.0.weight": "model-\u00001.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    code, _, err = cli(["inspect", str(tmp_path)], capsys)
    assert code == 2 and "shard file with a NUL byte" in one_error_line(err)


def test_tensor_count_limit_is_checked_before_loading(tmp_path, monkeypatch, capsys):
    torch.save({f"w{i}": torch.zeros(1) for i in range(300)}, tmp_path / "many.pt")
    for module in (sniff_module, hf_module, state_dict_module):
        monkeypatch.setattr(module, "MAX_TENSORS", 100)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load ran"))
    code, _, err = cli(["inspect", str(tmp_path / "many.pt")], capsys)
    line = one_error_line(err)
    assert code == 2 and "306 archive members (one per tensor storage), over the limit of 100" in line
    assert "MAX_TENSORS" in line
    from safetensors.torch import save_file

    save_file({f"w{i}": torch.zeros(1) for i in range(300)}, tmp_path / "many.safetensors")
    with pytest.raises(CheckpointError, match="holds 300 tensors, over the limit of 100"):
        load_checkpoint(tmp_path / "many.safetensors")


@pytest.mark.parametrize("sidecar", ['{"loss": [1, 2', "[1, 2, 3]", '{"a": ' * 300 + "1" + "}" * 300])
def test_a_sibling_stem_json_that_is_no_config_is_a_note(tmp_path, capsys, sidecar):
    torch.save({"model_state_dict": hf.small_state()}, tmp_path / "m.pt")
    (tmp_path / "m.json").write_text(sidecar)
    code, out, err = cli(["inspect", str(tmp_path / "m.pt")], capsys)
    assert code == 0 and err == "" and "config:     none found" in out
    assert ("note:       m.json beside the checkpoint was not read" in out) == sidecar.startswith('{"')


def test_nul_byte_in_a_typed_path_is_a_refusal(tmp_path):
    with pytest.raises(CollapseExplorerError, match="cannot hold a NUL byte"):
        resolve_user_path(str(tmp_path) + "/a\0b", [tmp_path])
