"""The parts list and a part's page in a real browser (Debian's Chromium through Playwright)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from ifactory.api.app import create_app
from ifactory.inventory import demo
from ifactory.platform import Platform

pytestmark = [pytest.mark.browser]
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture
def server(platform: Platform, database_url: str) -> Iterator[str]:
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the browser")
    platform.settings.anonymous_read = True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(platform)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_parts_list_highlights_reorder_and_forms_book_movements(
    platform: Platform, server: str
) -> None:
    from ifactory.auth import service as auth_service

    ids = demo.seed(platform)
    with platform.db.session() as s:
        auth_service.create(
            s,
            username="pia",
            password="s3cret-pass-1",
            display_name="Pia Planner",
            roles=["planner"],
            active=True,
            actor="system",
        )
    bearing = ids["BRG-6205-2RS"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/login?next=/inventory")
            page.fill("#username", "pia")
            page.fill("#password", "s3cret-pass-1")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("#parts-table", timeout=15_000)
            # The inserts start below their reorder point: highlighted, with a requisition.
            inserts = page.locator("#parts-table tr", has_text="INS-APMT-1604")
            assert inserts.get_attribute("class") == "inv-below"
            assert "Below reorder point" in inserts.inner_text()
            assert "INS-APMT-1604" in page.locator("#requisitions-table").inner_text()
            assert page.locator("#parts-table tr.inv-below").count() == 1
            page.check("input[name=reorder]")
            page.get_by_role("button", name="Filter").click()
            page.wait_for_url("**reorder=true**")
            assert page.locator("#parts-table tbody tr").count() == 1

            page.goto(f"{server}/inventory/parts/{bearing}")
            assert page.locator("#on-hand").inner_text() == "14 pc"
            page.fill("#receipt-form input[name=quantity]", "6")
            page.fill("#receipt-form input[name=reference]", "DN-77812")
            page.locator("#receipt-form button").click()
            page.wait_for_selector("#on-hand >> text=20 pc", timeout=15_000)
            first = page.locator("#ledger-table tbody tr").first
            assert "receipt" in first.inner_text() and "DN-77812" in first.inner_text()

            page.fill("#adjust-form input[name=counted_quantity]", "19")
            page.fill("#adjust-form input[name=reason]", "cycle count: one bearing damaged")
            page.locator("#adjust-form button").click()
            page.wait_for_selector("#on-hand >> text=19 pc", timeout=15_000)
            assert "-1" in page.locator("#ledger-table tbody tr").first.inner_text()

            page.fill("#issue-form input[name=quantity]", "25")
            page.locator("#issue-form button").click()
            error = page.locator("#inv-error")
            error.wait_for(state="visible", timeout=15_000)
            assert "cannot issue 25 pc of BRG-6205-2RS" in error.inner_text()
            assert page.locator("#on-hand").inner_text() == "19 pc"

            # The inserts' open requisition: marked ordered with the ERP purchase order.
            page.goto(f"{server}/inventory/parts/{ids['INS-APMT-1604']}")
            row = page.locator("#part-requisitions-table tbody tr").first
            assert row.locator(".req-state").inner_text() == "open"
            row.locator("input[name=erp_reference]").fill("PO-4500017")
            row.get_by_role("button", name="Mark ordered").click()
            page.wait_for_selector(
                "#part-requisitions-table .req-state >> text=ordered", timeout=15_000
            )
            row = page.locator("#part-requisitions-table tbody tr").first
            assert "PO-4500017" in row.inner_text()
            assert row.get_by_role("button", name="Mark ordered").count() == 0
            assert errors == []
        finally:
            browser.close()
