"""The models page and the model shown on a machine's health page, in a real browser.

A small plant that fails often is fed eight days through the real pipeline; version 1 of its
mill model is registered as the simulator bootstrap would, version 2 is retrained from the
plant's records, and the estimator makes the machines' current estimates with it. The figures
on the pages must be the registry's (read back through the API).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from fastapi.testclient import TestClient

from ifactory.analytics.prognostics import service as prognostics
from ifactory.analytics.prognostics.install import PrognosticsService
from ifactory.api.app import create_app
from ifactory.auth import service as auth_service
from ifactory.core.clock import to_datetime
from ifactory.platform import Platform
from ifactory.retraining import retrain_from_records
from ifactory.web import views
from tests.api.test_prognostic_models import (  # noqa: F401 (fixture)
    SIM_SEEDS,
    records_platform,
    register,
)

CHROMIUM = Path("/usr/bin/chromium")
MILL1 = "shop/site1/mill1"
HOUR_US = 3600 * 1_000_000
PASSWORD = "s3cret-pass-1"
# Phones (360-390 px), a laptop and a control-room display.
WIDTHS = (360, 390, 1440)


@pytest.fixture
def plant(records_platform: Platform) -> Platform:  # noqa: F811
    """v1 from the simulator (in-sample figures only), v2 from records, estimates made by v2."""
    platform = records_platform
    register(
        platform,
        "mill",
        metrics={
            "train": {"rows": 1234.0, "mae_h": 31.25, "rmse_h": 40.5, "band_coverage": 0.815},
            "failures": 9,
        },
        training_data={"source": "simulator", "seeds": SIM_SEEDS, "days": 90, "failures": 9},
        start_us=platform.clock.now_us() - 100 * 24 * HOUR_US,
        end_us=platform.clock.now_us() - 10 * 24 * HOUR_US,
    )
    # Forced: a week of records makes a worse model than v1 on the validation hours.
    report = retrain_from_records(platform, min_failures=1, force=True)
    assert [c.version for c in report.classes] == [2]
    service = next(e for e in platform.extras if isinstance(e, PrognosticsService))
    assert service.run_once() > 0
    with platform.db.session() as session:
        auth_service.create(
            session,
            username="pat",
            password=PASSWORD,
            display_name="Pat",
            roles=["planner"],
            active=True,
            actor="system",
        )
    return platform


def test_models_page_is_linked_and_marks_the_version_in_use(plant: Platform) -> None:
    with TestClient(create_app(plant)) as client:
        overview = client.get("/machine-health")
        r = client.get("/machine-health/models")
    assert 'href="/machine-health/models"' in overview.text
    assert r.status_code == 200
    html = r.text
    assert html.count('data-in-use="true"') == 1
    v2 = html[html.index('id="mill-v2"') :]
    assert v2.startswith('id="mill-v2"') and 'data-in-use="true"' in v2[:200]
    # Anonymous: no form, but how to get one.
    assert 'id="train-form"' not in html and "Log in</a> as a planner" in html


def _fmt(zone: ZoneInfo, us: int) -> str:
    return to_datetime(us).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _expected_row(m: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """What the models page must show of a registry entry (as the API returns it)."""
    train = m["metrics"]["train"]
    held_out = m["metrics"].get("validation") or {}
    figures = held_out if "mae_h" in held_out else train
    return {
        "version": m["version"],
        "in_use": m["in_use"],
        "window": [_fmt(zone, m["window"]["start_us"]), _fmt(zone, m["window"]["end_us"])],
        "failures": str(m["metrics"]["failures"]),
        "rows": f"{int(train['rows']):,}",
        "kind": "validation" if figures is held_out else "in-sample",
        "mae": f"{figures['mae_h']:.1f} h",
        "rmse": f"{figures['rmse_h']:.1f} h",
        "coverage": f"{100 * figures['band_coverage']:.0f} %",
        "source": m["training_data"]["source"],
    }


ROW_JS = """(tr) => {
  const text = (f) => { const el = tr.querySelector(`[data-field="${f}"]`); return el ? el.textContent.trim() : null; };
  return {
    version: Number(tr.dataset.version),
    in_use: tr.dataset.inUse === "true",
    window: [text("window-start"), text("window-end")],
    failures: text("failures"),
    rows: text("rows"),
    kind: tr.querySelector(".figure-kind").dataset.kind,
    mae: text("mae"), rmse: text("rmse"), coverage: text("coverage"),
    source: tr.querySelector('[data-field="source"]').dataset.source,
    source_text: text("source"),
    badge: !!tr.querySelector(".in-use-badge"),
  };
}"""

FITS_JS = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def server(plant: Platform, database_url: str) -> Iterator[str]:
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the browser")
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(create_app(plant), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
@pytest.mark.slow
def test_models_and_machine_pages_show_the_registry_figures_and_retrain(
    plant: Platform, server: str
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    zone = ZoneInfo(views.site_timezone(plant.registry))
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            page: Any = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            registry = context.request.get(f"{server}/api/analytics/models").json()["items"]
            assert [m["version"] for m in registry] == [2, 1]

            # The models page: every version, with the registry's figures.
            page.goto(f"{server}/machine-health/models")
            rows = [
                page.locator("tr[data-model-id]").nth(i).evaluate(ROW_JS)
                for i in range(page.locator("tr[data-model-id]").count())
            ]
            assert [r["version"] for r in rows] == [2, 1]
            for shown, entry in zip(rows, registry, strict=True):
                expected = _expected_row(entry, zone)
                assert {k: shown[k] for k in expected} == expected
                assert shown["badge"] is entry["in_use"]
            assert rows[0]["kind"] == "validation" and rows[0]["source"] == "records"
            assert "plant's records" in rows[0]["source_text"]
            # v2's validation also scored v1, in use then, on the same hours.
            then = registry[0]["metrics"]["validation"]["in_use"]
            compared = page.locator("#mill-v2 [data-field=compared]").inner_text()
            assert (
                then["version"] == 1 and f"v1 (then in use): MAE {then['mae_h']:.1f} h" in compared
            )
            assert rows[1]["kind"] == "in-sample" and rows[1]["source"] == "simulator"
            assert f"seeds {SIM_SEEDS[0]}, {SIM_SEEDS[1]}" in rows[1]["source_text"]
            head = page.locator("section[data-machine-class=mill] .panel-head").inner_text()
            assert f"version 2 in use, for {registry[0]['machines_served']} machines" in head
            assert page.locator("#train-denied").count() == 1  # not signed in

            # A machine's page: the version that made its current estimate, with its data.
            with plant.db.session() as session:
                mill1 = plant.registry.nodes_by_key[MILL1].id
                estimate = next(e for e in prognostics.latest_rul(session) if e.machine_id == mill1)
            page.goto(f"{server}/machine-health/{MILL1}")
            note = page.locator("#rul-model")
            assert note.get_attribute("data-version") == str(estimate.model_version) == "2"
            assert note.locator("[data-field=rul]").inner_text() == f"{estimate.rul_h:.0f} h"
            assert note.locator("[data-field=source]").get_attribute("data-source") == "records"
            assert note.locator("[data-field=window-start]").inner_text() == _fmt(
                zone, registry[0]["window"]["start_us"]
            )
            assert note.locator("[data-field=window-end]").inner_text() == _fmt(
                zone, registry[0]["window"]["end_us"]
            )
            assert note.locator("a").get_attribute("href") == "/machine-health/models#mill-v2"

            # Phones: neither page scrolls sideways.
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 800})
                for path in ("/machine-health/models", f"/machine-health/{MILL1}"):
                    page.goto(f"{server}{path}")
                    assert page.evaluate(FITS_JS), f"{path} overflows at {width} px"

            # A planner retrains from the page (dry run): the job's report is shown.
            r = context.request.post(
                f"{server}/api/auth/login", data={"username": "pat", "password": PASSWORD}
            )
            assert r.ok
            page.set_viewport_size({"width": 1440, "height": 1000})
            page.goto(f"{server}/machine-health/models")
            page.locator("#train-form input[name=min_failures]").fill("1")
            page.locator("#train-form input[name=dry_run]").check()
            page.get_by_role("button", name="Retrain from records").click()
            page.wait_for_selector("#train-job[data-state=done]", timeout=60_000)
            job = page.locator("#train-job").inner_text()
            assert "(dry run)" in job and "by pat" in job
            outcome = page.locator("#train-job tr[data-machine-class=mill]").inner_text()
            assert "dry run: not registered" in outcome
            # Nothing was registered by the dry run.
            after = context.request.get(f"{server}/api/analytics/models").json()
            assert after["total"] == 2
            assert errors == []
        finally:
            browser.close()
