"""What a person waits for in the browser: each action's time to a settled page, in Debian's Chromium.

    .venv/bin/python benchmarks/bench_browser.py [--repeats 3] [--stress] [--only trajectories,generation]

Starts `streamlit run app.py` cold on a free port (as tests/e2e/conftest.py does) and a trivial one-button
Streamlit app beside it, then times, from the action to a settled page (a script run began and ended, by
Streamlit's run state on the app's root element, and no DOM change for QUIET_MS; the time reported ends at
the last DOM change):
first paint of the cold server to a visible verdict, every page's first and warm opens, and the main
controls of Trajectories, Generation, Codebook, Latents, Compare and Timeline. Each figure is the median
over `--repeats` tries (each try a value not seen before where the control allows it), printed with its
ratio to the trivial app's rerun (a button click) timed just before that row (the load drifts over a
run), and the 1-minute load average.
`--stress` runs a CPU-bound process beside the server for the whole run (a shared demo server).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the browser tests' Chromium set-up)

QUIET_MS = 300
HEADLESS = ("--server.headless", "true", "--browser.gatherUsageStats", "false")
TRIVIAL_APP = """import streamlit as st
st.session_state["n"] = st.session_state.get("n", 0) + 1
st.button("rerun", key="rerun")
st.write(f"run {st.session_state['n']}")
"""
# Installed before any page script: the time of the last DOM change (the page's own clock) and whether a
# script run began since the last mark (Streamlit's own run state on the app's root element).
OBSERVER = """() => {
    window.__last = performance.now();
    window.__ran = false;
    new MutationObserver(() => {
        window.__last = performance.now();
        const app = document.querySelector('[data-testid="stApp"]');
        if (app && app.getAttribute('data-test-script-state') !== 'notRunning') window.__ran = true;
    }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
}"""
STATE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return [performance.now(), window.__last, window.__ran,
            app ? app.getAttribute('data-test-script-state') : 'none'];
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(script: Path, cwd: Path) -> tuple[subprocess.Popen, str]:
    """Start `streamlit run script` on a free port; (process, URL) once it answers its health check."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port), *HEADLESS],
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"streamlit did not start for {script}")


def stop(proc: subprocess.Popen) -> None:
    """End a server this script started (killed when it does not stop within 30 s on a busy machine)."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load() -> float:
    return os.getloadavg()[0]


FRAMES: dict[int, int] = {}  # per page: websocket messages the server sent it


def listen(page) -> None:
    """Count the server's websocket messages to `page`: a script run that is too quick for the run state
    to be seen still sends its elements."""
    FRAMES[id(page)] = 0

    def on_socket(socket) -> None:
        def received(_payload) -> None:
            FRAMES[id(page)] += 1

        socket.on("framereceived", received)

    page.on("websocket", on_socket)


def mark(page) -> float:
    """The page's clock now, and the DOM-change mark reset to it."""
    FRAMES[id(page)] = 0
    return page.evaluate("() => { window.__ran = false; return (window.__last = performance.now()); }")


def settled(page, start: float, timeout: float = 300.0) -> float:
    """Seconds from `start` (page clock) to the last DOM change once a script run began, ended and the DOM
    was quiet for QUIET_MS after it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now, last, ran, state = page.evaluate(STATE)
        ran = ran or FRAMES.get(id(page), 1) > 0
        if ran and state == "notRunning" and now - last >= QUIET_MS:
            return (last - start) / 1000
        page.wait_for_timeout(50)
    raise TimeoutError("the page did not settle")


def timed(page, action: Callable[[], None]) -> float:
    start = mark(page)
    action()
    return settled(page, start)


def median(values: list[float]) -> float:
    return statistics.median(values)


class Trivial:
    """The one-button app, kept open for the whole run: its rerun, timed right before each row, is the
    row's baseline (the machine's load drifts over a run)."""

    def __init__(self, browser) -> None:
        folder = Path(tempfile.mkdtemp(prefix="bench-trivial-"))
        (folder / "trivial.py").write_text(TRIVIAL_APP)
        self.proc, url = serve(folder / "trivial.py", folder)
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.add_init_script(f"({OBSERVER})()")
        listen(self.page)
        self.page.goto(url, wait_until="domcontentloaded")
        self.page.get_by_text("run 1").wait_for(timeout=60_000)
        settled(self.page, 0.0)

    def rerun(self, times: int = 3) -> list[float]:
        """Seconds of `times` reruns (a try whose change landed before its mark is left out)."""
        button = self.page.get_by_role("button", name="rerun")
        return [t for t in (timed(self.page, button.click) for _ in range(times)) if t > 0] or [float("nan")]

    def close(self) -> None:
        self.page.close()
        stop(self.proc)


class Table:
    """Rows of (action, median seconds, worst, ratio to the trivial rerun timed just before, load)."""

    def __init__(self, trivial: Trivial) -> None:
        self.trivial = trivial
        self.baseline = median(trivial.rerun(5))
        print(
            f"{'action':44s} {'median s':>9s} {'worst s':>8s} {'trivial s':>9s} {'x trivial':>9s} {'load':>5s}",
            flush=True,
        )

    def before_row(self) -> None:
        """Time the trivial rerun now: the baseline of the row that follows."""
        self.baseline = median(self.trivial.rerun())

    def add(self, name: str, seconds: list[float]) -> None:
        mid = median(seconds)
        print(
            f"{name:44s} {mid:9.2f} {max(seconds):8.2f} {self.baseline:9.2f} {mid / self.baseline:9.1f} "
            f"{load():5.2f}",
            flush=True,
        )


def open_page(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()


def main_area(page):
    return page.locator('[data-testid="stMain"]')


def slider_keys(page, label: str, key: str, presses: int = 1) -> Callable[[], None]:
    def act() -> None:
        slider = main_area(page).locator('[data-testid="stSlider"]').filter(has_text=label).first
        thumb = slider.get_by_role("slider").first
        thumb.focus()
        for _ in range(presses):
            thumb.press(key)

    return act


def selectbox(page, label: str, option: str) -> Callable[[], None]:
    def act() -> None:
        # By its own label, exactly: another selectbox may show the same word as its value.
        own_label = page.locator('[data-testid="stWidgetLabel"]').get_by_text(label, exact=True)
        box = main_area(page).locator('[data-testid="stSelectbox"]').filter(has=own_label).first
        # The settings sit below the picture: the combobox opens only once it is on screen.
        box.scroll_into_view_if_needed()
        box.locator("input").click()
        box.locator("input").press_sequentially(option)
        page.get_by_role("option", name=option, exact=True).click()

    return act


def click_text(page, text: str) -> Callable[[], None]:
    return lambda: main_area(page).get_by_text(text, exact=True).first.click()


def box_select(page, index: int) -> Callable[[], None]:
    """Drag a box around the index-th endpoint of the first plot."""

    def act() -> None:
        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.scroll_into_view_if_needed()
        cx, cy = page.evaluate(
            """(i) => {
                const gd = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')[0];
                const ends = gd._fullData.filter(t => /endpoint/.test(t.name) && t.x && t.x.length);
                const t = ends[i % ends.length], k = Math.floor(i / ends.length) % t.x.length;
                const L = gd._fullLayout, box = gd.getBoundingClientRect();
                return [box.left + L._size.l + L.xaxis.l2p(Number(t.x[k])),
                        box.top + L._size.t + L.yaxis.l2p(Number(t.y[k]))];
            }""",
            index,
        )
        page.mouse.move(cx - 12, cy - 12)
        page.mouse.down()
        page.mouse.move(cx + 4, cy + 4, steps=4)
        page.mouse.move(cx + 12, cy + 12, steps=4)
        page.mouse.up()

    return act


# (page, row name, slider label): one "new value" keypress per try.
SLIDERS = (
    ("Generation", "temperature (sampling off)", "Temperature"),
    ("Generation", "inputs slider", "Inputs"),
    ("Generation", "top-k slider", "Top k"),
    ("Codebook", "dead threshold", "Dead threshold"),
    ("Latents", "free-bits floor", "Free-bits floor"),
    ("Latents", "traversal steps", "Traversal steps"),
)
FIRST_OF = {title: next(n for t, n, _ in SLIDERS if t == title) for title, _, _ in SLIDERS}


def run_controls(page, table: Table, name: str, actions: list[Callable[[], None]]) -> None:
    table.before_row()
    table.add(name, [timed(page, action) for action in actions])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stress", action="store_true", help="a CPU-bound process beside the server")
    parser.add_argument("--only", default="", help="comma-separated sections (pages) to time")
    args = parser.parse_args()
    repeats = args.repeats
    only = {s.strip().lower() for s in args.only.split(",") if s.strip()}

    from playwright.sync_api import sync_playwright

    stress = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.stress else None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"machine: {os.cpu_count()} CPUs, stress={args.stress}, repeats={repeats}", flush=True)
            trivial = Trivial(browser)
            table = Table(trivial)
            table.add("trivial rerun (one-button app)", trivial.rerun(5))
            proc, url = serve(ROOT / "app.py", ROOT)
            try:
                bench_app(browser, url, table, repeats, only)
            finally:
                stop(proc)
                trivial.close()
            browser.close()
    finally:
        if stress is not None:
            stress.terminate()
            stress.wait()


def bench_app(browser, url: str, table: Table, repeats: int, only: set[str]) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.add_init_script(f"({OBSERVER})()")
    listen(page)
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    verdict = main_area(page).get_by_text(re.compile(r"prototype: collapse|collapsed")).first
    verdict.wait_for(timeout=300_000)
    first_verdict = time.perf_counter() - start
    settled(page, 0.0)
    first_settled = page.evaluate("() => window.__last") / 1000
    table.add("first paint: cold server to visible verdict", [first_verdict])
    table.add("first paint: cold server to settled page", [first_settled])

    pages = ["Trajectories", "Generation", "Codebook", "Latents", "Compare", "Timeline", "Training", "Runs"]
    firsts = {}
    for title in pages:
        if only and title.lower() not in only:
            continue
        table.before_row()
        firsts[title] = timed(page, lambda t=title: open_page(page, t))
        table.add(f"open {title} (first visit)", [firsts[title]])
        timed(page, lambda: open_page(page, "Overview"))
    for title in ["Overview", *firsts]:
        table.before_row()
        warm = []
        for _ in range(repeats):
            other = "Runs" if title != "Runs" else "Overview"
            timed(page, lambda o=other: open_page(page, o))
            warm.append(timed(page, lambda t=title: open_page(page, t)))
        table.add(f"open {title} (warm)", warm)

    def section(title: str) -> bool:
        if only and title.lower() not in only:
            return False
        timed(page, lambda: open_page(page, title))
        return True

    if section("Trajectories"):
        # The page opens on the diagnosis's targets; choosing them per attribute shows the controls.
        run_controls(
            page,
            table,
            "Trajectories: targets chosen per attribute",
            [click_text(page, "chosen per attribute")],
        )
        cycle = ["flip", "set 1", "set 0", "keep"]  # the second attribute opens on "keep"
        run_controls(
            page,
            table,
            "Trajectories: attribute flip (2nd attribute)",
            [selectbox(page, "past", cycle[i % 4]) for i in range(repeats)],
        )
        if cycle[(repeats - 1) % 4] != "keep":
            timed(page, selectbox(page, "past", "keep"))
        run_controls(
            page,
            table,
            "Trajectories: step size alpha (new value)",
            [slider_keys(page, "Step size alpha", "ArrowRight") for _ in range(repeats)],
        )
        run_controls(
            page,
            table,
            "Trajectories: steps (new value)",
            [slider_keys(page, "Steps", "ArrowRight") for _ in range(repeats)],
        )
        run_controls(
            page,
            table,
            "Trajectories: box-select an island",
            [box_select(page, i) for i in range(repeats)],
        )
        table.before_row()
        decode = []
        for _ in range(repeats):
            decode.append(
                timed(page, click_text(page, "Decode start and endpoint of a few rows into sentences"))
            )
            timed(page, click_text(page, "Decode start and endpoint of a few rows into sentences"))
        table.add("Trajectories: decode toggle on", decode)

    opened = False
    for title, name, label in SLIDERS:
        if name == FIRST_OF[title]:  # the page's first slider: open the page (unless left out)
            opened = section(title)
        if opened:
            run_controls(
                page,
                table,
                f"{title}: {name}",
                [slider_keys(page, label, "ArrowRight") for _ in range(repeats)],
            )
        if opened and (title, name) == ("Codebook", "dead threshold"):
            run_controls(
                page,
                table,
                "Codebook: log scale toggle",
                [click_text(page, "Log scale") for _ in range(repeats)],
            )

    if section("Compare"):
        run_controls(
            page,
            table,
            "Compare: only metrics that changed",
            [click_text(page, "Only metrics that changed") for _ in range(repeats)],
        )
        table.before_row()
        prepare = [timed(page, click_text(page, "Prepare a report to download"))]
        table.add("Compare: prepare the report (first)", prepare)
        timed(page, click_text(page, "Prepare a report to download"))

    if section("Timeline"):
        demo = main_area(page).get_by_text("Demo run", exact=True).first
        run_controls(page, table, "Timeline: run folder -> demo run", [lambda: demo.click()])
        run_controls(
            page,
            table,
            "Timeline: checkpoint A's run",
            [click_text(page, "Checkpoint A's run")],
        )
    page.close()


if __name__ == "__main__":
    main()
