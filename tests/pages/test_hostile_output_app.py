"""Untrusted text stays text in the app (issue 26): names from hostile files never reach a Markdown
renderer raw nor a chart as live markup, a NUL byte in a link is a refusal, and the Runs page lists
only sweeps of folders this server may read."""

from __future__ import annotations

import shutil

import pytest

from core import DEMO_DIR
from core import sweep as sweep_module
from core.io import encode
from core.io.paths import ROOTS_ENV
from core.sweep import sweep
from tests import hostile_files as hf
from tests.pages.helpers import router_app, run_page
from ui import flow

needs_demo = pytest.mark.skipif(not DEMO_DIR.is_dir(), reason="demo assets not built")
# Payloads that would do something in Markdown: a link, an image, HTML, an escape.
LIVE = [p for p in hf.PAYLOADS.values() if any(c in p for c in "[<!\x1b\n")]
MARKDOWN_KINDS = ("markdown", "error", "warning", "info", "success", "caption", "subheader", "title")


def rendered(at) -> list[str]:
    """Every string the app hands to a Markdown renderer: element bodies and widget / metric labels."""
    texts = [el.value for kind in MARKDOWN_KINDS for el in getattr(at, kind)]
    texts += [
        el.label for kind in ("metric", "selectbox", "multiselect", "slider") for el in getattr(at, kind)
    ]
    return [str(t) for t in texts]


def assert_inert(at) -> None:
    for text in rendered(at):
        for payload in LIVE:
            assert payload not in text, (payload, text[:200])


def assert_charts_inert(at) -> None:
    charts = at.get("plotly_chart")
    assert charts
    for chart in charts:
        assert "<a" not in chart.proto.spec and "<script" not in chart.proto.spec


def test_overview_shows_hostile_tensor_names_config_and_errors_as_text(tmp_path):
    at = run_page("overview", checkpoint_a=str(hf.payload_keys(tmp_path, list(hf.PAYLOADS.values()))))
    assert not at.exception and at.error  # no adapter knows the layout: said in an error box
    assert_inert(at)
    names = set(at.dataframe[-1].value["tensor"])  # the table of tensors shows the names as they are
    assert hf.PAYLOADS["md_link"] in names and hf.PAYLOADS["osc_title"] in names


@needs_demo
def test_trajectories_labels_hover_and_legends_carry_no_live_markup(tmp_path):
    checkpoint = hf.payload_flow_run(tmp_path, list(hf.PAYLOADS.values()))
    # Targets chosen per attribute: one control labelled with each attribute name.
    at = run_page("trajectories", timeout=300, checkpoint_a=str(checkpoint), traj_targets=flow.BY_HAND)
    assert not at.exception
    assert_inert(at)
    labels = [s.label for s in at.selectbox]
    assert encode.markdown(hf.PAYLOADS["md_image"]) in labels  # attribute names shown, escaped
    assert_charts_inert(at)
    assert any("&lt;a href" in c.proto.spec for c in at.get("plotly_chart"))


@needs_demo
def test_overview_of_a_run_folder_named_like_markup(tmp_path):
    checkpoint = hf.payload_flow_run(tmp_path, list(hf.PAYLOADS.values()))
    at = run_page("overview", checkpoint_a=str(checkpoint))
    assert not at.exception
    assert_inert(at)
    assert any(encode.markdown(hf.PAYLOADS["script_break"]) in c.value for c in at.caption)


def test_nul_byte_in_a_linked_path_is_a_refusal(monkeypatch, tmp_path):
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    at = router_app(monkeypatch, query={"source_a": "Path", "path_a": f"{tmp_path}/a\0b.pt"}).run()
    assert not at.exception
    assert any("cannot hold a NUL byte" in e.value for e in at.error)


@needs_demo
def test_runs_page_lists_only_sweeps_of_roots_it_may_read(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    for name in ("inside", "outside"):
        shutil.copytree(DEMO_DIR / "codebook" / "fixed", tmp_path / name / "run")
        sweep(tmp_path / name, cache_dir=cache)
    monkeypatch.setattr(sweep_module, "SWEEP_CACHE", cache)
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path / "inside"))
    at = run_page("runs")
    assert not at.exception
    assert [o.split(" (")[0] for o in at.selectbox(key="runs_recent").options] == ["inside"]
    assert any("1 earlier sweep of folders outside" in c.value for c in at.caption)
    monkeypatch.delenv(ROOTS_ENV)
    at = run_page("runs")
    assert not at.exception and "No sweep has been run" in at.info[0].value


@pytest.mark.parametrize("seed", [1, 2])
def test_random_hostile_names_stay_text_on_the_overview(tmp_path, seed):
    """The output-encoding fuzz family (tests/fuzz_harness.py) in the app: random payload mixes as
    tensor keys, config and metadata values and the run folder's name."""
    import random

    from tests.fuzz_harness import _folder_name, _hostile_name

    rng = random.Random(seed)
    names = list(dict.fromkeys(_hostile_name(rng) for _ in range(3)))
    run = tmp_path / _folder_name(names[0])
    run.mkdir()
    at = run_page("overview", checkpoint_a=str(hf.payload_keys(run, names)))
    assert not at.exception
    for text in rendered(at):
        for name in names:
            assert name not in text
        assert not any(c in text for c in hf.CONTROL_BYTES if c != "\n")
