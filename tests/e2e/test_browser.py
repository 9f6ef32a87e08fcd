"""Drive the real app in Debian's Chromium (server and browser fixtures in conftest.py): open it, look for
plots, follow links."""

from __future__ import annotations

import re
import time

import pytest


def _settle(page, timeout: float = 180) -> None:
    """Wait for the router's sidebar, then until the app has stopped running for a few seconds."""
    page.locator('[data-testid="stSidebar"]').get_by_text("Checkpoints", exact=True).wait_for(timeout=120_000)
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and quiet < 3:
        running = page.locator('[data-testid="stStatusWidget"] button').count() > 0
        quiet = 0 if running or page.locator('[data-testid="stSpinner"]').count() else quiet + 1
        time.sleep(1)


@pytest.mark.e2e
def test_app_renders_in_chromium_without_exception(app_url, chromium_browser):
    page = chromium_browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Overview").wait_for(timeout=90_000)
    page.get_by_text("Health report").wait_for(timeout=90_000)
    page.get_by_text("prototype: collapse").first.wait_for(timeout=120_000)
    page.get_by_role("link", name="Trajectories").click()
    page.get_by_role("heading", name="Trajectories").wait_for(timeout=90_000)
    plot = page.locator('[data-testid="stPlotlyChart"] .main-svg').first
    plot.wait_for(timeout=120_000)
    box = plot.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200
    assert page.get_by_text(re.compile(r"showing \d[\d,]* of \d")).count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    # A page's own URL still goes through the router (shared sidebar present).
    page.goto(f"{app_url}/codebook", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Codebook").first.wait_for(timeout=90_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Checkpoints", exact=True).wait_for(timeout=30_000)


@pytest.mark.e2e
def test_a_shared_link_opens_the_same_view_even_on_a_fresh_server(fresh_app_url, chromium_browser):
    link = (
        f"{fresh_app_url}/codebook?demo_run_a=codebook/fixed&demo_epoch_a=vqvae_epoch_010.pt"
        "&cb_threshold=0.2&cb_log=false"
    )
    page = chromium_browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(link, wait_until="domcontentloaded")  # the server's very first request
    _settle(page)
    page.get_by_role("heading", name="Codebook usage").wait_for(timeout=60_000)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("A: fixed/ · vqvae_epoch_010.pt").wait_for(timeout=60_000)
    threshold = main.locator('[data-testid="stSlider"]').filter(has_text="Dead threshold")
    assert threshold.locator('[data-testid="stSliderThumbValue"]').inner_text() == "0.20"
    assert "cb_threshold=0.2" in page.url and "cb_log=false" in page.url
    page.reload(wait_until="domcontentloaded")  # a reload keeps the view
    _settle(page)
    main.get_by_text("A: fixed/ · vqvae_epoch_010.pt").wait_for(timeout=60_000)
    assert "cb_threshold=0.2" in page.url
    # Moving a control updates the link.
    page.get_by_text("Log scale").click()
    page.wait_for_function("() => location.search.includes('cb_log=true')", timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0


@pytest.mark.e2e
def test_a_rejected_path_shows_no_findings(app_url, chromium_browser):
    page = chromium_browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url, wait_until="domcontentloaded")
    _settle(page)
    page.get_by_text("prototype: collapse").first.wait_for(timeout=120_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Path", exact=True).first.click()
    box = sidebar.get_by_label("A: path")
    box.fill("/etc/passwd")
    box.press("Enter")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("outside the folders this server may read").wait_for(timeout=60_000)
    _settle(page)
    assert main.get_by_text("Nothing is shown until this is fixed").count() == 1
    for verdict in ("prototype: collapse", "Health report", "Known fix"):
        assert main.get_by_text(verdict).count() == 0, verdict
    page.get_by_role("link", name="Compare").click()
    page.get_by_role("heading", name="Compare").wait_for(timeout=60_000)
    _settle(page)
    assert main.get_by_text("outside the folders this server may read").count() == 1
    assert main.locator('[data-testid="stDataFrame"]').count() == 0


@pytest.mark.e2e
def test_an_unlisted_url_goes_through_the_router(app_url, chromium_browser):
    page = chromium_browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{app_url}/no_such_page", wait_until="domcontentloaded")
    _settle(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("Checkpoints", exact=True).wait_for(timeout=30_000)
    assert page.locator('[data-testid="stSidebarNav"]').get_by_text("app", exact=True).count() == 0


@pytest.mark.e2e
def test_pages_stay_usable_800_px_wide(app_url, chromium_browser):
    page = chromium_browser.new_page(viewport={"width": 800, "height": 1000})
    main = page.locator('[data-testid="stMain"]')
    for name in ("codebook", "latents", "overview", "trajectories"):
        page.goto(f"{app_url}/{name}", wait_until="domcontentloaded")
        _settle(page)
        if name == "trajectories":
            # Its optional parts too: the field's "value ± error" cards and the decoded-sentence cards.
            for toggle in (
                "Divergence and curl of the field at the inputs",
                "Decode start and endpoint of a few rows into sentences",
            ):
                main.get_by_text(toggle).click()
                _settle(page)
            main.get_by_text("Distinct endpoint sentences", exact=True).wait_for(timeout=120_000)
            main.get_by_text("Curl magnitude", exact=True).wait_for(timeout=60_000)
        main_width = main.bounding_box()["width"]
        widths = [
            box["width"]
            for box in map(lambda e: e.bounding_box(), page.locator('[data-testid="stPlotlyChart"]').all())
            if box
        ]
        assert all(w >= 0.8 * (main_width - 40) for w in widths), (name, main_width, widths)
        # A card with a tooltip cuts its label in the label's markdown container (its text is inline).
        cut = page.evaluate(
            """() => [...document.querySelectorAll(
                '[data-testid="stWidgetLabel"] p, [data-testid="stMetricLabel"] p, [data-testid="stMetricValue"] div, '
                + '[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"]')]
                .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""
        )
        assert cut == [], (name, cut)
    assert len(widths) == 3  # Trajectories: the picture, the animation and the step lengths


@pytest.mark.e2e
def test_the_exported_report_draws_its_pictures_offline(tmp_path, chromium_browser):
    from core.cli import main
    from core.io.paths import DEMO_DIR

    a, b = DEMO_DIR / "posterior" / "collapsed", DEMO_DIR / "posterior" / "fixed"
    out = tmp_path / "report.html"
    main(["report", str(a / "vae_epoch_060.pt"), "--compare", str(b / "vae_epoch_060.pt"), "--out", str(out)])
    context = chromium_browser.new_context(offline=True)
    page = context.new_page()
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-plots-ready]", timeout=60_000)
    assert page.locator("div.plot .main-svg").count() >= 1
    assert page.get_by_text("B fixes A's posterior collapse").count() == 1
    pdf = page.pdf()  # print-friendly: it prints
    assert pdf[:4] == b"%PDF"
