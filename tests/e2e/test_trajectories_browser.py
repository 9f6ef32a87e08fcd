"""The Trajectories picture in Chromium: the collapse shows as a few spots, the flow plays, a box selection
lists its rows (sentences, targets, decoded endpoints) for download."""

from __future__ import annotations

import csv
import io
import math
import re

import pytest

# The figure as Plotly drew it: each trace's name and decoded coordinates, and the axes' ranges.
FIGURE = """(index) => {
    const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[index];
    const layout = gd._fullLayout;
    return {
        x: layout.xaxis.range, y: layout.yaxis.range,
        traces: gd._fullData.map(t => ({
            name: t.name, visible: t.visible,
            x: Array.from(t.x || [], Number), y: Array.from(t.y || [], Number)})),
        slider: layout.sliders && layout.sliders.length ? layout.sliders[0].active : null,
        frames: (gd._transitionData && gd._transitionData._frames || []).map(f => f.name),
    };
}"""

# Pixel position (page coordinates) of a point of the first chart, from its data coordinates.
TO_PIXELS = """([x, y]) => {
    const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[0];
    const layout = gd._fullLayout, box = gd.getBoundingClientRect();
    return [box.left + layout._size.l + layout.xaxis.l2p(x), box.top + layout._size.t + layout.yaxis.l2p(y)];
}"""


def spots(figure: dict) -> int:
    """Distinct cells of a 1% grid over the plot's span that the shown endpoints occupy."""
    (x0, x1), (y0, y1) = figure["x"], figure["y"]
    cells = set()
    for trace in figure["traces"]:
        if "endpoint" in trace["name"] and trace["visible"] is True:
            for x, y in zip(trace["x"], trace["y"], strict=True):
                cells.add((int((x - x0) // ((x1 - x0) / 100)), int((y - y0) // ((y1 - y0) / 100))))
    return len(cells)


def _metric(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def _settled(page, timeout: float = 300_000) -> None:
    """Wait until the script run ends (Streamlit's status widget leaves) and the first chart is drawn."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=timeout)
    page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.wait_for(timeout=timeout)
    page.wait_for_timeout(1500)


def _download(page, name: str) -> list[dict]:
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=name).click()
    with open(info.value.path(), encoding="utf-8") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


@pytest.mark.e2e
def test_collapse_shows_as_spots_plays_and_selects(app_url, chromium_browser):
    page = chromium_browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    page.goto(f"{app_url}/trajectories", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Trajectories").first.wait_for(timeout=120_000)
    _settled(page)
    assert page.locator('[data-testid="stException"]').count() == 0

    # Default controls, collapsed demo: the endpoint dots sit on about as many spots as there are distinct
    # endpoints; the frame's trustworthiness is shown beside the plot.
    collapsed = page.evaluate(FIGURE, 0)
    names = [t["name"] for t in collapsed["traces"]]
    assert names[:2] == ["inputs", "paths"] and "start points" in names
    distinct = int(_metric(page, "Distinct endpoints").replace(",", ""))
    assert spots(collapsed) <= 3 * distinct
    assert float(_metric(page, "Frame trustworthiness")) >= 0.93
    assert page.get_by_text(re.compile(r"showing 100 of 1,000 trajectories")).count() == 1
    # The controls are in the page's link; the download buttons (no state to restore) are not.
    assert "traj_steps=10" in page.url and "traj_targets=" in page.url and "download" not in page.url

    # Play: the moving points travel from the inputs (step 0) to the endpoints (last frame).
    animation = page.evaluate(FIGURE, 1)
    last = animation["frames"][-1]
    moving = [i for i, t in enumerate(animation["traces"]) if t["name"].startswith("moving")]
    start = [animation["traces"][i]["x"] for i in moving]
    page.locator("g.updatemenu-button").filter(has_text="Play").click()
    page.wait_for_function(
        """(last) => {
            const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[1];
            return !gd._animating && String(gd._fullLayout.sliders[0].active) === String(gd._fullLayout.sliders[0].steps.length - 1);
        }""",
        arg=last,
        timeout=60_000,
    )
    page.wait_for_timeout(800)
    played = page.evaluate(FIGURE, 1)
    ended = [played["traces"][i]["x"] for i in moving]
    assert ended != start
    picture = page.evaluate(FIGURE, 0)
    # Each path is its steps then a gap (NaN): the point before each gap is that row's endpoint.
    line = next(t["x"] for t in picture["traces"] if t["name"] == "paths")
    ends = sorted(line[i - 1] for i, x in enumerate(line) if math.isnan(x))
    assert sorted(x for group in ended for x in group) == pytest.approx(ends, abs=1e-4)

    # Select: a box around one island's dot lists every row that ends there, all of one target, decoded
    # to few sentences.
    island = next(t for t in picture["traces"] if t["name"].startswith("endpoint"))
    cx, cy = page.evaluate(TO_PIXELS, [island["x"][0], island["y"][0]])
    page.locator('[data-testid="stPlotlyChart"]').first.scroll_into_view_if_needed()
    cx, cy = page.evaluate(TO_PIXELS, [island["x"][0], island["y"][0]])
    page.mouse.move(cx - 12, cy - 12)
    page.mouse.down()
    page.mouse.move(cx + 4, cy + 4, steps=5)
    page.mouse.move(cx + 12, cy + 12, steps=5)
    page.mouse.up()
    page.get_by_text(re.compile(r"\d+ rows selected on the plot")).wait_for(timeout=180_000)
    _settled(page)
    selected = _download(page, "Download the selection (CSV)")
    assert len(selected) >= 10  # one dot holds every row that ends there
    assert {"sentence", "original", "target", "decoded endpoint"} <= set(selected[0])
    assert len({row["target"] for row in selected}) == 1
    assert all(row["sentence"] and row["decoded endpoint"] for row in selected)
    assert len({row["decoded endpoint"] for row in selected}) <= max(2, len(selected) // 3)
    table = _download(page, "Download the trajectories table (CSV, every row)")
    assert len(table) == 1000 and sum(row["shown"] == "True" for row in table) == 100

    # The fixed run at the same controls: endpoints spread over at least 3x as many spots.
    label = page.get_by_text("Checkpoint", exact=True)
    checkpoint = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(has=label).first
    checkpoint.scroll_into_view_if_needed()
    checkpoint.locator("input").click()
    checkpoint.locator("input").press_sequentially("fixed/fclf_epoch_020")
    page.get_by_role("option", name="demo: flow/fixed/fclf_epoch_020.pt").click()
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(
            m => m.innerText.includes('Distinct endpoints') && parseInt(m.innerText.split('\\n').pop().replace(/,/g, '')) > 100)""",
        timeout=300_000,
    )
    _settled(page)
    fixed = page.evaluate(FIGURE, 0)
    assert spots(fixed) >= 3 * spots(collapsed)
    assert float(_metric(page, "Frame trustworthiness")) >= 0.93
    assert page.locator('[data-testid="stException"]').count() == 0
