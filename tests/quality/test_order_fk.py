"""Quality `order_id` columns are foreign keys to production orders, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ifactory.core.db import Database
from ifactory.platform import Platform
from ifactory.production.models import ProductionOrder
from ifactory.quality.models import LotConsumption, MaterialLot

from .conftest import add_orders


def _lot(code: str) -> dict[str, object]:
    return {"code": code, "material": "part", "kind": "finished", "quantity": 5, "unit": "pcs"}


def test_a_lot_for_an_unknown_order_is_a_clear_404(
    client: TestClient, platform: Platform, operator_headers: dict[str, str]
) -> None:
    window = {"start_us": 0, "end_us": 1}
    made = client.post(
        "/api/quality/orders/999/productions",
        headers=operator_headers,
        json={"lot": _lot("FG-1"), **window},
    )
    assert made.status_code == 404
    assert made.json()["detail"][0]["type"] == "unknown_order"
    assert made.json()["detail"][0]["loc"] == ["path", "order_id"]
    client.post(
        "/api/quality/lots", headers=operator_headers, json={"code": "RM-1", "material": "bar"}
    )
    used = client.post(
        "/api/quality/orders/999/consumptions",
        headers=operator_headers,
        json={"lot_code": "RM-1", "quantity": 1},
    )
    assert used.status_code == 404 and used.json()["detail"][0]["type"] == "unknown_order"
    # Nothing was half-written, and a real order works.
    with platform.db.session() as s:
        assert s.scalar(select(func.count()).select_from(LotConsumption)) == 0
        assert s.scalar(select(MaterialLot.id).where(MaterialLot.code == "FG-1")) is None
    add_orders(platform.db, 7)
    ok = client.post(
        "/api/quality/orders/7/productions",
        headers=operator_headers,
        json={"lot": _lot("FG-1"), **window},
    )
    assert ok.status_code == 201 and ok.json()["order_id"] == 7


def test_the_database_refuses_an_unknown_order_and_unlinks_deleted_ones(qdb: Database) -> None:
    with pytest.raises(IntegrityError), qdb.session() as s:
        s.add(MaterialLot(code="X", material="m", order_id=12345))
    add_orders(qdb, 3)
    with qdb.session() as s:
        s.add(MaterialLot(code="Y", material="m", order_id=3))
        s.flush()
        s.add(
            LotConsumption(order_id=3, lot_id=s.scalar(select(MaterialLot.id)), quantity=1, ts_us=0)
        )
    with qdb.session() as s:
        s.execute(delete(ProductionOrder).where(ProductionOrder.id == 3))
    with qdb.session() as s:
        # The lot outlives its order (SET NULL); the consumption belongs to it (CASCADE).
        assert s.scalar(select(MaterialLot.order_id).where(MaterialLot.code == "Y")) is None
        assert s.scalar(select(func.count()).select_from(LotConsumption)) == 0
