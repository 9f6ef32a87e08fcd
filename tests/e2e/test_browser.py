"""Drive the real app in Debian's Chromium (server and browser in conftest.py): open it, find a plot."""

from __future__ import annotations

import re

import pytest


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
