"""The SPC chart and lot trace pages in a real browser (Debian's Chromium through Playwright)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from ifactory.api.app import create_app
from ifactory.platform import Platform
from ifactory.quality import genealogy, service

from .conftest import T0, add_orders

pytestmark = [pytest.mark.browser]
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
S = 1_000_000


@pytest.fixture
def server(platform: Platform, database_url: str) -> Iterator[str]:
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the browser")
    platform.settings.anonymous_read = True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_chart_marks_violations_and_trace_shows_the_tree(platform: Platform, server: str) -> None:
    add_orders(platform.db, 5)
    with platform.db.session() as s:
        plan = service.create_plan(
            s, name="Bore", product_code="P-100", operation="", active=True, user="qe"
        )
        char = service.create_characteristic(
            s,
            plan=plan,
            user="qe",
            fields={
                "name": "bore",
                "nominal": 25.0,
                "lsl": 24.9,
                "usl": 25.1,
                "sample_size": 1,
                "chart": "imr",
                "rules": ["we1"],
                "baseline_subgroups": 20,
            },
        )
        rng = np.random.default_rng(2)
        values = [*(25.0 + rng.normal(0, 0.01, 20)), 25.08]
        service.record_measurements(
            s,
            char=char,
            source="api",
            user="qe",
            now_us=T0,
            values=[service.MeasurementInput(float(v), T0 + i * S) for i, v in enumerate(values)],
        )
        genealogy.create_lot(s, code="RM-1", material="bar", user="qe")
        genealogy.consume(s, order_id=5, lot_code="RM-1", quantity=1, ts_us=T0, user="olga")
        genealogy.produce(
            s,
            order_id=5,
            code="FG-1",
            material="P-100",
            kind="finished",
            quantity=10,
            unit="pcs",
            machine_id=None,
            start_us=T0,
            end_us=T0 + 60 * S,
            user="olga",
        )
        char_id = char.id
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/quality/characteristics/{char_id}")
            page.wait_for_selector("#viol-rows td >> text=we1", timeout=15_000)
            assert page.locator("#spc-chart canvas").count() == 1
            assert page.locator("#spc-dispersion canvas").count() == 1
            assert "1 violation" in page.locator("#spc-summary").inner_text()
            page.locator("#rule-picker input[value=we1]").uncheck()
            page.wait_for_selector("#viol-rows >> text=No selected rule fires", timeout=15_000)
            page.goto(f"{server}/quality/lots/FG-1")
            page.wait_for_selector(".trace-tree >> text=RM-1", timeout=15_000)
            assert "operator olga" in page.locator(".trace-tree").inner_text()
            page.get_by_role("button", name="Forward: where it went").click()
            page.wait_for_selector("#trace-summary >> text=This lot has not been used yet.")
            assert errors == []
        finally:
            browser.close()
