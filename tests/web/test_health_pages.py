"""Machine health pages: server-rendered ranking and machine page, and both in a real browser."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from ifactory.api.app import create_app
from ifactory.auth import service as auth_service
from ifactory.plant.loader import Plant
from ifactory.platform import Platform
from ifactory.stream import anomaly
from tests.analytics.anomaly_feed import (
    CNC1,
    T0,
    TEST_CONFIG,
    feed,
    open_platform,
    raise_alert,
)

CHROMIUM = Path("/usr/bin/chromium")
PRESS1 = "acme/springfield/press_shop/press_line/press1"


@pytest.fixture
def platform(database_url: str, tmp_path: Path, example_plant: Plant) -> Iterator[Platform]:
    with open_platform(database_url, tmp_path / "data", example_plant) as p:
        p.settings.anonymous_read = True
        yield p


def test_ranking_page_lists_every_machine_with_alerts_first(platform: Platform) -> None:
    raise_alert(platform, PRESS1)
    with TestClient(create_app(platform)) as client:
        r = client.get("/machine-health")
    assert r.status_code == 200
    html = r.text
    assert html.count('data-machine-key="') == len(platform.registry.machines())
    first = html.index('data-machine-key="')
    assert html[first:].startswith(f'data-machine-key="{PRESS1}"')
    assert "1 open, 1 not acknowledged" in html
    # Press 3 (a retrofit without a class) has the press's sensors: it is predicted as a press.
    row = html[html.index('data-machine-key="acme/springfield/press_shop/press_line/press3"') :]
    assert "<td>press</td>" in row[: row.index("</tr>")]


def test_machine_page_shows_its_alerts_and_says_when_no_rul_is_available(
    platform: Platform,
) -> None:
    alert_id = raise_alert(platform, CNC1)
    with TestClient(create_app(platform)) as client:
        r = client.get(f"/machine-health/{CNC1}")
        missing = client.get("/machine-health/acme/springfield/nowhere")
        line = client.get("/machine-health/acme/springfield/machining/machining_line")
    assert r.status_code == 200
    assert "CNC Mill 1" in r.text
    assert f'"id": {alert_id}' in r.text or f'"id":{alert_id}' in r.text  # page data for the script
    assert 'id="rul-empty"' in r.text or 'id="rul-chart"' in r.text
    assert missing.status_code == 404 and line.status_code == 404


@pytest.fixture
def server(platform: Platform, database_url: str) -> Iterator[str]:
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the browser")
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed")
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
    platform.relay.start()
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
@pytest.mark.slow
def test_health_pages_in_a_browser_show_evidence_acknowledge_and_update_live(
    platform: Platform, server: str
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    anomaly.install(platform, config=TEST_CONFIG)
    rng = np.random.default_rng(7)
    t = feed(platform, T0, 30, rng=rng)
    feed(platform, t, 2, rng=rng, override={"vibration_rms": 6.0})
    platform.relay.drain()
    with platform.db.session() as session:
        auth_service.create(
            session,
            username="tom",
            password="s3cret-pass-1",
            display_name="Tom",
            roles=["technician"],
            active=True,
            actor="system",
        )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            page: Any = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # The ranking: CNC Mill 1 has the alert, so it comes first.
            page.goto(f"{server}/machine-health")
            first = page.locator("#risk-rows tr").first
            assert first.get_attribute("data-machine-key") == CNC1
            assert "1 open" in first.inner_text()

            # Live: an alert raised elsewhere moves that machine up without a reload.
            page.evaluate("window.__notReloaded = true")
            raise_alert(platform, PRESS1, at_us=t + 60_000_000)
            platform.relay.notify()
            page.wait_for_function(
                "(key) => [...document.querySelectorAll('#risk-rows tr')].slice(0, 2)"
                ".some(r => r.dataset.machineKey === key && r.textContent.includes('1 open'))",
                arg=PRESS1,
                timeout=15_000,
            )
            assert page.evaluate("window.__notReloaded") is True

            # The machine: the alert with its evidence chart, the score trend, the RUL part.
            page.goto(f"{server}/machine-health/{CNC1}")
            card = page.locator(".alert-card").first
            card.wait_for(timeout=15_000)
            assert "vibration_rms" in card.inner_text()
            page.wait_for_selector(".alert-card .evidence-chart canvas", timeout=15_000)
            assert page.locator("#score-chart canvas").count() == 1
            assert (
                page.locator("#rul-empty").count() == 1
                or page.locator("#rul-chart canvas").count() == 1
            )

            # Acknowledging needs a shop-floor role: anonymous first, then signed in.
            card.locator("input[name=comment]").fill("bearing checked")
            card.get_by_role("button", name="Acknowledge").click()
            page.wait_for_selector(".ack-status >> text=Log in as", timeout=10_000)
            r = context.request.post(
                f"{server}/api/auth/login", data={"username": "tom", "password": "s3cret-pass-1"}
            )
            assert r.ok
            card.get_by_role("button", name="Acknowledge").click()
            page.wait_for_selector(".alert-card >> text=Acknowledged by tom", timeout=10_000)
            assert "bearing checked" in page.locator(".alert-card").first.inner_text()
            assert errors == []
        finally:
            browser.close()
