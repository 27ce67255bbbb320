"""The production pages in Chromium against the real demo: live OEE per line, reason assignment.

Drives Debian's Chromium (/usr/bin/chromium) through Playwright; never downloads a browser.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import ifactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "browser-test-password"
LINES = {"machining_line", "press_line", "moulding_line", "packaging_line"}

if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ifactory demo` at 60x in a subprocess, as a user would start it."""
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("demo")
    log_path = tmp_path_factory.mktemp("demo-log") / "server.log"
    env = dict(os.environ)
    src = str(Path(ifactory.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env["IFACTORY_ADMIN_PASSWORD"] = PASSWORD
    cmd = [
        sys.executable,
        "-m",
        "ifactory.cli.main",
        "demo",
        *f"--host 127.0.0.1 --port {port} --speed 60".split(),
        "--data-dir",
        str(data_dir),
    ]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the demo did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def page(demo_url: str) -> Iterator[Any]:
    """A signed-in page; script errors fail the test."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        pg = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(demo_url + "/login")
        pg.fill("input[name=username]", "admin")
        pg.fill("input[name=password]", PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_load_state("networkidle")
        yield pg
        browser.close()
        assert not errors, f"script errors on the page: {errors}"


def test_live_oee_per_line_and_waterfall(demo_url: str, page: Any) -> None:
    page.goto(demo_url + "/production/oee")
    page.wait_for_selector(".oee-card .oee-big", timeout=20_000)
    names = {
        a.split("/")[-1]
        for a in page.locator(".oee-card h2 a").evaluate_all(
            "els => els.map(e => decodeURIComponent(e.getAttribute('href')))"
        )
    }
    assert names == LINES
    for text in page.locator(".oee-card .oee-big").all_inner_texts():
        assert text.endswith("%"), "every line shows a live OEE"
    page.goto(demo_url + "/production/oee?node=acme/springfield/press_shop/press_line")
    page.wait_for_selector("#oee-waterfall svg rect", timeout=20_000)
    labels = page.locator("#oee-waterfall svg text").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    for loss in (
        "Breakdowns",
        "Setup & adjustment",
        "Minor stops",
        "Reduced speed",
        "Process defects",
        "Start-up rejects",
        "Fully productive",
    ):
        assert loss in labels


def test_operator_assigns_a_reason_on_the_downtime_page(demo_url: str, page: Any) -> None:
    page.goto(demo_url + "/production/downtime")
    page.wait_for_selector("#dt-rows form", timeout=20_000)
    row = page.locator("#dt-rows tr").first
    row.locator("select").select_option("MIN-JAM")
    row.locator("button").click()
    row.get_by_text("saved").wait_for(timeout=10_000)
    stops = page.evaluate("fetch('/api/production/downtime?limit=500').then(r => r.json())")
    assert any(s["reason_code"] == "MIN-JAM" and s["updated_by"] == "admin" for s in stops["items"])
    page.wait_for_function(
        "() => [...document.querySelectorAll('#dt-pareto-time text')].some(t => t.textContent === 'Jam')",
        timeout=10_000,
    )
