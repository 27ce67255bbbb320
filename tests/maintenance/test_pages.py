"""Maintenance pages render what the services hold: list, board, detail, request form, assets."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ifactory.maintenance import assets, demo, service
from ifactory.platform import Platform

from .conftest import machine_id


def test_pages_show_work_orders_board_detail_and_assets(
    client: TestClient, platform: Platform
) -> None:
    platform.settings.anonymous_read = True
    demo.seed(platform)
    with platform.db.session() as s:
        rows, _ = service.get_all(s, filters=service.WorkOrderFilter(types=["inspection"]))
        inspection = rows[0]
    r = client.get("/maintenance/work-orders")
    assert r.status_code == 200
    assert "Quarterly safety inspection" in r.text and inspection.number in r.text
    # A filter form sent with "any" everywhere is no filter, not an error.
    r = client.get("/maintenance/work-orders?state=&type=&machine_id=&q=")
    assert r.status_code == 200 and inspection.number in r.text
    assert client.get("/maintenance/assets?machine_id=&q=").status_code == 200
    assert client.get("/maintenance/board?machine_id=").status_code == 200
    r = client.get("/maintenance/work-orders?type=improvement")
    assert "chip conveyor" in r.text and "Quarterly safety" not in r.text
    r = client.get("/maintenance/board")
    assert r.status_code == 200 and 'data-state="scheduled"' in r.text
    assert "Quarterly safety inspection" in r.text
    r = client.get(f"/maintenance/work-orders/{inspection.id}")
    assert r.status_code == 200
    for text in ("Light curtain stops the ram", "Main switch Q1", "Not confirmed", "Lockout"):
        assert text in r.text
    assert client.get("/maintenance/work-orders/999999").status_code == 404
    r = client.get(f"/maintenance/request?machine_id={machine_id(platform, 'cnc1')}")
    assert r.status_code == 200 and 'id="request-form"' in r.text and "CNC Mill 1" in r.text
    r = client.get("/maintenance/assets")
    assert r.status_code == 200 and "SP-1001" in r.text and "HP-2001" in r.text
    with platform.db.session() as s:
        back = next(a for a in assets.get_all_assets(s)[0] if a.code == "SP-1002")  # swapped
    r = client.get(f"/maintenance/assets/{back.id}")
    assert r.status_code == 200
    assert "Installation history" in r.text and "back from reconditioning" in r.text
    assert "MTBF" in r.text and 'id="reliability"' in r.text
