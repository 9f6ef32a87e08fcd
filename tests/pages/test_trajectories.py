"""Trajectories page: flows checkpoint A's probe, reacts to the flip, steps, alpha and sample controls."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import REPO_ROOT
from core.adapters.base import AdapterSpec, CheckpointAdapter
from core.adapters.registry import REGISTRY
from core.diagnosis.checkpoint import diagnose_checkpoint
from core.io.checkpoints import load_checkpoint
from core.io.paths import default_demo, demo_checkpoints, display_name
from core.io.probe import ProbeData, load_probe, save_probe
from core.metrics import Undefined
from core.metrics.flow.field import FieldStats
from core.plots.flow.projection import Projection, fingerprint, unit_rows
from core.plots.flow.text import DECODE_ROWS
from tests.pages.helpers import plain
from ui import flow

N, D, A = 300, 16, 3


class PrototypePullAdapter(CheckpointAdapter):
    """Each Euler step pulls z toward its target's prototype: z <- normalize(z + alpha (p - z))."""

    name = "test-prototype-pull"
    family = "flow"

    def __init__(self, prototypes: np.ndarray) -> None:
        self.prototypes = prototypes

    @classmethod
    def detect(cls, shapes, config):
        return "pull.prototypes" in shapes

    @classmethod
    def from_loaded(cls, loaded):
        return cls(loaded.state_dict["pull.prototypes"].numpy())

    def spec(self):
        return AdapterSpec("flow", latent_dim=D, attribute_names=("x", "y", "z"), supports_flow=True)

    def flow(self, z, y_target, steps, alpha):
        target = self.prototypes[(y_target.astype(int) * (1 << np.arange(A))).sum(1)]
        path = [unit_rows(z)]
        for _ in range(steps):
            path.append(unit_rows(path[-1] + alpha * (target - path[-1])))
        return np.stack(path).astype(np.float32)


@pytest.fixture
def checkpoint(tmp_path):
    REGISTRY[PrototypePullAdapter.name] = PrototypePullAdapter
    rng = np.random.default_rng(0)
    prototypes = unit_rows(rng.normal(size=(2**A, D)))
    torch.save(
        {
            "model_state_dict": {"pull.prototypes": torch.from_numpy(prototypes)},
            "config": {"steps": 6, "alpha": 0.2},
        },
        tmp_path / "pull_epoch_3.pt",
    )
    embeddings = unit_rows(rng.normal(size=(N, D)))
    probe = ProbeData(
        embeddings=embeddings,
        attributes=rng.integers(0, 2, size=(N, A)).astype(np.int8),
        attribute_names=("x", "y", "z"),
        texts=tuple(f"sentence {i}" for i in range(N)),
    )
    save_probe(tmp_path / "probe.npz", probe)
    # A shipped-style frame beside the probe, so the test never fits UMAP.
    coords = rng.normal(size=(N, 2)).astype(np.float32)
    Projection(embeddings, coords, key=fingerprint(embeddings)).save(tmp_path / "projection.npz")
    yield tmp_path / "pull_epoch_3.pt"
    REGISTRY.pop(PrototypePullAdapter.name)


def _page(**state) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "trajectories.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _showing(at: AppTest) -> str:
    return next(plain(c.value) for c in at.caption if c.value.startswith("showing"))


def _shown(n: int, total: int = N) -> str:
    return f"showing {n:,} of {total:,} trajectories as paths; the dots and the metrics use all {total:,}"


def test_controls_change_the_flow(checkpoint):
    at = _page(checkpoint_a=str(checkpoint))
    assert not at.exception and not at.error
    assert at.selectbox(key="traj_checkpoint").value.startswith("A: ")
    assert at.slider(key="traj_steps").value == 6
    assert at.slider(key="traj_alpha").value == pytest.approx(0.2)
    assert _showing(at) == _shown(100)
    assert at.slider(key="traj_sample").max == N
    # The page opens on the diagnosis's targets (row i flips attribute i mod A): the numbers the verdict
    # gives, and no per-attribute controls until targets are chosen by hand.
    assert at.radio(key="traj_targets").value == flow.AS_DIAGNOSED
    assert not any(box.key.startswith("traj_control") for box in at.selectbox)
    report = diagnose_checkpoint(load_checkpoint(checkpoint), load_probe(checkpoint.parent / "probe.npz"))
    diagnosed = next(f for f in report.findings if f.kind == "prototype")
    assert _number(_metrics(at)["Distinct endpoints"]) == diagnosed.metrics["distinct_endpoints"]
    at.radio(key="traj_targets").set_value(flow.BY_HAND).run()
    assert at.selectbox(key="traj_control_0").value == "flip"
    first = _metrics(at)
    assert first["Target groups"] == "8"
    assert _number(first["Within-target spread ratio"]) < 1.0

    at.slider(key="traj_steps").set_value(40).run()
    more_steps = _metrics(at)
    assert _number(more_steps["Within-target spread ratio"]) < _number(first["Within-target spread ratio"])

    at.slider(key="traj_alpha").set_value(0.01).run()
    gentle = _metrics(at)
    assert _number(gentle["Movement (chord)"]) < _number(more_steps["Movement (chord)"])

    at.selectbox(key="traj_control_1").select("set 1").run()
    assert _metrics(at)["Target groups"] == "4"

    at.slider(key="traj_sample").set_value(50).run()
    assert _showing(at) == _shown(50)
    at.radio(key="traj_colour_source").set_value("original").run()
    at.selectbox(key="traj_colour_attr").select("y").run()
    assert not at.exception and not at.error
    picture, animation = (json.loads(c.proto.spec) for c in at.get("plotly_chart")[:2])
    names = [t["name"] for t in picture["data"]]
    assert names[:2] == ["inputs", "paths"]
    assert {"start points", "endpoint · y", "endpoint · not y"} <= set(names)
    assert "sentence" in json.dumps(picture["data"])
    # Steps set to 40: the animation shows 6 of the 41 steps, the first and the last among them.
    assert [f["name"] for f in animation["frames"]] == ["0", "8", "16", "24", "32", "40"]
    assert at.get("plotly_chart")[0].proto.selection_mode
    at.toggle(key="traj_field").set_value(True).run()
    assert not at.exception
    assert "does not expose its field" in plain(at.error[0].value)


def test_trajectories_drawn_are_capped(checkpoint, monkeypatch):
    # A bound below the probe's 300 rows stands in for a 100k-row probe: the slider stops at the bound, a
    # link asking for more is brought down to it, and the metrics still use every row.
    monkeypatch.setattr("core.plots.flow.view.MAX_DRAWN", 120)
    at = _page(checkpoint_a=str(checkpoint), traj_sample=250)
    assert not at.exception and not at.error
    slider = at.slider(key="traj_sample")
    assert slider.max == 120 and slider.value == 120 and "at most 120" in slider.help
    assert _showing(at) == _shown(120)
    assert _metrics(at)["Target groups"] == "8"
    picture = json.loads(at.get("plotly_chart")[0].proto.spec)
    starts = next(t for t in picture["data"] if t["name"] == "start points")
    assert len(starts["customdata"]) == 120


def test_joint_frame_caption_trust_and_downloads(checkpoint):
    at = _page(checkpoint_a=str(checkpoint))
    caption = next(plain(c.value) for c in at.caption if c.value.startswith("Joint frame"))
    assert "300 inputs and their 300 endpoints" in caption
    trust = _number(_metrics(at)["Frame trustworthiness"])
    assert 0.5 < trust <= 1.0 and f"Trustworthiness {trust:.3f}" in caption
    downloads = at.get("download_button")
    assert [d.proto.label for d in downloads] == ["Download the trajectories table (CSV, every row)"]
    assert "Select start points or endpoint dots" in " ".join(plain(c.value) for c in at.caption)
    # Back at a setting seen before: the same frame (memory cache, then the on-disk frame cache).
    at.radio(key="traj_targets").set_value(flow.BY_HAND).run()
    trust = _number(_metrics(at)["Frame trustworthiness"])
    at.selectbox(key="traj_control_2").select("set 0").run()
    at.selectbox(key="traj_control_2").select("keep").run()
    assert _number(_metrics(at)["Frame trustworthiness"]) == trust


def test_every_control_key_is_prefixed():
    # Controls are `traj_` (mirrored to the URL); download buttons are private (`_traj_`): a button's
    # state cannot be restored from a link.
    source = (REPO_ROOT / "pages" / "trajectories.py").read_text()
    keys = re.findall(r"key=f?\"([^\"]+)\"", source)
    assert len(keys) >= 15 and all(key.startswith(("traj_", "_traj_download_")) for key in keys), keys
    assert sum(key.startswith("_traj_") for key in keys) == 2


def test_first_paint_reads_the_shipped_frames_without_umap():
    script = (
        "import sys; from streamlit.testing.v1 import AppTest; "
        f"at = AppTest.from_file({str(REPO_ROOT / 'pages' / 'trajectories.py')!r}, default_timeout=300).run(); "
        "assert not at.exception and not at.error, (at.exception, at.error); "
        "print('umap' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.split()[-2:] == ["False", "False"]


def test_bad_probe_shows_an_error(checkpoint):
    save_probe(
        checkpoint.parent / "probe.npz",
        ProbeData(embeddings=np.ones((10, 5), np.float32), attributes=np.zeros((10, A), np.int8)),
    )
    at = _page(checkpoint_a=str(checkpoint))
    assert not at.exception
    assert "dimension 5 but the model expects 16" in plain(at.error[0].value)


def test_default_is_the_shipped_collapsed_run():
    at = _page()
    assert not at.exception and not at.error
    assert at.selectbox(key="traj_checkpoint").value == f"A: {display_name(default_demo())}"
    assert default_demo().parent.name == "collapsed"
    collapsed = _metrics(at)
    groups = _number(collapsed["Target groups"])
    # Prototype collapse: about one endpoint per target group, although the target silhouette looks perfect.
    assert _number(collapsed["Distinct endpoints"]) <= 2 * groups
    assert _number(collapsed["Silhouette by target"]) > 0.9
    fixed_last = [
        p for p in demo_checkpoints() if p.parent.name == "fixed" and p.parent.parent.name == "flow"
    ][-1]
    at.selectbox(key="traj_checkpoint").select(f"demo: {display_name(fixed_last)}").run()
    fixed = _metrics(at)
    assert _number(fixed["Distinct endpoints"]) > 4 * groups
    assert _number(fixed["Within-target spread ratio"]) > _number(collapsed["Within-target spread ratio"])
    at.toggle(key="traj_field").set_value(True).run()
    assert not at.exception and not at.error
    curl, error = (_number(part) for part in _metrics(at)["Curl magnitude"].split(" ± "))
    assert curl > 0 and 0 < error < 0.1 * curl
    caption = next(plain(c.value) for c in at.caption if c.value.startswith("Estimated at"))
    assert caption.startswith(
        f"Estimated at all {_number(_showing(at).split(' of ')[1].split()[0]):,.0f} inputs"
    )
    assert "95% intervals: surface divergence [" in caption


def test_missing_probe_shows_an_error(checkpoint):
    (checkpoint.parent / "probe.npz").unlink()
    at = _page(checkpoint_a=str(checkpoint))
    assert not at.exception
    assert "no probe data" in plain(at.error[0].value)


def _decoded_counts(at: AppTest) -> tuple[int, int, int, int]:
    """(distinct decoded endpoints, rows, distinct decoded starts, target combinations) from the cards
    and the caption."""
    cards = _metrics(at)
    end, rows = (int(n) for n in cards["Distinct endpoint sentences"].replace(",", "").split(" of "))
    start = int(cards["Distinct start sentences"].replace(",", "").split(" of ")[0])
    caption = next(plain(c.value) for c in at.caption if "rows decoded" in c.value)
    decoded, groups = re.match(r"([\d,]+) rows decoded, ([\d,]+) target combinations", caption).groups()
    assert int(decoded.replace(",", "")) == rows
    return end, rows, start, int(groups.replace(",", ""))


def test_read_the_endpoints_of_the_demo_runs():
    at = _page()
    at.toggle(key="traj_decode").set_value(True).run()
    assert not at.exception and not at.error
    assert at.number_input(key="traj_decode_rows").value == DECODE_ROWS == 256
    table = at.dataframe[0].value
    assert len(table) == DECODE_ROWS
    assert list(table.columns) == [
        "row",
        "sentence",
        "original",
        "target",
        "decoded start",
        "decoded endpoint",
    ]
    # The diagnosis's targets (the page's default) flip exactly one attribute of each row.
    for original, target in zip(table["original"], table["target"], strict=True):
        assert len((set(original.split("+")) ^ set(target.split("+"))) - {"none"}) == 1
    assert all(s.endswith((".", "?")) for s in table["decoded endpoint"])
    collapsed = _decoded_counts(at)
    assert collapsed[0] == table["decoded endpoint"].nunique()

    fixed_last = [
        p for p in demo_checkpoints() if p.parent.name == "fixed" and p.parent.parent.name == "flow"
    ][-1]
    at.selectbox(key="traj_checkpoint").select(f"demo: {display_name(fixed_last)}").run()
    assert not at.exception and not at.error
    fixed = _decoded_counts(at)
    assert collapsed[1] == fixed[1] == DECODE_ROWS and collapsed[3] == fixed[3]
    # At the default row count the contrast is plain: the collapsed endpoints read as about two
    # sentences per target combination, the fixed ones stay about as distinct as their starts (the same
    # inputs in both runs).
    assert collapsed[0] <= 2 * collapsed[3] < 0.3 * DECODE_ROWS and fixed[0] >= 0.8 * DECODE_ROWS
    assert collapsed[2] == fixed[2] > 0.9 * DECODE_ROWS

    at.number_input(key="traj_decode_rows").set_value(5).run()
    assert len(at.dataframe[0].value) == 5 and _decoded_counts(at)[1] == 5


def test_decoding_needs_the_text_models_dimension(checkpoint):
    at = _page(checkpoint_a=str(checkpoint))
    at.toggle(key="traj_decode").set_value(True).run()
    assert not at.exception
    assert "16-d embeddings but the text model reads 384-d" in plain(at.error[0].value)


def test_field_cards_and_caption_say_how_the_field_was_sampled():
    from ui import flow

    sampled = FieldStats(-0.012341, 0.4, 0.00041, 0.012, 5_000, 100_000)
    cards, helps, notes = flow.metric_cards(
        {"field_divergence": sampled.divergence, "field_curl": sampled.curl}, flow.field_errors(sampled)
    )
    assert cards == {"Surface divergence": "-0.01234 ± 0.00041", "Curl magnitude": "0.400 ± 0.012"}
    assert "5,000 rows" in helps["Surface divergence"] and notes == []
    caption = flow.field_caption(sampled)
    assert caption.startswith("Estimated at a seeded uniform sample of 5,000 of the 100,000 inputs, 8 ")
    assert "which inputs were drawn" in caption
    assert "surface divergence [-0.01314, -0.01154]; curl magnitude [0.376, 0.424]" in caption
    everything = FieldStats(0.5, 0.2, 0.01, 0.02, 300, 300)
    assert flow.field_caption(everything).startswith("Estimated at all 300 inputs")
    broken = Undefined("the field is NaN or inf at some points")
    cards, _, notes = flow.metric_cards(
        {"field_divergence": broken}, flow.field_errors(FieldStats(broken, broken, broken, broken, 9, 9))
    )
    assert cards == {"Surface divergence": "undefined"} and "NaN or inf" in notes[0]
    assert "95% intervals" not in flow.field_caption(FieldStats(broken, broken, broken, broken, 9, 9))


def _dot_rows(spec: dict, axis: str) -> list[int]:
    """Rows per endpoint dot of one panel of the picture (customdata[3] of the endpoint traces), largest first."""
    counts = [
        point[3]
        for trace in spec["data"]
        if trace["name"].startswith("endpoint") and trace.get("xaxis", "x") == axis
        for point in trace["customdata"]
    ]
    return sorted(counts, reverse=True)


def _holding_90(counts: list[int]) -> int:
    return int(np.searchsorted(np.cumsum(counts), 0.9 * sum(counts)) + 1)


def test_demo_picture_heavy_dots_beside_a_cloud():
    # Sidebar B = the fixed demo run: the collapsed run and the fixed run side by side, same controls.
    fixed_last = [
        p for p in demo_checkpoints() if p.parent.name == "fixed" and p.parent.parent.name == "flow"
    ][-1]
    at = _page(checkpoint_b=str(fixed_last))
    assert not at.exception and not at.error
    picture = json.loads(at.get("plotly_chart")[0].proto.spec)
    collapsed, fixed = _dot_rows(picture, "x"), _dot_rows(picture, "x2")
    # Every frame row is in one dot; the collapsed run's 1,000 rows sit on about one dot per target
    # (32 here, 28 of them hold 90% of the rows), the fixed run's on about one dot per row (988 dots, the
    # largest holding 7 rows).
    assert sum(collapsed) == sum(fixed) == 1000
    assert len(collapsed) <= 40 and _holding_90(collapsed) <= 32 and collapsed[0] >= 20
    assert len(fixed) >= 900 and _holding_90(fixed) >= 800 and fixed[0] <= 10
    # The picture's own headline (the verdict strip above it also names distinct endpoints).
    headline = next(m.value for m in at.markdown if "dots hold 90%" in m.value)
    assert "B: flow/fixed/fclf_epoch_020.pt" in headline and headline.count("dots hold 90%") == 2
    # The paths, start points and the animation show the sample only (100 of 1,000 rows by default).
    starts = next(t for t in picture["data"] if t["name"] == "start points")
    assert len(starts["customdata"]) == 100
