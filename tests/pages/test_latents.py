import numpy as np
from streamlit.testing.v1 import AppTest

from tests.adapters.cases_posterior import fc_mu_case
from tests.pages.helpers import plain, run_page


def _metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def _captions(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def test_demo_defaults_and_controls():
    at = run_page("latents")
    assert not at.exception
    assert [plain(h.value) for h in at.subheader] == [
        "A: posterior/collapsed/vae_epoch_060.pt",
        "B: posterior/fixed/vae_epoch_060.pt",
    ]
    metrics = _metrics(at)
    assert ("Active units", "0 of 8") in metrics and ("Active units", "8 of 8") in metrics
    # The fixed run's Hydra config sets free bits 0.5: the floor slider starts there.
    assert at.slider(key="lat_floor").value == 0.5
    assert [v for label, v in metrics if label == "On the floor"] == ["100%", "0%"]
    assert len(at.get("image")) == 4
    assert len(at.get("plotly_chart")) == 5  # KL, activity, sigma, and one run timeline per checkpoint
    assert any("not a VAE" in plain(c.value) for c in at.caption)  # the sidebar's default A is another family
    (csv,) = at.get("download_button")
    assert csv.proto.label == "Download KL, Var(mu) and sigma per dimension (CSV)"
    assert vae_table_rows() == 16  # 8 dimensions x (A, B)

    at.slider(key="lat_floor").set_value(1.0).run()
    assert not at.exception
    floor_b = [v for label, v in _metrics(at) if label == "On the floor"][1]
    assert floor_b not in ("0%", "100%")

    at.multiselect(key="lat_dims_1").set_value([2, 5]).run()
    at.slider(key="lat_steps").set_value(5).run()
    at.slider(key="lat_range").set_value((-2.0, 2.0)).run()
    at.radio(key="lat_base").set_value("first probe row's mu").run()
    at.slider(key="lat_recon").set_value(4).run()
    assert not at.exception
    assert any("rows = dimensions [2, 5]; columns z from -2 to 2" in c for c in _captions(at))
    # The collapsed run has no active dimension: its traversal says so.
    assert any("no active dimension" in c for c in _captions(at))

    at.multiselect(key="lat_dims_1").set_value([]).run()
    assert not at.exception
    assert any("choose at least one dimension" in plain(i.value) for i in at.info)


def test_sidebar_vae_checkpoint_is_used(tmp_path):
    path = fc_mu_case(tmp_path)
    at = run_page("latents", checkpoint_b=str(path))
    assert not at.exception
    assert plain(at.subheader[1].value).startswith("B: ") and "vae_epoch_3.pt" in plain(at.subheader[1].value)
    assert "from the sidebar" in [plain(c.value) for c in at.caption]
    assert [v for label, v in _metrics(at) if label == "Active units"][1].endswith(" of 4")


def test_bad_inputs_show_messages(tmp_path):
    (tmp_path / "img.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    no_probe = tmp_path / "noprobe"
    no_probe.mkdir()
    path = fc_mu_case(no_probe)
    (no_probe / "probe.npz").unlink()
    at = run_page("latents", checkpoint_a=str(tmp_path / "img.pt"), checkpoint_b=str(path))
    assert not at.exception
    assert any(plain(c.value).startswith("A (img.pt): img.pt is a PNG image") for c in at.caption)
    assert any("no probe data for vae_epoch_3.pt" in plain(e.value) for e in at.error)

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    path = fc_mu_case(wrong)
    np.savez(wrong / "probe.npz", x=np.zeros((5, 10), np.float32))
    at = run_page("latents", checkpoint_b=str(path))
    assert not at.exception
    assert any("x has 10 values per row but vae_fc_mu expects 16" in plain(e.value) for e in at.error)


def vae_table_rows() -> int:
    from ui.posterior import analysis, choices, dimension_table

    picked, _ = choices()
    rows = dimension_table({c.slot: analysis(c, 0.0, False) for c in picked})
    assert set(rows[0]) == {"checkpoint", "dimension", "kl_nats", "var_mu", "mean_sigma", "active"}
    return len(rows)
