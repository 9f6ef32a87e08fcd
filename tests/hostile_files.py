"""Generators of hostile and malformed files (issue 11), for the regression tests and the fuzz run.

Every generator writes into the folder it is given and returns the path; none needs more than a few
kilobytes on disk or a moment to build, so each attack is cheap to rebuild in a test.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import torch

SECRET_ENV = "COLLAPSE_EXPLORER_TEST_SECRET"


def small_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"network.0.weight": torch.randn(8, 6), "network.0.bias": torch.zeros(8)}


class RunsCode:
    """Pickles to a call of `os.system` (module posix): loading it fully would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def env_interpolation(folder: Path) -> Path:
    """Allow-listed OmegaConf containers holding `${oc.env:...}` in the config, nested in a plain dict,
    in a list, and one interpolation that cannot resolve at all."""
    from omegaconf import OmegaConf

    leak = "${oc.env:" + SECRET_ENV + "}"
    nested = OmegaConf.create({"token": leak, "bad": "${no.such.key}", "items": [leak, {"x": leak}]})
    path = folder / "envleak.ckpt"
    torch.save(
        {
            "state_dict": small_state(),
            "hyper_parameters": {"opt": nested, "lr": 0.1, "whole": OmegaConf.create({"a": leak})},
            "pytorch-lightning_version": "2.4",
            "global_step": 3,
            "note": OmegaConf.create([leak]),
        },
        path,
    )
    return path


def cyclic_config(folder: Path) -> Path:
    config: dict = {"attribute_names": ["a"]}
    config["self"] = config
    path = folder / "cyclic.pt"
    torch.save({"model_state_dict": small_state(), "config": config}, path)
    return path


def deep_structure(depth: int = 5000) -> list:
    node: list = []
    for _ in range(depth):
        node = [node]
    return node


def stride0(folder: Path, shape: tuple[int, ...] = (10**6, 10**6), layout: str = "vectorfield") -> Path:
    """A 1-element storage viewed as `shape` (4 bytes on disk, 4 TB to reduce), in a known layout."""
    state = small_state()
    state["network.0.weight"] = torch.zeros(1).expand(*shape)
    path = folder / f"stride0_{layout}.pt"
    torch.save({"model_state_dict": state} if layout == "vectorfield" else state, path)
    return path


def rezipped(folder: Path, extra: dict[str, bytes] | None = None, *, deflate_all: bool = True) -> Path:
    """A real torch zip re-written with every member deflated, plus extra members."""
    buffer = io.BytesIO()
    torch.save(small_state(), buffer)
    path = folder / "rezipped.pt"
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as zin,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if deflate_all else zipfile.ZIP_STORED) as zout,
    ):
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        root = zin.infolist()[0].filename.split("/")[0]
        for name, data in (extra or {}).items():
            zout.writestr(f"{root}/{name}", data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def pickle_bomb(folder: Path, size: int) -> Path:
    """A torch zip whose deflated data.pkl inflates to a `size`-byte pickle (one long string)."""
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, buffer)
    path = folder / "pickle_bomb.pt"
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            if info.filename.endswith("data.pkl"):
                body = b"\x80\x04\x8d" + struct.pack("<Q", size - 12) + b"a" * (size - 12) + b"."
                zout.writestr(info.filename, body, compress_type=zipfile.ZIP_DEFLATED)
            else:
                zout.writestr(info, zin.read(info))
    return path


def lying_zip_directory(folder: Path) -> Path:
    """A deflated data.pkl whose central directory claims fewer bytes than the stream inflates to."""
    path = pickle_bomb(folder, 200_000)
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x01\x02", 0, data.find(b"data.pkl", data.find(b"PK\x01\x02")))
    struct.pack_into("<I", data, at + 24, 1000)  # uncompressed size in the central directory
    path.write_bytes(bytes(data))
    return path


def safetensors_with_header(folder: Path, header: bytes, body: bytes = b"\0" * 16, name: str = "x") -> Path:
    path = folder / f"{name}.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + body)
    return path


def legacy_garbage(folder: Path, seed: int = 0) -> Path:
    """A file that starts like a legacy torch pickle (0x80) and continues with random bytes."""
    import random

    rng = random.Random(seed)
    path = folder / f"legacy_{seed}.pt"
    path.write_bytes(b"\x80" + bytes(rng.randrange(256) for _ in range(300)))
    return path


def fifo(path: Path) -> Path:
    """A named pipe at `path`: opening it for reading blocks until a writer comes, forever here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def huge_tensor_event(folder: Path, elements: int = 250_000_000) -> Path:
    """A TensorBoard file whose one record (a few hundred bytes) declares a scalar-plugin tensor of
    `elements` doubles: a reader that believes the shape allocates gigabytes."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder))
    plugin = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=elements)])
    huge = tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, tensor_shape=shape, double_val=[1.0])
    fine = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.5])
    for step, proto in ((1, huge), (2, fine)):
        value = summary_pb2.Summary.Value(tag="loss", tensor=proto, metadata=plugin)
        writer.add_event(
            event_pb2.Event(step=step, wall_time=1.0, summary=summary_pb2.Summary(value=[value]))
        )
    writer.close()
    return next(folder.glob("events.out.tfevents.*"))


def huge_record_header(folder: Path) -> Path:
    """An event file whose first record header claims 2^60 bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "events.out.tfevents.1.hostile"
    path.write_bytes(struct.pack("<Q", 1 << 60) + b"\0" * 20)
    return path


class NeedsTrust:
    """A plain class outside every allow-list: a file holding one needs the trust switch, and loading
    it fully runs nothing but this class's construction."""

    def __init__(self, note: str = "made by the user") -> None:
        self.note = note


def needs_trust(path: Path, scale: float = 1.0) -> Path:
    """A checkpoint that only full unpickling opens (a NeedsTrust object beside a state dict)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v * scale for k, v in small_state().items()}
    torch.save({"model_state_dict": state, "extra": NeedsTrust()}, path)
    return path


# --- output encoding (issue 26): names that would be markup, a formula or a terminal escape ----------------

# One payload per sink, each harmless when shown as the text it is. The URLs point nowhere real.
PAYLOADS = {
    "md_image": "![x](http://beacon.invalid/b.png)",
    "md_link": "[click here](https://evil.invalid/)",
    "html_link": '<a href="https://evil.invalid/">x</a>',
    "script_break": "<!--<script",
    "script_end": "</script><b>",
    "formula": '=HYPERLINK("http://evil.invalid","y")',
    "formula_plus": "+cmd|' /C calc'!A0",
    "formula_at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "osc_title": "\x1b]0;owned\x07",
    "clear": "\x1b[2J\x1b[H",
    "forged_line": "w\nadapter:    forged",
    "carriage": "w\rERROR",
    "bidi": "w\u202egnp.exe",
    "separator": "w\u2028x",
}
CONTROL_BYTES = [chr(c) for c in (*range(0x20), 0x7F)] + ["\u202e", "\u2028"]


def payload_names(seed: int = 0, count: int = 4) -> list[str]:
    """`count` distinct tensor-key-like names, each mixing a payload into an ordinary name."""
    import random

    rng = random.Random(seed)
    kinds = sorted(PAYLOADS)
    return [f"layer{i}.{PAYLOADS[rng.choice(kinds)]}.weight" for i in range(count)]


def payload_keys(folder: Path, names: list[str], stem: str = "keys") -> Path:
    """A checkpoint of a plain MLP state dict plus tensors named by `names` (and a config value and a
    metadata value holding the first name); no adapter knows the layout, so errors list the names."""
    state = {**small_state(), **{name: torch.ones(3) for name in names}}
    path = folder / f"{stem}.pt"
    torch.save({"model_state_dict": state, "config": {"title": names[0]}, "note": names[0]}, path)
    return path


def payload_flow_run(folder: Path, names: list[str], *, rows: int = 60) -> Path:
    """The collapsed flow demo's last checkpoint in a run folder named by a payload, with a probe whose
    attribute names and texts are payloads (they reach plots, hover text, tables and CSV downloads)."""
    import numpy as np

    from core import DEMO_DIR

    demo = DEMO_DIR / "flow" / "collapsed"
    run = folder / "runs" / PAYLOADS["script_break"]
    run.mkdir(parents=True)
    (run / "fclf_epoch_020.pt").write_bytes((demo / "fclf_epoch_020.pt").read_bytes())
    probe = np.load(demo / "probe.npz")
    attributes = (list(names) * 5)[:5]
    texts = [f"{names[i % len(names)]} {i}" for i in range(rows)]
    np.savez(
        run / "probe.npz",
        embeddings=probe["embeddings"][:rows],
        attributes=probe["attributes"][:rows],
        attribute_names=np.array(attributes),
        texts=np.array(texts),
    )
    return run / "fclf_epoch_020.pt"
