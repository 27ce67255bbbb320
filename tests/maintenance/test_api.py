"""Maintenance API end to end on a real platform: requests, lifecycle, execution, assets, paging."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ifactory.maintenance import demo
from ifactory.platform import Platform
from ifactory.production.models import DowntimeEvent

from .conftest import machine_id, make_user, stock

API = "/api/maintenance"
Headers = dict[str, dict[str, str]]


def test_operator_request_to_closed_work_order(
    client: TestClient, platform: Platform, headers: Headers
) -> None:
    cnc1 = machine_id(platform, "cnc1")
    with platform.db.session() as s:  # the machine is down right now
        stop = DowntimeEvent(machine_id=cnc1, start_us=platform.clock.now_us(), states="down")
        s.add(stop)
        s.flush()
        stop_id = stop.id
    r = client.post(
        f"{API}/work-requests",
        headers=headers["operator"],
        json={"machine_id": cnc1, "title": "Coolant leaking at the door", "priority": "high"},
    )
    assert r.status_code == 201, r.text
    wo = r.json()
    linked = client.get(f"{API}/work-orders/{wo['id']}/downtime", headers=headers["viewer"])
    assert [d["id"] for d in linked.json()] == [stop_id]
    assert (wo["state"], wo["type"], wo["requested_by"]) == ("requested", "corrective", "operator1")
    assert wo["number"].startswith("MWO-") and wo["allowed_transitions"] == [
        "approved",
        "scheduled",
        "cancelled",
    ]
    wo_id = wo["id"]
    # A viewer may read but not request; an operator may not approve.
    r = client.post(
        f"{API}/work-requests",
        headers=headers["viewer"],
        json={"machine_id": cnc1, "title": "x y z"},
    )
    assert r.status_code == 403
    move = f"{API}/work-orders/{wo_id}/transitions"
    r = client.post(move, headers=headers["operator"], json={"state": "approved"})
    assert r.status_code == 403 and "planner" in r.json()["detail"][0]["msg"]
    r = client.post(move, headers=headers["planner"], json={"state": "scheduled"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "schedule_required"
    r = client.post(
        move,
        headers=headers["planner"],
        json={"state": "scheduled", "scheduled_start_us": platform.clock.now_us() + 3_600_000_000},
    )
    assert r.status_code == 201 and r.json()["state"] == "scheduled"
    r = client.post(
        f"{API}/work-orders/{wo_id}/loto",
        headers=headers["planner"],
        json={"description": "Coolant pump breaker F4 off and locked"},
    )
    step = r.json()["id"]
    r = client.post(move, headers=headers["technician"], json={"state": "in_progress"})
    assert r.status_code == 409 and r.json()["detail"][0]["type"] == "loto_not_confirmed"
    assert "F4" in r.json()["detail"][0]["msg"]
    r = client.post(f"{API}/loto/{step}/confirm", headers=headers["technician"], json={})
    assert r.status_code == 200 and r.json()["confirmed_by"] == "technician1"
    assert client.post(
        move, headers=headers["technician"], json={"state": "in_progress"}
    ).is_success
    client.post(f"{API}/loto/{step}/release", headers=headers["technician"])
    r = client.post(
        f"{API}/work-orders/{wo_id}/labour",
        headers=headers["technician"],
        json={"username": "technician1", "hours": 1.5, "rate": 60},
    )
    assert r.status_code == 201
    assert client.post(move, headers=headers["technician"], json={"state": "completed"}).is_success
    assert client.post(move, headers=headers["manager"], json={"state": "closed"}).is_success
    detail = client.get(f"{API}/work-orders/{wo_id}", headers=headers["viewer"]).json()
    assert detail["state"] == "closed" and detail["summary"]["total_cost"] == 90.0
    history = client.get(f"{API}/work-orders/{wo_id}/transitions", headers=headers["viewer"]).json()
    assert [(t["to_state"], t["username"]) for t in history] == [
        ("requested", "operator1"),
        ("scheduled", "planner1"),
        ("in_progress", "technician1"),
        ("completed", "technician1"),
        ("closed", "manager1"),
    ]


def test_lists_filter_and_page_and_the_board_groups_by_state(
    client: TestClient, platform: Platform, headers: Headers
) -> None:
    for i in range(7):
        machine = "cnc1" if i % 2 else "press1"
        r = client.post(
            f"{API}/work-orders",
            headers=headers["planner"],
            json={
                "machine_id": machine_id(platform, machine),
                "type": "inspection" if i < 3 else "corrective",
                "title": f"Job {i}",
                "state": "approved" if i < 2 else "requested",
            },
        )
        assert r.status_code == 201, r.text
    page = client.get(f"{API}/work-orders?limit=3&offset=3", headers=headers["viewer"]).json()
    assert page["total"] == 7 and [w["title"] for w in page["items"]] == ["Job 3", "Job 2", "Job 1"]
    cnc = client.get(
        f"{API}/work-orders",
        params={"machine_id": machine_id(platform, "cnc1"), "type": "corrective"},
        headers=headers["viewer"],
    ).json()
    assert sorted(w["title"] for w in cnc["items"]) == ["Job 3", "Job 5"]
    approved = client.get(f"{API}/work-orders?state=approved", headers=headers["viewer"]).json()
    assert approved["total"] == 2
    board = client.get(f"{API}/board", headers=headers["viewer"]).json()
    assert board["counts"]["requested"] == 5 and board["counts"]["approved"] == 2
    assert len(board["columns"]["requested"]) == 5
    r = client.get(f"{API}/work-orders?limit=501", headers=headers["viewer"])
    assert r.status_code == 422
    r = client.post(
        f"{API}/work-orders",
        headers=headers["planner"],
        json={"machine_id": 999_999, "type": "corrective", "title": "x"},
    )
    assert r.status_code == 404
    r = client.post(
        f"{API}/work-orders",
        headers=headers["planner"],
        json={"machine_id": machine_id(platform, "cnc1"), "type": "repair", "title": "x"},
    )
    assert r.status_code == 422


def test_parts_assets_and_catalogue_over_http(
    client: TestClient, platform: Platform, headers: Headers
) -> None:
    kit = stock(platform, part_number="HP-SEAL-KIT", on_hand=1, unit_cost=240.0)
    make_user(platform, "tom", ["technician"])
    press1 = machine_id(platform, "press1")
    r = client.post(
        f"{API}/work-orders",
        headers=headers["planner"],
        json={
            "machine_id": press1,
            "type": "corrective",
            "title": "Pump seal leaking",
            "state": "scheduled",
            "due_us": platform.clock.now_us(),
        },
    )
    wo_id = r.json()["id"]
    r = client.post(
        f"{API}/work-orders/{wo_id}/assignments",
        headers=headers["planner"],
        json={"username": "tom"},
    )
    assert r.status_code == 201
    r = client.post(
        f"{API}/work-orders/{wo_id}/assignments",
        headers=headers["planner"],
        json={"username": "operator1"},
    )
    assert r.status_code == 422 and "not a technician" in r.text
    parts = f"{API}/work-orders/{wo_id}/parts"
    r = client.post(parts, headers=headers["technician"], json={"part_id": kit, "quantity": 1})
    assert r.status_code == 201 and r.json()["unit_cost"] == 240.0
    r = client.post(parts, headers=headers["technician"], json={"part_id": kit, "quantity": 1})
    assert r.status_code == 409 and r.json()["detail"][0]["type"] == "insufficient_stock"
    cost = client.get(f"{API}/work-orders/{wo_id}/cost", headers=headers["viewer"]).json()
    assert cost["parts_cost"] == 240.0
    # Assets: register, install, swap history over HTTP.
    r = client.post(
        f"{API}/assets",
        headers=headers["technician"],
        json={"code": "HP-9", "name": "Hydraulic pump", "kind": "hydraulic_pump"},
    )
    assert r.status_code == 201
    asset = r.json()["id"]
    r = client.post(
        f"{API}/assets/{asset}/install",
        headers=headers["technician"],
        json={"machine_id": press1, "position": "pump"},
    )
    assert r.status_code == 201
    r = client.post(
        f"{API}/assets/{asset}/install",
        headers=headers["technician"],
        json={"machine_id": machine_id(platform, "press2"), "position": "pump"},
    )
    hist = client.get(f"{API}/installations?asset_id={asset}", headers=headers["viewer"]).json()
    assert hist["total"] == 2 and hist["items"][1]["removed_by"] == "technician1"
    r = client.put(
        f"{API}/assets/{asset}/spare-parts",
        headers=headers["technician"],
        json={"part_id": kit, "quantity": 1},
    )
    assert r.status_code == 200 and r.json()[0]["part_number"] == "HP-SEAL-KIT"
    # Failure codes: planners keep the catalogue.
    r = client.post(
        f"{API}/failure-codes",
        headers=headers["technician"],
        json={"kind": "problem", "code": "LEAK", "name": "Leak"},
    )
    assert r.status_code == 403
    r = client.post(
        f"{API}/failure-codes",
        headers=headers["planner"],
        json={"kind": "problem", "code": "LEAK", "name": "Leak"},
    )
    assert r.status_code == 201
    code = r.json()["id"]
    r = client.patch(
        f"{API}/work-orders/{wo_id}",
        headers=headers["technician"],
        json={"problem_code_id": code, "resolution": "Seal kit replaced"},
    )
    assert r.status_code == 200 and r.json()["problem_code_id"] == code
    r = client.patch(
        f"{API}/work-orders/{wo_id}", headers=headers["technician"], json={"cause_code_id": code}
    )
    assert r.status_code == 422


def test_demo_data_seeds_once(platform: Platform) -> None:
    from ifactory.inventory import demo as inventory_demo

    inventory_demo.seed(platform)  # the spare parts the assets' lists name
    assert demo.seed(platform) == len(demo.ASSETS)
    assert demo.seed(platform) == 0
    from ifactory.maintenance import assets, catalog

    with platform.db.session() as s:
        items, total = assets.get_all_assets(s)
        assert total == len(demo.ASSETS)
        in_cnc2 = assets.get_all_assets(s, machine_id=machine_id(platform, "cnc2"))[0]
        assert [a.code for a in in_cnc2] == ["SP-1002"]
        spare = next(a for a in items if a.code == "SP-1004")
        history, n = assets.get_installations(s, asset_id=spare.id)
        assert n == 1 and history[0].removed_at is not None  # ran in cnc2 for a month
        assert {c.code for c in catalog.get_crafts(s)} == {"MECH", "ELEC", "HYD", "INST"}
        pump = next(a for a in items if a.code == "HP-2001")
        listed = {p.part_number for _row, p in assets.get_spare_parts(s, asset_id=pump.id)}
        assert listed == {"HP-SEAL-KIT", "FLT-HYD-0160R010"}
