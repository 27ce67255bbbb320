"""The work order board and the work request form in a real browser (Debian's Chromium)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from ifactory.api.app import create_app
from ifactory.maintenance import breakdowns, service
from ifactory.plant.loader import Plant
from ifactory.platform import Platform
from ifactory.production.models import DowntimeEvent
from ifactory.sim.simulator import PlantSimulator

from .conftest import T0, machine_id, make_user

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


def _login(page: object, server: str, username: str) -> None:
    r = page.request.post(  # type: ignore[attr-defined]
        f"{server}/api/auth/login", data={"username": username, "password": "s3cret-pass-1"}
    )
    assert r.ok, r.text()


def test_operator_requests_work_and_the_board_moves_it_live(
    platform: Platform, server: str
) -> None:
    make_user(platform, "olga", ["operator"])
    make_user(platform, "paul", ["planner"])
    cnc2 = machine_id(platform, "cnc2")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            operator = browser.new_context().new_page()
            errors: list[str] = []
            operator.on("pageerror", lambda e: errors.append(str(e)))
            _login(operator, server, "olga")
            operator.goto(f"{server}/maintenance/request")
            operator.get_by_label("Machine").select_option(str(cnc2))
            operator.get_by_label("What is wrong?").fill("Spindle grinding noise above 12000 rpm")
            operator.get_by_label("Urgency").select_option("high")
            operator.get_by_role("button", name="Send request").click()
            operator.wait_for_selector("#request-form [data-role=message] >> text=MWO-000001")
            assert operator.get_by_label("What is wrong?").input_value() == ""  # form reset

            planner = browser.new_context().new_page()
            planner.on("pageerror", lambda e: errors.append(str(e)))
            _login(planner, server, "paul")
            planner.goto(f"{server}/maintenance/board")
            requested = planner.locator('.board-col[data-state="requested"]')
            requested.locator(".card >> text=Spindle grinding noise").wait_for(timeout=15_000)
            # A work order created elsewhere appears without reloading the page.
            with platform.db.session() as s:
                service.create_work_order(
                    s,
                    machine_id=machine_id(platform, "press1"),
                    type="corrective",
                    title="Hydraulic oil temperature high",
                    actor="automation",
                )
            platform.relay.notify()
            requested.locator(".card >> text=Hydraulic oil temperature high").wait_for(
                timeout=15_000
            )
            assert requested.locator("[data-role=count]").inner_text() == "2"
            # The planner approves the operator's request from its card.
            card = requested.locator(".card", has_text="Spindle grinding noise")
            card.get_by_role("button", name="→ Approved").click()
            approved = planner.locator('.board-col[data-state="approved"]')
            approved.locator(".card >> text=Spindle grinding noise").wait_for(timeout=15_000)
            assert requested.locator("[data-role=count]").inner_text() == "1"
            # The operator may not approve: the board says why instead of moving the card.
            operator.goto(f"{server}/maintenance/board")
            other = operator.locator('.board-col[data-state="requested"] .card')
            other.get_by_role("button", name="→ Approved").click()
            operator.wait_for_selector("#board-message >> text=needs one of the roles")
            assert errors == []
        finally:
            browser.close()


def test_a_breakdown_work_order_shows_the_machine_history_around_it(
    platform: Platform, server: str, example_plant: Plant
) -> None:
    ids = {t.key: t.id for t in platform.registry.tags.values()}
    sim = PlantSimulator(example_plant, seed=3, start_us=T0, tag_ids=ids)
    t = T0
    while t < T0 + 2 * 3600 * 1_000_000:
        t += 600 * 1_000_000
        platform.pipeline.ingest(sim.advance(t))
    cnc1 = machine_id(platform, "cnc1")
    with platform.db.session() as s:
        stop = DowntimeEvent(
            machine_id=cnc1,
            start_us=T0 + 3600 * 1_000_000,
            end_us=T0 + 4800 * 1_000_000,
            states="down",
            reason_code="BRK-MECH",
        )
        s.add(stop)
        s.flush()
        wo = breakdowns.open_for(s, platform.registry, stop, trigger=None, now_us=t)
        assert wo is not None
        wo_id = wo.id
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/maintenance/work-orders/{wo_id}")
            page.wait_for_selector("#evidence-charts .evidence-chart canvas", timeout=15_000)
            assert page.locator("#evidence-charts figure").count() >= 1
            assert "Mechanical failure" in page.locator("h1").inner_text()
            # Somebody else schedules it: the open page says so.
            with platform.db.session() as s:
                service.transition(
                    s,
                    work_order_id=wo_id,
                    to="scheduled",
                    actor="paul",
                    now_us=t,
                    scheduled_start_us=t,
                )
            platform.relay.notify()
            page.wait_for_selector("#wo-message >> text=paul moved", timeout=15_000)
            assert errors == []
        finally:
            browser.close()
