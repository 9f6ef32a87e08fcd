"""Training page: the shipped exploding run by default, typed folders, controls, and bad input."""

import pytest
from streamlit.testing.v1 import AppTest

from core import DEMO_DIR
from core.io.paths import ROOTS_ENV
from tests.pages.helpers import run_page
from tests.training_fixtures import exploding_run, healthy_run, write_events

DEMO_RUN = DEMO_DIR / "training" / "exploding_run"


def _page(tmp_path) -> AppTest:
    """The Training page with checkpoint A in a folder that holds no logs."""
    return run_page("training", timeout=90, checkpoint_a=str(tmp_path / "elsewhere" / "model.pt"))


def _events(at: AppTest) -> list[dict]:
    table = next(df.value for df in at.dataframe if "event" in df.value.columns)
    return table.to_dict("records")


def _open(at: AppTest, folder) -> AppTest:
    at.selectbox(key="tr_run").select("Other folder…").run()
    at.text_input(key="tr_path").input(str(folder)).run()
    return at


@pytest.mark.skipif(not DEMO_RUN.is_dir(), reason="demo assets not built (python -m core.demo build)")
def test_shipped_exploding_run_shows_its_events(tmp_path):
    at = _page(tmp_path)
    assert not at.exception
    assert at.selectbox(key="tr_run").value == "demo: training/exploding_run"
    kinds = {row["event"] for row in _events(at)}
    assert {"nonfinite", "grad blowup", "spike"} <= kinds
    assert any("training: collapse" in m.value for m in at.markdown)
    assert "train/semantic" in at.multiselect(key="tr_series").value

    ckpt = at.selectbox(key="tr_ckpt")
    assert ckpt.value == "epoch 9 · ckpt_epoch_009.pt"  # the last checkpoint, saved after the blow-up
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["NaN weights"].replace(",", "")) > 0 and metrics["Epoch / step"] == "9 / 279"
    assert any("hold" in m.value and "NaN" in m.value for m in at.markdown)
    ckpt.select("epoch 0 · ckpt_epoch_000.pt").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["NaN weights"] == "0" and metrics["Optimizer state saved"] == "no"
    assert not at.exception


def test_typed_folder_controls_and_compare(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    exploding_run(tmp_path / "bad")
    healthy_run(tmp_path / "good")
    at = _open(_page(tmp_path), tmp_path / "bad")
    assert not at.exception and not at.error
    rows = _events(at)
    spike = next(r for r in rows if r["event"] == "spike")
    assert (spike["step"], spike["series"], spike["run"]) == (60, "train/loss", "A")
    assert any(r["event"] == "divergence" and r["step"] == 39 for r in rows)
    assert at.multiselect(key="tr_series").value == [
        "grad_norm",
        "train/loss",
        "train_loss_epoch",
        "val_loss",
    ]

    at.multiselect(key="tr_series").set_value(["train/loss"]).run()
    at.toggle(key="tr_log").set_value(True).run()
    at.slider(key="tr_smoothing").set_value(0.0).run()
    at.toggle(key="tr_events").set_value(False).run()
    assert not at.exception
    chart = at.get("plotly_chart")[0].proto.spec
    assert '"type":"log"' in chart.replace(" ", "")

    at.selectbox(key="tr_compare").select("Other folder…").run()
    at.text_input(key="tr_path_b").input(str(tmp_path / "good")).run()
    assert not at.exception and not at.error
    assert {r["run"] for r in _events(at)} == {"A"}  # the healthy run B adds no events
    assert "loss" in at.multiselect(key="tr_series").options  # B's series are offered too
    runs = [m.value for m in at.markdown if m.value in ("**Run A**", "**Run B**")]
    assert runs == ["**Run A**", "**Run B**"]  # each run gets its own findings column


def test_bad_folders_show_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    (tmp_path / "empty").mkdir()
    at = _open(_page(tmp_path), tmp_path / "empty")
    assert not at.exception
    assert "events.out.tfevents.*" in at.error[0].value and "training_log.json" in at.error[0].value
    at.text_input(key="tr_path").input("/definitely/not/allowed").run()
    assert "outside the folders this server may read" in at.error[0].value


def test_truncated_event_file_is_read_and_flagged(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))
    path = write_events(tmp_path / "cut", {"loss": [float(i) for i in range(30)]})
    path.write_bytes(path.read_bytes()[:-5])
    at = _open(_page(tmp_path), tmp_path / "cut")
    assert not at.exception and not at.error
    assert any("truncated" in w.value for w in at.warning)
    assert at.multiselect(key="tr_series").value == ["loss"]
