"""Drive the real app in Debian's Chromium: start `streamlit run app.py`, open it, look for a plot."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these flags Chromium keeps dialling Google services that this closed network refuses.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"streamlit did not start: {proc.stderr.read().decode()[-2000:]}"
                    ) from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.e2e
def test_app_renders_in_chromium_without_exception(app_url):
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is missing: `make test` installs it"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
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
        finally:
            browser.close()
