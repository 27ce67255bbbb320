"""The stock ledger: arithmetic, derived quantities, refusals and recorded overrides."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select

from ifactory.core.audit import AuditEntry
from ifactory.core.db import Database
from ifactory.core.errors import Conflict, InvalidInput, NotFound
from ifactory.inventory import service
from ifactory.inventory.models import SparePart, StockMovement

from .conftest import make_location, make_part


def test_on_hand_is_the_sum_of_receipts_issues_adjustments_and_returns(
    db: Database, part: int, location: int
) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=10, actor="stores", reference="DN-4711")
        service.issue(s, part_id=part, quantity=3, work_order_id=501, actor="tech")
        service.return_to_stock(s, part_id=part, quantity=1, work_order_id=501, actor="tech")
        service.adjust(
            s, part_id=part, location_id=location, counted_quantity=7.5, reason="count", actor="sv"
        )
    with db.session() as s:
        # 10 - 3 + 1 = 8 booked; the count found 7.5, so the adjustment is -0.5.
        assert service.on_hand(s, part_id=part) == 7.5
        assert service.on_hand(s, part_id=part, location_id=location) == 7.5
        entries, total = service.get_ledger(s, part_id=part)
        assert total == 4
        assert [(e.movement_type, e.quantity, e.balance_after) for e in reversed(entries)] == [
            ("receipt", 10.0, 10.0),
            ("issue", -3.0, 7.0),
            ("return", 1.0, 8.0),
            ("adjustment", -0.5, 7.5),
        ]
        assert entries[-1].reference == "DN-4711"
        assert entries[0].reason == "count" and entries[0].recorded_by == "sv"


def test_quantity_on_hand_has_no_column_anywhere(db: Database) -> None:
    """The part table carries planning parameters only; stock exists only as ledger entries."""
    columns = {c.key for c in inspect(SparePart).columns}
    assert not {"quantity", "on_hand", "stock", "quantity_on_hand", "balance"} & columns


def test_running_balances_agree_with_the_ledger(db: Database, part: int, location: int) -> None:
    other = make_location(db, "LS-L1-02", "Line 1 cabinet")
    with db.session() as s:
        service.receive(s, part_id=part, quantity=5, actor="stores")
        service.receive(s, part_id=part, quantity=4, location_id=other, actor="stores")
        service.transfer(
            s, part_id=part, quantity=2, from_location_id=location, to_location_id=other, actor="st"
        )
        service.issue(s, part_id=part, quantity=5, location_id=other, actor="tech")
    with db.session() as s:
        rows = s.scalars(select(StockMovement).order_by(StockMovement.id)).all()
        running = 0.0
        per_location: dict[int, float] = {}
        for row in rows:
            running += row.quantity
            per_location[row.location_id] = per_location.get(row.location_id, 0.0) + row.quantity
            assert row.balance_after == pytest.approx(running)
            assert row.location_balance_after == pytest.approx(per_location[row.location_id])
        assert dict(service.balances_by_location(s, part_id=part)) == {location: 3.0, other: 1.0}
        assert service.on_hand(s, part_id=part) == 4.0
        out, into = (r for r in rows if r.movement_type == "transfer")
        assert (out.transfer_of_id, into.transfer_of_id) == (into.id, out.id)


def test_issue_beyond_stock_is_refused_with_a_clear_message(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=2, actor="stores")
    with pytest.raises(Conflict) as info, db.session() as s:
        service.issue(s, part_id=part, quantity=3, actor="tech")
    assert info.value.code == "insufficient_stock"
    assert "BRG-6205" in info.value.msg
    assert "available 2" in info.value.msg and "requested 3" in info.value.msg
    with db.session() as s:
        assert service.on_hand(s, part_id=part) == 2.0
        assert s.scalar(select(func.count()).select_from(StockMovement)) == 1


def test_override_lets_stock_go_negative_and_records_who_and_why(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=1, actor="stores")
    with pytest.raises(InvalidInput), db.session() as s:
        service.issue(s, part_id=part, quantity=2, actor="boss", override=True, override_reason=" ")
    with db.session() as s:
        movement = service.issue(
            s,
            part_id=part,
            quantity=2,
            actor="boss",
            override=True,
            override_reason="spare found on the machine, not booked in",
        )
    with db.session() as s:
        assert service.on_hand(s, part_id=part) == -1.0
        entry = s.get(StockMovement, movement.id)
        assert entry is not None
        assert entry.override is True
        assert entry.override_by == "boss"
        assert entry.override_reason == "spare found on the machine, not booked in"
        audit_row = s.scalars(select(AuditEntry).where(AuditEntry.action == "issue")).one()
        assert audit_row.details is not None and audit_row.details["override"] is True


def test_an_override_that_was_not_needed_is_not_flagged(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=5, actor="stores")
        movement = service.issue(
            s, part_id=part, quantity=1, actor="boss", override=True, override_reason="urgent"
        )
        assert movement.override is False and movement.override_by is None


def test_location_cannot_go_negative_even_if_the_part_has_stock_elsewhere(
    db: Database, part: int, location: int
) -> None:
    other = make_location(db, "LS-L1-02", "Line 1 cabinet")
    with db.session() as s:
        service.receive(s, part_id=part, quantity=1, actor="stores")
        service.receive(s, part_id=part, quantity=1, location_id=other, actor="stores")
    with pytest.raises(Conflict, match="1 at LS-L1-02"), db.session() as s:
        service.issue(s, part_id=part, quantity=2, location_id=other, actor="tech")


def test_issue_without_location_takes_the_default_then_the_fullest(
    db: Database, part: int, location: int
) -> None:
    other = make_location(db, "LS-L1-02", "Line 1 cabinet")
    with db.session() as s:
        service.receive(s, part_id=part, quantity=1, actor="stores")
        service.receive(s, part_id=part, quantity=5, location_id=other, actor="stores")
        assert service.issue(s, part_id=part, quantity=1, actor="t").location_id == location
        assert service.issue(s, part_id=part, quantity=2, actor="t").location_id == other


def test_stocktake_needs_a_reason_and_a_non_negative_count(
    db: Database, part: int, location: int
) -> None:
    with pytest.raises(InvalidInput, match="reason"), db.session() as s:
        service.adjust(
            s, part_id=part, location_id=location, counted_quantity=3, reason="", actor="a"
        )
    with pytest.raises(InvalidInput, match="negative"), db.session() as s:
        service.adjust(
            s, part_id=part, location_id=location, counted_quantity=-1, reason="x", actor="a"
        )
    with db.session() as s:
        zero = service.adjust(
            s, part_id=part, location_id=location, counted_quantity=0, reason="empty bin", actor="a"
        )
        assert zero.quantity == 0.0  # the count is on record even when it confirms the books


def test_returns_cannot_exceed_what_the_work_order_took(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=4, actor="stores")
        service.issue(s, part_id=part, quantity=2, work_order_id=77, actor="tech")
        service.return_to_stock(s, part_id=part, quantity=1, work_order_id=77, actor="tech")
    with pytest.raises(Conflict, match="cannot return 2"), db.session() as s:
        service.return_to_stock(s, part_id=part, quantity=2, work_order_id=77, actor="tech")
    with db.session() as s:
        assert service.issued_to_work_order(s, part_id=part, work_order_id=77) == 1.0
        assert [m.movement_type for m in service.get_movements(s, work_order_id=77)] == [
            "issue",
            "return",
        ]


@pytest.mark.parametrize("quantity", [0, -1, 0.00001])
def test_quantities_must_be_positive(db: Database, part: int, quantity: float) -> None:
    with pytest.raises(InvalidInput, match="greater than 0"), db.session() as s:
        service.receive(s, part_id=part, quantity=quantity, actor="stores")


def test_unknown_part_or_location_is_not_found(db: Database, part: int) -> None:
    with pytest.raises(NotFound), db.session() as s:
        service.receive(s, part_id=999, quantity=1, actor="stores")
    with pytest.raises(NotFound), db.session() as s:
        service.receive(s, part_id=part, quantity=1, location_id=999, actor="stores")


def test_receipt_without_location_needs_a_default(db: Database) -> None:
    bare = make_part(db, "FLT-0001", name="Hydraulic return filter")
    with pytest.raises(InvalidInput, match="no default location"), db.session() as s:
        service.receive(s, part_id=bare, quantity=1, actor="stores")


def test_receipt_price_updates_the_unit_cost(db: Database, part: int) -> None:
    with db.session() as s:
        movement = service.receive(s, part_id=part, quantity=2, unit_cost=14.2, actor="stores")
        assert movement.unit_cost == 14.2
    with db.session() as s:
        assert s.get(SparePart, part).unit_cost == 14.2  # type: ignore[union-attr]


def test_a_part_with_a_ledger_cannot_be_deleted(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=1, actor="stores")
    with pytest.raises(Conflict, match="deactivate"), db.session() as s:
        service.delete_part(s, part=service.get_part(s, part_id=part), actor="boss")


def test_quantities_keep_four_decimals(db: Database, part: int) -> None:
    with db.session() as s:
        for _ in range(10):
            service.receive(s, part_id=part, quantity=0.1, actor="stores")
        service.issue(s, part_id=part, quantity=1.0, actor="tech")  # exactly what is there
        assert service.on_hand(s, part_id=part) == 0.0
