"""Reservations for work orders: what they hold back and how issues consume them."""

from __future__ import annotations

import pytest

from ifactory.core.db import Database
from ifactory.core.errors import Conflict
from ifactory.inventory import service


def test_reservations_lower_available_but_not_on_hand(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=6, actor="stores")
        service.reserve(s, part_id=part, quantity=4, work_order_id=11, actor="planner")
    with db.session() as s:
        assert service.on_hand(s, part_id=part) == 6.0
        assert service.available(s, part_id=part) == 2.0
        level = service.stock_level(s, part=service.get_part(s, part_id=part))
        assert (level.on_hand, level.reserved, level.available) == (6.0, 4.0, 2.0)


def test_other_work_cannot_take_reserved_parts(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=3, actor="stores")
        service.reserve(s, part_id=part, quantity=3, work_order_id=11, actor="planner")
    with pytest.raises(Conflict, match="reserved for other work 3"), db.session() as s:
        service.issue(s, part_id=part, quantity=1, work_order_id=12, actor="tech")
    with pytest.raises(Conflict, match="available 0"), db.session() as s:
        service.reserve(s, part_id=part, quantity=1, work_order_id=12, actor="planner")


def test_issuing_for_the_work_order_consumes_its_reservation_first(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=5, actor="stores")
        reservation = service.reserve(s, part_id=part, quantity=2, work_order_id=11, actor="p")
        first = service.issue(s, part_id=part, quantity=1, work_order_id=11, actor="tech")
        assert first.reservation_id == reservation.id
    with db.session() as s:
        r = service.get_reservation(s, reservation_id=reservation.id)
        assert (r.state, r.issued_quantity, r.open_quantity) == ("open", 1.0, 1.0)
        assert service.available(s, part_id=part) == 3.0  # 4 on hand - 1 still held
        # Taking 2 more: 1 from the reservation, 1 from free stock; the reservation is done.
        service.issue(s, part_id=part, quantity=2, work_order_id=11, actor="tech")
    with db.session() as s:
        r = service.get_reservation(s, reservation_id=reservation.id)
        assert (r.state, r.open_quantity) == ("consumed", 0.0)
        assert service.on_hand(s, part_id=part) == 2.0
        assert service.available(s, part_id=part) == 2.0


def test_a_second_reservation_of_the_same_part_grows_the_first(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=5, actor="stores")
        a = service.reserve(s, part_id=part, quantity=1, work_order_id=11, actor="p")
        b = service.reserve(s, part_id=part, quantity=2, work_order_id=11, actor="p")
        assert a.id == b.id and b.quantity == 3.0
        assert len(service.get_reservations(s, work_order_id=11)) == 1


def test_releasing_gives_the_parts_back(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=5, actor="stores")
        service.reserve(s, part_id=part, quantity=4, work_order_id=11, actor="p")
        service.reserve(s, part_id=part, quantity=1, work_order_id=12, actor="p")
    with db.session() as s:
        assert service.release_reservations(s, work_order_id=11, actor="p") == 1
        assert service.release_reservations(s, work_order_id=11, actor="p") == 0
    with db.session() as s:
        assert service.available(s, part_id=part) == 4.0
        states = {r.work_order_id: r.state for r in service.get_reservations(s, part_id=part)}
        assert states == {11: "released", 12: "open"}
