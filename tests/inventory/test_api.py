"""Inventory API end to end on a real platform: parts, movements, role checks, requisitions."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ifactory.core import audit
from ifactory.core.events import Event
from ifactory.platform import Platform

H = dict[str, dict[str, str]]


def _setup(client: TestClient, headers: H) -> tuple[int, int]:
    """A location and a seal kit with 3 in stock (reorder below 2, up to 6)."""
    r = client.post(
        "/api/inventory/locations",
        headers=headers["planner"],
        json={"code": "MS-B-03", "store": "Main store", "bin": "B-03"},
    )
    assert r.status_code == 201, r.text
    location = r.json()["id"]
    r = client.post(
        "/api/inventory/parts",
        headers=headers["planner"],
        json={
            "part_number": "SEAL-KIT-HC40",
            "name": "Hydraulic cylinder seal kit HC40",
            "unit": "set",
            "unit_cost": 86.0,
            "manufacturer": "Parker",
            "manufacturer_part_number": "PK-HC40-SK",
            "min_stock": 1,
            "reorder_point": 2,
            "max_stock": 6,
            "lead_time_days": 10,
            "default_location_id": location,
        },
    )
    assert r.status_code == 201, r.text
    part = r.json()["id"]
    r = client.post(
        f"/api/inventory/parts/{part}/receipts",
        headers=headers["planner"],
        json={"quantity": 3, "reference": "DN-2026-118"},
    )
    assert r.status_code == 201, r.text
    return location, part


def _post(client: TestClient, url: str, who: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post(url, headers=who, json=body)


def test_parts_list_shows_stock_available_and_reorder_status(
    client: TestClient, headers: H
) -> None:
    _, part = _setup(client, headers)
    r = _post(
        client,
        "/api/inventory/reservations",
        headers["planner"],
        {"part_id": part, "quantity": 2, "work_order_id": 900},
    )
    assert r.status_code == 201, r.text
    r = client.get("/api/inventory/parts", headers=headers["viewer"])
    assert r.status_code == 200
    (item,) = r.json()["items"]
    assert item["stock"] == {
        "on_hand": 3.0,
        "reserved": 2.0,
        "available": 1.0,
        "on_order": 5.0,  # a requisition was raised: available 1 < 2, up to 6
        "status": "below_reorder_point",  # 1 is not below the minimum of 1
        "below_reorder_point": True,
    }
    r = client.get("/api/inventory/parts?below_reorder_point=true", headers=headers["viewer"])
    assert r.json()["total"] == 1
    r = client.get("/api/inventory/parts?below_reorder_point=false", headers=headers["viewer"])
    assert r.json()["total"] == 0
    r = client.get(f"/api/inventory/parts/{part}", headers=headers["viewer"])
    assert r.json()["locations"] == [{"location_id": 1, "location": "MS-B-03", "on_hand": 3.0}]


def test_role_checks_on_movements(client: TestClient, headers: H) -> None:
    location, part = _setup(client, headers)
    url = f"/api/inventory/parts/{part}"
    # Technicians issue and return; they do not receive or count.
    assert _post(client, f"{url}/issues", headers["technician"], {"quantity": 1}).status_code == 201
    assert (
        _post(client, f"{url}/returns", headers["technician"], {"quantity": 1}).status_code == 201
    )
    r = _post(client, f"{url}/receipts", headers["technician"], {"quantity": 1})
    assert r.status_code == 403 and r.json()["detail"][0]["type"] == "permission_denied"
    adjustment = {"location_id": location, "counted_quantity": 3, "reason": "count"}
    assert _post(client, f"{url}/adjustments", headers["technician"], adjustment).status_code == 403
    assert _post(client, f"{url}/adjustments", headers["manager"], adjustment).status_code == 201
    # Operators and viewers move nothing.
    for role in ("operator", "viewer"):
        assert _post(client, f"{url}/issues", headers[role], {"quantity": 1}).status_code == 403
    # Nobody signed in: 401.
    assert client.post(f"{url}/issues", json={"quantity": 1}).status_code == 401


def test_override_is_for_managers_and_is_recorded(
    client: TestClient, platform: Platform, headers: H
) -> None:
    _, part = _setup(client, headers)
    url = f"/api/inventory/parts/{part}/issues"
    r = _post(client, url, headers["technician"], {"quantity": 4})
    assert r.status_code == 409
    (detail,) = r.json()["detail"]
    assert detail["type"] == "insufficient_stock"
    assert "SEAL-KIT-HC40" in detail["msg"] and "available 3" in detail["msg"]
    override = {"quantity": 4, "override": True, "override_reason": "kit found in the crib"}
    r = _post(client, url, headers["technician"], override)
    assert r.status_code == 403
    r = _post(client, url, headers["planner"], override)
    assert r.status_code == 403
    r = _post(client, url, headers["manager"], {"quantity": 4, "override": True})
    assert r.status_code == 422  # the reason is required
    r = _post(client, url, headers["manager"], override)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["override"], body["override_by"], body["override_reason"]) == (
        True,
        "manager1",
        "kit found in the crib",
    )
    assert body["balance_after"] == -1.0
    with platform.db.session() as s:
        (entry,) = audit.get_all(s, entity="spare_part", username="manager1")
        assert entry.action == "issue"


def test_ledger_is_paged_newest_first(client: TestClient, headers: H) -> None:
    _, part = _setup(client, headers)
    for _ in range(3):
        _post(client, f"/api/inventory/parts/{part}/issues", headers["technician"], {"quantity": 1})
    r = client.get(f"/api/inventory/parts/{part}/ledger?limit=2", headers=headers["viewer"])
    page = r.json()
    assert page["total"] == 4
    assert [e["balance_after"] for e in page["items"]] == [0.0, 1.0]
    r = client.get(
        f"/api/inventory/parts/{part}/ledger?limit=2&offset=2", headers=headers["viewer"]
    )
    assert [e["movement_type"] for e in r.json()["items"]] == ["issue", "receipt"]


def test_requisition_raised_event_reaches_the_bus(
    client: TestClient, platform: Platform, headers: H
) -> None:
    seen: list[Event] = []
    platform.bus.subscribe("inventory.*", seen.append)
    _, part = _setup(client, headers)
    _post(client, f"/api/inventory/parts/{part}/issues", headers["technician"], {"quantity": 2})
    platform.relay.drain()
    (event,) = seen
    assert event.type == "inventory.requisition_raised"
    r = client.get("/api/inventory/requisitions?state=open", headers=headers["viewer"])
    (req,) = r.json()["items"]
    assert (req["part_number"], req["quantity"]) == ("SEAL-KIT-HC40", 5.0)
    r = client.patch(
        f"/api/inventory/requisitions/{req['id']}",
        headers=headers["technician"],
        json={"state": "ordered"},
    )
    assert r.status_code == 403
    r = client.patch(
        f"/api/inventory/requisitions/{req['id']}",
        headers=headers["planner"],
        json={"state": "ordered", "erp_reference": "PO-4500012"},
    )
    assert r.json()["state"] == "ordered" and r.json()["erp_reference"] == "PO-4500012"


def test_validation_errors_are_clear(client: TestClient, headers: H) -> None:
    _, part = _setup(client, headers)
    r = _post(client, f"/api/inventory/parts/{part}/issues", headers["technician"], {"quantity": 0})
    assert r.status_code == 422
    r = _post(
        client,
        "/api/inventory/parts",
        headers["planner"],
        {"part_number": "X-1", "name": "x", "reorder_point": 5, "max_stock": 2},
    )
    assert r.status_code == 422
    r = _post(
        client,
        "/api/inventory/parts",
        headers["planner"],
        {"part_number": "SEAL-KIT-HC40", "name": "y"},
    )
    assert r.status_code == 409
    assert client.get("/api/inventory/parts/999", headers=headers["viewer"]).status_code == 404
    r = client.patch(
        f"/api/inventory/parts/{part}", headers=headers["planner"], json={"name": None}
    )
    assert r.status_code == 422 and "name cannot be null" in r.text
    r = client.patch(
        f"/api/inventory/parts/{part}", headers=headers["planner"], json={"on_hand": 10}
    )
    assert r.status_code == 422  # stock is never edited, only booked
    r = client.patch(
        f"/api/inventory/parts/{part}", headers=headers["technician"], json={"lead_time_days": 3}
    )
    assert r.status_code == 403
    r = client.delete(f"/api/inventory/parts/{part}", headers=headers["planner"])
    assert r.status_code == 409 and r.json()["detail"][0]["type"] == "has_ledger"


def test_reservations_and_release_through_the_api(client: TestClient, headers: H) -> None:
    _, part = _setup(client, headers)
    body = {"part_id": part, "quantity": 1, "work_order_id": 7}
    assert (
        _post(client, "/api/inventory/reservations", headers["technician"], body).status_code == 403
    )
    r = _post(client, "/api/inventory/reservations", headers["planner"], body)
    assert r.json()["open_quantity"] == 1.0
    r = _post(client, "/api/inventory/work-orders/7/release", headers["planner"], {})
    assert r.json() == {"work_order_id": 7, "released": 1}
    r = client.get("/api/inventory/reservations?work_order_id=7", headers=headers["viewer"])
    assert [x["state"] for x in r.json()] == ["released"]


def test_operation_ids_follow_tag_name(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ids = {
        op["operationId"]
        for path, item in spec["paths"].items()
        if path.startswith("/api/inventory")
        for op in item.values()
    }
    assert {"inventory-issue", "inventory-receive", "inventory-list_parts"} <= ids
