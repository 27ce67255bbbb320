"""The PM pages in a real browser (Debian's Chromium through Playwright): plans with next due
dates, the weeks x machines calendar with planned-stop placement, reliability KPIs, and a
planner generating due work from the plans page."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from ifactory.api.app import create_app
from ifactory.core.clock import ManualClock
from ifactory.maintenance import pm_demo
from ifactory.platform import Platform

from .conftest import make_user

pytestmark = [pytest.mark.browser]
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
DAY = 86_400_000_000


@pytest.fixture
def server(platform: Platform, database_url: str) -> Iterator[str]:
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the browser")
    platform.settings.anonymous_read = True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(platform)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_plans_calendar_and_reliability_pages(platform: Platform, server: str) -> None:
    assert pm_demo.seed(platform) > 10
    make_user(platform, "pia", ["planner"])
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    clock.advance(3 * DAY)  # the weekly lubrication (started 5 days ago) is now due
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/login?next=/maintenance/pm")
            page.fill("#username", "pia")
            page.fill("#password", "s3cret-pass-1")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("#pm-plans", timeout=15_000)
            lube = page.locator("#pm-plans tbody tr", has_text="weekly lubrication")
            assert "every 7 d (fixed)" in lube.inner_text()
            assert lube.locator(".pm-overdue").count() == 3  # due on the three CNC mills
            page.get_by_role("button", name="Generate due work now").click()
            page.wait_for_selector("#pm-status >> text=3 work order(s) raised", timeout=15_000)
            page.wait_for_load_state("load")

            page.goto(f"{server}/maintenance/pm/calendar?weeks=4")
            calendar = page.locator("#pm-calendar")
            calendar.wait_for(timeout=15_000)
            assert calendar.locator("thead th").count() == 5  # machine + 4 weeks
            cnc1 = calendar.locator("tbody tr", has_text="CNC Mill 1")
            assert cnc1.locator(".pm-job", has_text="weekly lubrication").count() >= 3
            assert cnc1.locator(".pm-planned-stop").count() >= 1
            assert "stop " in cnc1.locator(".pm-planned-stop").first.inner_text()

            page.goto(f"{server}/maintenance/reliability?days=30")
            kpis = page.locator("#pm-kpis")
            kpis.wait_for(timeout=15_000)
            assert "PM compliance" in kpis.inner_text()
            assert page.locator("#pm-reliability tbody tr").count() == len(
                platform.registry.machines()
            )
            assert errors == []
        finally:
            browser.close()
