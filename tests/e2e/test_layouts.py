"""Layouts that hold, measured in Chromium rather than looked at: at 800 px (the sidebar open) Generation
keeps A's and B's outputs in view and Codebook's run-by-run heatmaps keep their labels off each other; in
the dark theme the threshold and reference lines read against the background."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from tests.e2e.test_browser import _settle

NARROW = {"width": 800, "height": 900}
TABLE = '[data-testid="stDataFrame"]'
PLOT = '[data-testid="stPlotlyChart"]'


def _open(page, url: str) -> None:
    """Go to `url` and wait for the app to settle. A server's very first page request may answer with
    Streamlit's 'Page not found' dialog over the routed page (which is drawn right behind it); it is
    closed, as a reader would, since it makes the page inert."""
    page.goto(url, wait_until="domcontentloaded")
    _settle(page)
    dialog = page.get_by_role("dialog").filter(has_text="Page not found")
    if dialog.count():
        page.keyboard.press("Escape")
        dialog.wait_for(state="detached", timeout=10_000)


def _column_edges(canvas) -> list[int]:
    """x of every vertical line drawn through the grid's header row (its column borders), in px from
    the canvas' left edge: the grid is a canvas, so its columns are found in its pixels."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"), dtype=int)
    header = pixels[5:30]
    background = np.median(header.reshape(-1, 3), axis=0)
    darker = (np.abs(header - background).sum(axis=2) > 12).mean(axis=0)
    return [x for x in range(header.shape[1]) if darker[x] > 0.9]


@pytest.mark.e2e
def test_generation_keeps_a_and_b_outputs_in_view_at_800_px(app_url, chromium_browser):
    page = chromium_browser.new_page(viewport=NARROW)
    _open(page, f"{app_url}/generation?demo_run_a=text/collapsed&demo_run_b=text/fixed")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Outputs", exact=True).wait_for(timeout=180_000)
    table = main.locator(TABLE).first
    table.wait_for(timeout=60_000)
    box = table.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"], box
    headers = [h.inner_text().strip() for h in table.locator('[role="columnheader"]').all()]
    assert headers[:3] == ["input", "A", "B"], headers
    canvas = table.locator('[data-testid="data-grid-canvas"]')
    width = canvas.bounding_box()["width"]
    inner = [x for x in _column_edges(canvas) if 2 < x < width - 3]
    # input, A and B each end inside the visible grid: B is not cut by its right edge.
    assert len(inner) >= 3 and inner[2] - inner[1] >= 150, (inner, width)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def _overlaps(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


@pytest.mark.e2e
def test_codebook_run_heatmaps_keep_their_labels_apart_at_800_px(app_url, chromium_browser):
    page = chromium_browser.new_page(viewport=NARROW)
    _open(page, f"{app_url}/codebook?demo_run_a=codebook/collapsing&demo_run_b=codebook/fixed&cb_view=run")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_role("tab", name="Runs side by side").click()
    chart = main.locator('[role="tabpanel"]:visible').locator(PLOT).first  # the runs' usage heatmaps
    chart.locator(".main-svg").first.wait_for(timeout=120_000)
    subplots = ("xy", "x2y2")
    areas = {s: chart.locator(f".draglayer .{s} .nsewdrag").bounding_box() for s in subplots}
    labels = {
        s: chart.locator(f".cartesianlayer .subplot.{s} .yaxislayer-above").bounding_box() for s in subplots
    }
    assert all(areas.values()) and all(labels.values()), (areas, labels)
    for s in subplots:
        for other in subplots:
            if other != s:
                assert not _overlaps(labels[s], areas[other]), (s, labels[s], other, areas[other])
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def _luminance(rgb: tuple[int, ...]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    c = np.asarray(rgb[:3], dtype=float) / 255
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])


def _rgb(css: str) -> tuple[int, ...]:
    """'rgb(1, 2, 3)' / 'rgba(...)' / '#8c8c8c' -> (r, g, b)."""
    if css.startswith("#"):
        return tuple(int(css[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(int(float(v)) for v in re.findall(r"[\d.]+", css)[:3])


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("name", "query", "words"),
    [
        ("latents", "demo_run_a=posterior/collapsed", "active threshold"),
        ("codebook", "demo_run_a=codebook/collapsing", "uniform 1/K"),
    ],
)
def test_threshold_lines_read_in_the_dark(app_url, chromium_browser, name, query, words):
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    _open(page, f"{app_url}/{name}?{query}")
    main = page.locator('[data-testid="stMain"]')
    chart = main.locator(PLOT).filter(has_text=words).first
    chart.locator(".main-svg").first.wait_for(timeout=120_000)
    background = _rgb(page.evaluate("getComputedStyle(document.querySelector('.stApp')).backgroundColor"))
    assert _luminance(background) < 0.05, background  # the dark theme is on
    strokes = chart.evaluate(
        "e => [...e.querySelectorAll('.shapelayer path')].map(p => getComputedStyle(p).stroke)"
    )
    assert strokes, "no threshold line drawn"
    for stroke in strokes:
        lighter, darker = sorted((_luminance(_rgb(stroke)), _luminance(background)), reverse=True)
        assert (lighter + 0.05) / (darker + 0.05) >= 3, (stroke, background)  # WCAG contrast for graphics
    context.close()


# Text a box cuts off: a label or card value wider than its box.
CUT_TEXT = """() => [...document.querySelectorAll(
    '[data-testid="stWidgetLabel"] p, [data-testid="stMetricLabel"] p, [data-testid="stMetricValue"] div')]
    .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""


@pytest.mark.e2e
def test_codebook_sets_the_sidebar_a_and_b_side_by_side_at_800_px(app_url, chromium_browser):
    page = chromium_browser.new_page(viewport=NARROW)
    _open(page, f"{app_url}/codebook?demo_run_a=codebook/collapsing&demo_run_b=codebook/fixed")
    main = page.locator('[data-testid="stMain"]')
    a = main.get_by_role("heading", name="A: collapsing/ · vqvae_epoch_040.pt")
    b = main.get_by_role("heading", name="B: fixed/ · vqvae_epoch_040.pt")
    a.wait_for(timeout=120_000)
    box_a, box_b = a.bounding_box(), b.bounding_box()
    assert not _overlaps(box_a, box_b) and box_b["x"] + box_b["width"] <= NARROW["width"], (box_a, box_b)
    values = [v.inner_text() for v in main.locator('[data-testid="stMetricValue"]').all()]
    a_cards, b_cards = (
        ["6.28", "0.098", "84% (54 of 64)", "10 of 64"],
        ["51.03", "0.797", "0% (0 of 64)", "64 of 64"],
    )
    assert values == a_cards + b_cards, values  # A's cards, then B's, none cut (below)
    assert page.evaluate(CUT_TEXT) == []
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
