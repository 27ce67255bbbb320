"""Reorder point: a purchase requisition and its event, raised once while one is outstanding."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ifactory.core.db import Database
from ifactory.core.errors import Conflict, InvalidInput
from ifactory.core.events import decode
from ifactory.core.outbox import OutboxRecord
from ifactory.inventory import service
from ifactory.inventory.events import PurchaseRequisitionRaised

from .conftest import make_part


@pytest.fixture
def belt(db: Database, location: int) -> int:
    """A V-belt kept between 2 (minimum) and 10 (maximum), reordered below 4."""
    part = make_part(
        db,
        "BLT-SPA-1250",
        name="V-belt SPA 1250",
        min_stock=2,
        reorder_point=4,
        max_stock=10,
        lead_time_days=5,
        default_location_id=location,
    )
    with db.session() as s:
        service.receive(s, part_id=part, quantity=8, actor="stores")
    return part


def _raised(db: Database) -> list[PurchaseRequisitionRaised]:
    with db.session() as s:
        rows = s.scalars(
            select(OutboxRecord).where(OutboxRecord.type == "inventory.requisition_raised")
        ).all()
        return [decode(r.type, r.payload) for r in rows]  # type: ignore[misc]


def test_falling_below_the_reorder_point_raises_one_requisition_and_event(
    db: Database, belt: int
) -> None:
    with db.session() as s:
        service.issue(s, part_id=belt, quantity=4, actor="tech")  # available 4: not below
    assert _raised(db) == []
    with db.session() as s:
        service.issue(s, part_id=belt, quantity=1, actor="tech")  # available 3 < 4
    with db.session() as s:
        rows, total = service.get_requisitions(s, part_id=belt)
        assert total == 1
        req = rows[0]
        assert (req.state, req.quantity, req.available_at_raise) == ("open", 7.0, 3.0)
        assert (req.needed_by - req.created_at).days == 5  # type: ignore[operator]
    (event,) = _raised(db)
    assert event.requisition_id == req.id
    assert (event.part_number, event.quantity, event.unit, event.unit_cost) == (
        "BLT-SPA-1250",
        7.0,
        "pc",
        12.5,
    )


def test_no_second_requisition_while_one_is_open_or_ordered(db: Database, belt: int) -> None:
    with db.session() as s:
        service.issue(s, part_id=belt, quantity=5, actor="tech")
        service.issue(s, part_id=belt, quantity=1, actor="tech")
        (req,), _ = service.get_requisitions(s, part_id=belt)
        service.set_requisition_state(
            s, requisition_id=req.id, state="ordered", erp_reference="PO-88", actor="buyer"
        )
        service.issue(s, part_id=belt, quantity=1, actor="tech")
    assert len(_raised(db)) == 1
    with db.session() as s:
        # The goods arrive against the requisition; available is 8 again, nothing new is raised.
        service.receive(s, part_id=belt, quantity=7, requisition_id=req.id, actor="stores")
        assert service.get_requisition(s, requisition_id=req.id).state == "received"
    with db.session() as s:
        service.issue(s, part_id=belt, quantity=5, actor="tech")  # below again: a new one
    assert len(_raised(db)) == 2


def test_reservations_count_toward_the_reorder_point(db: Database, belt: int) -> None:
    with db.session() as s:
        service.reserve(s, part_id=belt, quantity=5, work_order_id=40, actor="planner")
        (req,), _ = service.get_requisitions(s, part_id=belt)
        assert req.available_at_raise == 3.0 and req.quantity == 7.0
        assert service.on_hand(s, part_id=belt) == 8.0


def test_lowering_the_reorder_point_setting_is_checked_at_once(db: Database, belt: int) -> None:
    with db.session() as s:
        part = service.get_part(s, part_id=belt)
        service.update_part(s, part=part, changes={"reorder_point": 9}, actor="planner")
        (req,), _ = service.get_requisitions(s, part_id=belt)
        assert req.quantity == 2.0


def test_requisition_lifecycle_refuses_impossible_transitions(db: Database, belt: int) -> None:
    with db.session() as s:
        req = service.create_requisition(
            s, part_id=belt, quantity=3, reason="shutdown stock", actor="planner"
        )
        service.set_requisition_state(s, requisition_id=req.id, state="cancelled", actor="p")
    with pytest.raises(Conflict, match="cancelled; it cannot become ordered"), db.session() as s:
        service.set_requisition_state(s, requisition_id=req.id, state="ordered", actor="p")
    assert [e.reason for e in _raised(db)] == ["shutdown stock"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reorder_point": 4}, "needs a maximum"),
        ({"min_stock": 5, "reorder_point": 4, "max_stock": 10}, "below the minimum"),
        ({"reorder_point": 4, "max_stock": 3}, "below the reorder point"),
    ],
)
def test_planning_parameters_must_be_ordered(
    db: Database, fields: dict[str, float], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        make_part(db, "SEAL-01", name="Shaft seal", **fields)
