"""The production API on a real platform (SQLite and PostgreSQL): OEE, downtime, orders, calendars."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ifactory.core.audit import AuditEntry
from ifactory.core.clock import ManualClock
from ifactory.platform import Platform
from tests.production.conftest import (
    CNC1,
    LINE,
    MIN,
    MONDAY_06H_US,
    feed_counter,
    feed_product,
    feed_states,
    token,
)

T = MONDAY_06H_US
WELD = "acme/springfield/machining/machining_line/weld_cell"


def _at(platform: Platform, us: int) -> None:
    clock = platform.clock
    assert isinstance(clock, ManualClock)
    clock.set(us)


def _run_cnc1_morning(platform: Platform) -> None:
    """06:00 run, 07:30 down, 07:45 run; 140 made, 135 good, 5 scrap by 07:59; P-100 (45 s)."""
    _at(platform, T + 120 * MIN)
    feed_product(platform, CNC1, T, "P-100")
    feed_states(
        platform, CNC1, [("executing", T), ("down", T + 90 * MIN), ("executing", T + 105 * MIN)]
    )
    feed_counter(platform, CNC1, "cycle_count", [(T, 0), (T + 119 * MIN, 140)])
    feed_counter(platform, CNC1, "good_count", [(T, 0), (T + 119 * MIN, 135)])
    feed_counter(platform, CNC1, "scrap_count", [(T, 0), (T + 119 * MIN, 5)])
    _at(platform, T + 120 * MIN)


def test_machine_oee_and_losses_from_states_calendar_and_counters(
    platform: Platform, client: TestClient, admin: dict[str, str]
) -> None:
    _run_cnc1_morning(platform)
    r = client.get(f"/api/production/oee/{CNC1}", headers=admin)
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    # Two hours into the early shift, before the 09:00 break: PBT 120 min, APT 105 min.
    assert res["time_s"]["pbt"] == 7200
    assert res["time_s"]["apt"] == 6300
    assert res["availability"]["value"] == pytest.approx(0.875)
    assert res["effectiveness"]["value"] == pytest.approx(140 * 45 / 6300)
    assert res["quality_ratio"]["value"] == pytest.approx(135 / 140)
    assert res["oee"]["value"] == pytest.approx(135 * 45 / 7200)
    assert res["losses_s"]["breakdown"] == 900
    assert sum(res["losses_s"].values()) == pytest.approx(res["lost_s"])

    # The line: summed time elements, quality of the last machine (weld cell: no output yet).
    r = client.get(f"/api/production/oee/{LINE}", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "line" and len(body["machines"]) == 4
    assert body["result"]["quality_ratio"]["value"] is None  # last machine made nothing
    assert body["result"]["time_s"]["pbt"] == 4 * 7200

    # Live OEE of the running shift agrees with the computation from the history.
    r = client.get("/api/production/oee/live", headers=admin)
    assert r.status_code == 200, r.text
    line = next(x for x in r.json() if x["key"] == LINE)
    cnc = next(m for m in line["machines"] if m["key"] == CNC1)
    assert cnc["result"]["availability"]["value"] == pytest.approx(0.875)
    assert cnc["result"]["oee"]["value"] == pytest.approx(135 * 45 / 7200)

    # Trend by hour: two windows so far.
    r = client.get(
        f"/api/production/oee-series/{CNC1}",
        params={
            "by": "hour",
            "start": "2026-11-23T06:00:00+01:00",
            "end": "2026-11-23T08:00:00+01:00",
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert [w["result"]["time_s"]["apt"] for w in r.json()] == [3600, 2700]

    # Bad input is a typed error.
    r = client.get(
        f"/api/production/oee/{CNC1}", params={"start": "2026-11-23T06:00:00"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "invalid_input"
    assert client.get("/api/production/oee/acme/nowhere", headers=admin).status_code == 404


def test_downtime_events_reasons_and_pareto(
    platform: Platform, client: TestClient, admin: dict[str, str]
) -> None:
    _run_cnc1_morning(platform)
    operator = token(platform, client, "olga", ["operator"])
    viewer = token(platform, client, "vic", ["viewer"])
    r = client.get("/api/production/downtime", params={"node": CNC1}, headers=operator)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 1
    stop = items[0]
    assert (stop["start_us"], stop["end_us"], stop["states"]) == (
        T + 90 * MIN,
        T + 105 * MIN,
        "down",
    )
    assert stop["duration_s"] == 900 and stop["reason_code"] is None

    url = f"/api/production/downtime/{stop['id']}/reason"
    assert client.put(url, json={"reason_code": "BRK-MECH"}, headers=viewer).status_code == 403
    r = client.put(url, json={"reason_code": "NOPE"}, headers=operator)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "unknown_reason"
    r = client.put(url, json={"reason_code": "BRK-MECH", "comment": "spindle"}, headers=operator)
    assert r.status_code == 200, r.text
    assert r.json()["loss"] == "breakdown" and r.json()["updated_by"] == "olga"
    # Corrected later: both changes are in the audit log with who and the previous reason.
    r = client.put(url, json={"reason_code": "SET-TOOL"}, headers=operator)
    assert r.status_code == 200 and r.json()["loss"] == "setup"
    with platform.db.session() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == "downtime_event", AuditEntry.entity_id == str(stop["id"]))
            .order_by(AuditEntry.id)
        ).all()
        assert [(e.username, e.details["from"], e.details["to"]) for e in entries] == [
            ("olga", None, "BRK-MECH"),
            ("olga", "BRK-MECH", "SET-TOOL"),
        ]

    r = client.get("/api/production/downtime/pareto", params={"node": LINE}, headers=viewer)
    assert r.status_code == 200, r.text
    top = r.json()["by_time"][0]
    assert (top["reason_code"], top["seconds"], top["count"]) == ("SET-TOOL", 900, 1)
    assert r.json()["by_time"][-1]["cumulative_pct"] == pytest.approx(100)

    # The reason moves the stop's time to the setup loss in OEE.
    res = client.get(f"/api/production/oee/{CNC1}", headers=viewer).json()["result"]
    assert res["losses_s"]["setup"] == 900 and res["losses_s"]["breakdown"] == 0
    # A planned reason takes the stop out of the planned busy time (ISO 22400-2 PDOT).
    client.put(url, json={"reason_code": "PLN-PM"}, headers=operator)
    res = client.get(f"/api/production/oee/{CNC1}", headers=viewer).json()["result"]
    assert res["time_s"]["pbt"] == 6300 and res["availability"]["value"] == 1.0


def test_order_life_cycle_and_attribution(
    platform: Platform, client: TestClient, admin: dict[str, str]
) -> None:
    planner = token(platform, client, "pia", ["planner"])
    operator = token(platform, client, "olga", ["operator"])
    r = client.post(
        "/api/production/routings",
        json={
            "product_code": "P-100",
            "name": "bracket",
            "operations": [
                {"seq": 10, "name": "mill", "machine_group": LINE, "ideal_cycle_s": 45},
                {"seq": 20, "name": "weld", "machine": WELD, "setup_s": 600},
            ],
        },
        headers=planner,
    )
    assert r.status_code == 201, r.text
    routing = r.json()
    bad = client.post(
        "/api/production/routings",
        json={
            "product_code": "P-100",
            "name": "x",
            "operations": [{"seq": 1, "name": "a", "machine": LINE}],
        },
        headers=planner,
    )
    assert bad.status_code == 422 and "not a machine" in bad.json()["detail"][0]["msg"]

    r = client.post(
        "/api/production/orders",
        json={
            "number": "PO-1",
            "product_code": "P-100",
            "quantity": 100,
            "due_at": "2026-11-24T14:00:00+01:00",
            "priority": 5,
            "routing_id": routing["id"],
        },
        headers=planner,
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["state"] == "planned" and [o["seq"] for o in order["operations"]] == [10, 20]
    oid = order["id"]
    dup = client.post(
        "/api/production/orders",
        json={"number": "PO-1", "product_code": "P-100", "quantity": 1},
        headers=planner,
    )
    assert dup.status_code == 409
    assert (
        client.post(
            "/api/production/orders",
            json={"number": "PO-2", "product_code": "NOPE", "quantity": 1},
            headers=planner,
        ).status_code
        == 404
    )

    tr = f"/api/production/orders/{oid}/transitions"
    r = client.post(tr, json={"state": "running"}, headers=operator)
    assert r.status_code == 409 and r.json()["detail"][0]["type"] == "invalid_transition"
    assert client.post(tr, json={"state": "released"}, headers=operator).status_code == 200
    r = client.post(tr, json={"state": "running"}, headers=operator)
    assert r.status_code == 409 and r.json()["detail"][0]["type"] == "not_dispatched"
    r = client.put(
        f"/api/production/orders/{oid}/operations/10/machine",
        json={"machine": WELD.replace("weld_cell", "cnc9")},
        headers=planner,
    )
    assert r.status_code == 404
    r = client.put(
        f"/api/production/orders/{oid}/operations/10/machine",
        json={"machine": CNC1},
        headers=planner,
    )
    assert r.status_code == 200, r.text

    # Counters before, during and after the order: only the order's window is attributed.
    def counts(at: int, total: int, good: int, scrap: int) -> None:
        _at(platform, T + at * MIN)
        feed_counter(platform, CNC1, "cycle_count", [(T + at * MIN, total)])
        feed_counter(platform, CNC1, "good_count", [(T + at * MIN, good)])
        feed_counter(platform, CNC1, "scrap_count", [(T + at * MIN, scrap)])

    feed_states(platform, CNC1, [("executing", T)])
    counts(0, 0, 0, 0)
    counts(30, 40, 40, 0)
    assert client.post(tr, json={"state": "running"}, headers=operator).status_code == 200
    counts(60, 120, 117, 3)
    r = client.post(tr, json={"state": "paused", "comment": "break"}, headers=operator)
    assert r.status_code == 200
    counts(90, 150, 147, 3)
    _at(platform, T + 100 * MIN)
    r = client.get(f"/api/production/orders/{oid}", headers=operator)
    body = r.json()
    mill = body["operations"][0]
    assert (mill["total"], mill["good"], mill["scrap"]) == (80, 77, 3), str(body)
    assert mill["run_s"] == 1800
    # The operation's OEE over its 30 min on cnc1: 80 made at 45 s, 77 good.
    assert mill["oee"]["availability"]["value"] == 1.0
    assert mill["oee"]["oee"]["value"] == pytest.approx(77 * 45 / 1800)
    assert body["operations"][1]["total"] == 0  # the weld cell made nothing in the window

    assert client.post(tr, json={"state": "completed"}, headers=operator).status_code == 200
    assert client.post(tr, json={"state": "running"}, headers=operator).status_code == 409
    assert client.post(tr, json={"state": "closed"}, headers=operator).status_code == 200
    body = client.get(f"/api/production/orders/{oid}", headers=operator).json()
    assert [(t["from_state"], t["to_state"], t["username"]) for t in body["transitions"]] == [
        ("planned", "released", "olga"),
        ("released", "running", "olga"),
        ("running", "paused", "olga"),
        ("paused", "completed", "olga"),
        ("completed", "closed", "olga"),
    ]
    assert body["allowed"] == [] and body["closed_at"] is not None
    r = client.patch(f"/api/production/orders/{oid}", json={"quantity": 5}, headers=planner)
    assert r.status_code == 409
    listing = client.get(
        "/api/production/orders", params={"state": "closed"}, headers=operator
    ).json()
    assert listing["total"] == 1 and listing["items"][0]["number"] == "PO-1"


def test_calendar_edit_changes_planned_time(
    platform: Platform, client: TestClient, admin: dict[str, str]
) -> None:
    site = "acme/springfield"
    r = client.get(f"/api/production/calendars/{site}", headers=admin)
    assert r.status_code == 200, r.text
    cal = r.json()["calendar"]
    assert cal["shifts"][0]["name"] == "early"
    # Add a 07:00-07:30 meeting break to the early shift.
    cal["shifts"][0]["breaks"].append({"name": "meeting", "start": "07:00", "end": "07:30"})
    r = client.put(f"/api/production/calendars/{site}", json={"calendar": cal}, headers=admin)
    assert r.status_code == 200, r.text
    _at(platform, T + 120 * MIN)
    feed_states(platform, CNC1, [("executing", T)])
    res = client.get(f"/api/production/oee/{CNC1}", headers=admin).json()["result"]
    assert res["time_s"]["pbt"] == 90 * 60 and res["time_s"]["pdot"] == 30 * 60
    cal["shifts"][0]["end"] = cal["shifts"][0]["start"]
    r = client.put(f"/api/production/calendars/{site}", json={"calendar": cal}, headers=admin)
    assert r.status_code == 422
    viewer = token(platform, client, "vic", ["viewer"])
    assert (
        client.put(
            f"/api/production/calendars/{site}", json={"calendar": cal}, headers=viewer
        ).status_code
        == 403
    )


def test_startup_rejects_and_target_output(
    platform: Platform, client: TestClient, admin: dict[str, str]
) -> None:
    """Setup 06:00-06:20; 4 of the 6 scrapped parts come in the 10 min after the setup."""
    _at(platform, T + 60 * MIN)
    feed_product(platform, CNC1, T, "P-100")
    feed_states(platform, CNC1, [("setup", T), ("executing", T + 20 * MIN)])
    feed_counter(platform, CNC1, "cycle_count", [(T, 0), (T + 25 * MIN, 8), (T + 59 * MIN, 50)])
    feed_counter(platform, CNC1, "good_count", [(T, 0), (T + 25 * MIN, 4), (T + 59 * MIN, 44)])
    feed_counter(platform, CNC1, "scrap_count", [(T, 0), (T + 25 * MIN, 4), (T + 59 * MIN, 6)])
    r = client.get(f"/api/production/oee/{CNC1}", params={"startup_s": 600}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    losses = body["result"]["losses_s"]
    assert losses["setup"] == 1200
    assert losses["startup_reject"] == pytest.approx(4 * 45)
    assert losses["process_defect"] == pytest.approx(2 * 45)
    assert sum(losses.values()) == pytest.approx(body["result"]["lost_s"])
    # Target output: one hour of planned time at 45 s per part at 85 %.
    assert body["target_output"] == pytest.approx(3600 / 45 * 0.85)
    assert body["actual_output"] == 44
