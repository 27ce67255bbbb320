"""Two issues of the last part at the same time: one succeeds, one gets a clear Conflict.

Real threads with their own connections on the real database (SQLite file, PostgreSQL).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from ifactory.core.db import Database
from ifactory.core.errors import Conflict
from ifactory.inventory import service
from ifactory.inventory.models import StockMovement

from .conftest import make_part


def _run(*targets: Callable[[], None]) -> list[BaseException | None]:
    outcomes: list[BaseException | None] = [None] * len(targets)

    def wrap(i: int, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # collected and asserted on by the test
            outcomes[i] = exc

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "an issue never finished (deadlock?)"
    return outcomes


def test_second_issue_waits_for_the_first_and_sees_its_entry(db: Database, part: int) -> None:
    """The first issue holds its transaction open; the second, started meanwhile, must wait."""
    with db.session() as s:
        service.receive(s, part_id=part, quantity=1, actor="stores")
    first_has_issued = threading.Event()

    def first() -> None:
        with db.session() as s:
            service.issue(s, part_id=part, quantity=1, work_order_id=1, actor="anna")
            first_has_issued.set()
            # Keep the transaction (and its lock) open while the other one tries.
            threading.Event().wait(0.5)

    def second() -> None:
        assert first_has_issued.wait(10)
        with db.session() as s:
            # What a work-order screen saw a moment ago: the part looked available.
            service.on_hand(s, part_id=part)
            service.issue(s, part_id=part, quantity=1, work_order_id=2, actor="ben")

    outcomes = _run(first, second)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], Conflict), outcomes[1]
    assert "BRG-6205" in outcomes[1].msg and "available 0" in outcomes[1].msg
    with db.session() as s:
        assert service.on_hand(s, part_id=part) == 0.0
        issues = s.scalar(
            select(func.count())
            .select_from(StockMovement)
            .where(StockMovement.movement_type == "issue")
        )
        assert issues == 1


@pytest.mark.parametrize("rounds", [5])
def test_simultaneous_issues_of_the_last_part(db: Database, location: int, rounds: int) -> None:
    """Both requests are released at once by a barrier, several times over."""
    for n in range(rounds):
        part = make_part(db, f"SPN-{n}", name="Spindle cartridge", default_location_id=location)
        with db.session() as s:
            service.receive(s, part_id=part, quantity=1, actor="stores")
        barrier = threading.Barrier(2)

        def take(wo: int, part: int = part, barrier: threading.Barrier = barrier) -> None:
            barrier.wait(10)
            with db.session() as s:
                service.issue(s, part_id=part, quantity=1, work_order_id=wo, actor=f"tech{wo}")

        outcomes = _run(lambda: take(1), lambda: take(2))
        assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "NoneType"], outcomes
        with db.session() as s:
            assert service.on_hand(s, part_id=part) == 0.0


def test_simultaneous_reservations_cannot_overbook(db: Database, part: int) -> None:
    with db.session() as s:
        service.receive(s, part_id=part, quantity=3, actor="stores")
    barrier = threading.Barrier(2)

    def hold(wo: int) -> None:
        barrier.wait(10)
        with db.session() as s:
            service.reserve(s, part_id=part, quantity=2, work_order_id=wo, actor="planner")

    outcomes = _run(lambda: hold(1), lambda: hold(2))
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "NoneType"], outcomes
    with db.session() as s:
        assert service.available(s, part_id=part) == 1.0
