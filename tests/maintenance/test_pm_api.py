"""The PM, meter and reliability API and pages on a real platform (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ifactory.api.app import create_app
from ifactory.core.clock import ManualClock
from ifactory.maintenance import pm_demo
from ifactory.platform import Platform
from ifactory.stream.models import MachineStateInterval

from .conftest import T0, machine_id, token

DAY = 86_400_000_000
HOUR = 3_600_000_000
WEEKLY = {"kind": "calendar", "every": 7, "unit": "days", "mode": "fixed"}


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    app = create_app(platform)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def auth(platform: Platform, client: TestClient) -> dict[str, dict[str, str]]:
    return {
        role: {"Authorization": f"Bearer {token(platform, client, role + '1', [role])}"}
        for role in ("viewer", "technician", "planner")
    }


def _clock(platform: Platform) -> ManualClock:
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    return clock


def test_plan_crud_generation_and_occurrences(
    platform: Platform, client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    cnc1 = machine_id(platform, "cnc1")
    body = {
        "name": "Lubricate",
        "machine_id": cnc1,
        "tasks": ["Top up oil"],
        "triggers": [WEEKLY],
    }
    r = client.post("/api/maintenance/pm/plans", json=body, headers=auth["viewer"])
    assert r.status_code == 403
    r = client.post(
        "/api/maintenance/pm/plans",
        json={**body, "equipment_class": "cnc_mill"},
        headers=auth["planner"],
    )
    assert r.status_code == 422
    assert "exactly one of" in r.json()["detail"][0]["msg"]
    r = client.post(
        "/api/maintenance/pm/plans",
        json={
            **body,
            "triggers": [{"kind": "meter", "meter": "cycles", "mode": "every", "value": 0}],
        },
        headers=auth["planner"],
    )
    assert r.status_code == 422
    r = client.post(
        "/api/maintenance/pm/plans", json={**body, "machine_id": 999_999}, headers=auth["planner"]
    )
    assert r.status_code == 404

    r = client.post("/api/maintenance/pm/plans", json=body, headers=auth["planner"])
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["start_us"] == T0 and plan["triggers"][0]["params"]["every"] == 7
    pid = plan["id"]

    r = client.get(f"/api/maintenance/pm/plans/{pid}/next", headers=auth["viewer"])
    assert [(d["machine_id"], d["due_us"]) for d in r.json()] == [(cnc1, T0 + 7 * DAY)]
    r = client.get("/api/maintenance/pm/plans", params={"machine_id": cnc1}, headers=auth["viewer"])
    assert [p["id"] for p in r.json()] == [pid]

    r = client.patch(
        f"/api/maintenance/pm/plans/{pid}", json={"lead_time_s": 86_400}, headers=auth["planner"]
    )
    assert r.status_code == 200 and r.json()["lead_time_s"] == 86_400
    r = client.put(
        f"/api/maintenance/pm/plans/{pid}/triggers",
        json=[{**WEEKLY, "every": 2}],
        headers=auth["planner"],
    )
    assert r.status_code == 200 and r.json()["triggers"][0]["params"]["every"] == 2

    _clock(platform).set(T0 + 3 * DAY)
    r = client.post("/api/maintenance/pm/generate", headers=auth["technician"])
    assert r.status_code == 403
    r = client.post("/api/maintenance/pm/generate", headers=auth["planner"])
    assert r.status_code == 200, r.text
    assert r.json()["generated"] == 1
    r = client.get(f"/api/maintenance/pm/plans/{pid}/occurrences", headers=auth["viewer"])
    occ = r.json()
    assert [(o["seq"], o["status"], o["due_us"]) for o in occ] == [(1, "generated", T0 + 2 * DAY)]
    assert occ[0]["work_order_id"] is not None

    r = client.delete(f"/api/maintenance/pm/plans/{pid}", headers=auth["planner"])
    assert r.status_code == 204
    assert client.get(f"/api/maintenance/pm/plans/{pid}", headers=auth["viewer"]).status_code == 404


def test_forecast_meters_reliability_and_kpis(
    platform: Platform, client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    cnc1 = machine_id(platform, "cnc1")
    with platform.db.session() as session:
        for state, a, b in (("executing", 0, 10), ("down", 10, 12), ("executing", 12, 20)):
            session.add(
                MachineStateInterval(
                    machine_id=cnc1, state=state, start_us=T0 + a * HOUR, end_us=T0 + b * HOUR
                )
            )
    _clock(platform).set(T0 + 20 * HOUR)
    r = client.post(
        "/api/maintenance/pm/plans",
        json={"name": "Weekly", "machine_id": cnc1, "duration_s": 3600, "triggers": [WEEKLY]},
        headers=auth["planner"],
    )
    assert r.status_code == 201

    r = client.get("/api/maintenance/pm/forecast", params={"weeks": 3}, headers=auth["viewer"])
    assert r.status_code == 200
    jobs = r.json()["jobs"]
    assert len(jobs) == 2 and {j["placement"] for j in jobs} <= {"planned stop", "no fitting stop"}
    assert (
        client.get(
            "/api/maintenance/pm/forecast", params={"weeks": 0}, headers=auth["viewer"]
        ).status_code
        == 422
    )

    r = client.get("/api/maintenance/meters", params={"machine_id": cnc1}, headers=auth["viewer"])
    got = {m["meter"]: m for m in r.json()}
    assert got["run_hours"]["value"] == pytest.approx(18.0)
    assert got["run_hours"]["source"] == "machine states"
    r = client.post(
        "/api/maintenance/meters/readings",
        json={"machine_id": cnc1, "meter": "run_hours", "value": 5000, "at_us": T0 + 20 * HOUR},
        headers=auth["technician"],
    )
    assert r.status_code == 201, r.text
    r = client.get("/api/maintenance/meters", params={"machine_id": cnc1}, headers=auth["viewer"])
    # Readings sit on whole minutes: the 40 s executing after 07:46:00 count on top.
    assert {m["meter"]: m["value"] for m in r.json()}["run_hours"] == pytest.approx(
        5000 + 40 / 3600
    )

    r = client.get(
        "/api/maintenance/reliability",
        params={"machine_id": cnc1, "start_us": T0, "end_us": T0 + 20 * HOUR},
        headers=auth["viewer"],
    )
    (rel,) = r.json()
    assert (rel["operating_h"], rel["failures"], rel["ttr_h"]) == (18.0, 1, 2.0)
    assert rel["mtbf_h"]["value"] == pytest.approx(18.0)
    assert rel["availability"]["value"] == pytest.approx(0.9)
    r = client.get(
        "/api/maintenance/reliability",
        params={"start_us": T0 + HOUR, "end_us": T0},
        headers=auth["viewer"],
    )
    assert r.status_code == 422
    r = client.get("/api/maintenance/kpis", headers=auth["viewer"])
    assert r.status_code == 200 and r.json()["pm_compliance"]["value"] is None


def test_pages_show_plans_calendar_and_reliability(
    platform: Platform, client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    platform.settings.anonymous_read = True
    assert pm_demo.seed(platform) > 10
    assert pm_demo.seed(platform) == 0  # seeded once
    r = client.get("/maintenance/pm")
    assert r.status_code == 200
    assert "CNC mill: weekly lubrication and way-wiper check" in r.text
    assert "every 7 d (fixed)" in r.text and "every 500 run hours" in r.text
    r = client.get("/maintenance/pm/calendar", params={"weeks": 4})
    assert r.status_code == 200 and 'id="pm-calendar"' in r.text
    assert "CNC Mill 1" in r.text
    r = client.get("/maintenance/reliability", params={"days": 30})
    assert r.status_code == 200 and "PM compliance" in r.text and "Press 1" in r.text
