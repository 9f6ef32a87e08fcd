"""The answer first, in Chromium: at 1400 x 900 every page shows the verdict and its one picture without
scrolling (the demo's collapsed A, and the fixed B where the page compares); at 800 px the Compare table
keeps A and B in view and the report does not overflow."""

from __future__ import annotations

import pytest

from tests.e2e.test_browser import _settle

SCREEN = {"width": 1400, "height": 900}
PLOT = '[data-testid="stPlotlyChart"]'
TABLE = '[data-testid="stDataFrame"]'
FLOW_A = "32 distinct endpoints from 1,000 inputs: collapsed"
# (page, query, the verdict that must show, the picture that must show it, the picture's CSS selector)
FIRST_SCREENS = [
    ("", "", FLOW_A, PLOT),
    ("", "demo_run_a=codebook/collapsing", "10 of 64 codes used (84% dead): collapsed", PLOT),
    ("", "demo_run_a=posterior/collapsed", "0 of 8 latent units active: collapsed", PLOT),
    ("", "demo_run_a=text/collapsed", "1 distinct output for 64 inputs: collapsed", TABLE),
    (
        "generation",
        "demo_run_a=text/collapsed&demo_run_b=text/fixed",
        "64 distinct outputs for 64 inputs: ok",
        TABLE,
    ),
    ("codebook", "demo_run_a=codebook/collapsing", "10 of 64 codes used (84% dead): collapsed", PLOT),
    ("latents", "demo_run_a=posterior/collapsed", "0 of 8 latent units active: collapsed", PLOT),
    ("compare", "demo_run_b=flow/fixed", "988 distinct endpoints from 1,000 inputs: ok", PLOT),
    ("trajectories", "", FLOW_A, None),
]


def _inside(box: dict | None, height: float = SCREEN["height"]) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height + 1


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("name", "query", "words", "picture"),
    FIRST_SCREENS,
    ids=[
        f"{name or 'overview'}-{query.split('=')[1] if query else 'flow'}"
        for name, query, _, _ in FIRST_SCREENS
    ],
)
def test_verdict_and_picture_fill_the_first_screen(app_url, chromium_browser, name, query, words, picture):
    page = chromium_browser.new_page(viewport=SCREEN)
    main = page.locator('[data-testid="stMain"]')
    page.goto(f"{app_url}/{name}?{query}", wait_until="domcontentloaded")
    _settle(page)
    verdict = main.get_by_text(words)
    verdict.wait_for(timeout=180_000)
    assert _inside(verdict.bounding_box()), "verdict below the first screen"
    if picture is not None:  # Trajectories: its strip leads; its picture is the page's own, below
        shown = main.locator(picture).first
        shown.wait_for(timeout=180_000)
        box = shown.bounding_box()
        assert _inside(box), ("picture not inside the first screen", box)
        assert box["height"] >= 150 and box["width"] >= 600, box
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


@pytest.mark.e2e
def test_compare_keeps_a_and_b_in_view_at_800_px_in_the_dark(app_url, chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 800, "height": 900}, color_scheme="dark")
    page = context.new_page()
    page.goto(
        f"{app_url}/compare?demo_run_a=codebook/collapsing&demo_run_b=codebook/fixed",
        wait_until="domcontentloaded",
    )
    _settle(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("64 of 64 codes used (0% dead): ok").wait_for(timeout=180_000)
    table = main.locator(TABLE).first
    table.wait_for(timeout=60_000)
    box = table.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 800, box  # the table is not cut by the screen
    # The grid draws on a canvas; its accessible header row gives the column order: A and B lead, so a
    # narrow table scrolls the explanations out of view, not them.
    headers = [h.inner_text().strip() for h in table.locator('[role="columnheader"]').all()]
    assert headers[:4] == ["metric", "A", "B", "B is"], headers
    # The strip's A and B cells stack or sit side by side, never overlapping.
    cells = main.locator('[data-testid="stColumn"]').filter(has_text="codes used").all()[:2]
    a, b = (c.bounding_box() for c in cells)
    assert a["x"] + a["width"] <= b["x"] + 1 or a["y"] + a["height"] <= b["y"] + 1
    context.close()


@pytest.mark.e2e
def test_the_report_leads_with_its_verdict_and_picture(tmp_path, chromium_browser):
    from core.cli import main
    from core.io.paths import DEMO_DIR

    a, b = DEMO_DIR / "codebook" / "collapsing", DEMO_DIR / "codebook" / "fixed"
    out = tmp_path / "report.html"
    main(
        [
            "report",
            str(a / "vqvae_epoch_040.pt"),
            "--compare",
            str(b / "vqvae_epoch_040.pt"),
            "--out",
            str(out),
        ]
    )
    for width in (1400, 800):
        context = chromium_browser.new_context(offline=True, viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(out.as_uri())
        page.wait_for_selector("body[data-plots-ready]", timeout=60_000)
        verdict = page.locator(".verdicts li").first
        assert _inside(verdict.bounding_box()), width
        plot = page.locator("div.plot .main-svg").first
        box = plot.bounding_box()
        assert box is not None and box["y"] < 900 - 100, (
            width,
            box,
        )  # the picture starts on the first screen
        assert page.evaluate("document.documentElement.scrollWidth") <= width, width
        context.close()
