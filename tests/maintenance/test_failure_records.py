"""Failure records: the failures MTBF counts, with their restoration and their mode (problem code
of linked corrective work, else the booked reason, else "unrecorded"), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ifactory.maintenance import reliability
from ifactory.maintenance import service as work_orders
from ifactory.maintenance.models import FailureCode, WorkOrderDowntime
from ifactory.maintenance.reliability import FailureRecord
from ifactory.production.models import DowntimeEvent
from tests.maintenance.pm_support import CNC1, CNC2, HOUR, MONDAY_06H_US, Env, env

__all__ = ["env"]
T0 = MONDAY_06H_US
NOW = T0 + 100 * HOUR


def h(x: float) -> int:
    return T0 + int(x * HOUR)


# cnc1, hours from T0:
#   20-22 down, nothing booked                   failure, "unrecorded"
#   40-42 down, booked BRK-MECH                  failure, "BRK-MECH"
#   60-61 idle + 61-64 down, booked BRK-ELEC and linked to corrective work with a problem code:
#                                                failure 60-64, the problem code wins
#   80-82 idle, booked BRK-HYD (a breakdown reason, no "down")      failure, "BRK-HYD"
#   90-93 down, booked PLN-PM (planned)          not a failure
#   96-   down, still going on at 100 h          failure, ongoing, ends now
CNC1_SPANS = [
    ("executing", 0, 20),
    ("down", 20, 22),
    ("executing", 22, 40),
    ("down", 40, 42),
    ("executing", 42, 60),
    ("idle", 60, 61),
    ("down", 61, 64),
    ("executing", 64, 80),
    ("idle", 80, 82),
    ("executing", 82, 90),
    ("down", 90, 93),
    ("executing", 93, 96),
    ("down", 96, None),
]
# cnc2:
#   10-12 idle, linked to corrective work without a problem code, no reason: failure, "unrecorded"
#   30-31 idle, linked to a cancelled corrective work order with a problem code: not a failure
CNC2_SPANS = [
    ("executing", 0, 10),
    ("idle", 10, 12),
    ("executing", 12, 30),
    ("idle", 30, 31),
    ("executing", 31, None),
]


def _downtime(env: Env, machine_id: int, start: float, end: float, reason: str | None) -> int:
    with env.db.session() as session:
        event = DowntimeEvent(
            machine_id=machine_id, start_us=h(start), end_us=h(end), reason_code=reason
        )
        session.add(event)
        session.flush()
        return event.id


def _corrective(
    env: Env, machine_id: int, downtime_id: int, *, problem: int | None, cancelled: bool = False
) -> None:
    with env.db.session() as session:
        wo = work_orders.create_work_order(
            session,
            machine_id=machine_id,
            type="corrective",
            title="Breakdown",
            actor="operator",
            now_us=T0,
        )
        wo.problem_code_id = problem
        if cancelled:
            wo.state = "cancelled"
        session.add(WorkOrderDowntime(work_order_id=wo.id, downtime_id=downtime_id, linked_by="x"))


@pytest.fixture
def plant(env: Env) -> Env:
    cnc1, cnc2 = env.machine(CNC1), env.machine(CNC2)
    for mid, spans in ((cnc1, CNC1_SPANS), (cnc2, CNC2_SPANS)):
        env.states(mid, [(s, h(a), None if b is None else h(b)) for s, a, b in spans])
    with env.db.session() as session:
        code = FailureCode(kind="problem", code="SPDL-SEIZE", name="Spindle seized")
        session.add(code)
        session.flush()
        problem = code.id
    _downtime(env, cnc1, 40, 42, "BRK-MECH")
    stop = _downtime(env, cnc1, 60, 64, "BRK-ELEC")
    _corrective(env, cnc1, stop, problem=problem)
    _downtime(env, cnc1, 80, 82, "BRK-HYD")
    _downtime(env, cnc1, 90, 93, "PLN-PM")
    _corrective(env, cnc2, _downtime(env, cnc2, 10, 12, None), problem=None)
    _corrective(env, cnc2, _downtime(env, cnc2, 30, 31, None), problem=problem, cancelled=True)
    return env


def test_failures_with_restoration_and_mode(plant: Env) -> None:
    cnc1, cnc2 = plant.machine(CNC1), plant.machine(CNC2)
    with plant.db.session() as session:
        got = reliability.failure_records(
            session, machine_ids=[cnc1, cnc2], start_us=T0, end_us=NOW, now_us=NOW
        )
    assert got == [
        FailureRecord(cnc1, h(20), h(22), "unrecorded", down_us=h(20)),
        FailureRecord(cnc1, h(40), h(42), "BRK-MECH", down_us=h(40)),
        # The stop began idle at 60 h; the machine reported itself down at 61 h.
        FailureRecord(cnc1, h(60), h(64), "SPDL-SEIZE: Spindle seized", down_us=h(61)),
        FailureRecord(cnc1, h(80), h(82), "BRK-HYD", down_us=None),
        FailureRecord(cnc1, h(96), NOW, "unrecorded", ongoing=True, down_us=h(96)),
        FailureRecord(cnc2, h(10), h(12), "unrecorded", down_us=None),
    ]


def test_the_records_are_the_failures_mtbf_counts(plant: Env) -> None:
    ids = [plant.machine(CNC1), plant.machine(CNC2)]
    with plant.db.session() as session:
        records = reliability.failure_records(
            session, machine_ids=ids, start_us=T0, end_us=NOW, now_us=NOW
        )
        kpis = reliability.machines(session, machine_ids=ids, start_us=T0, end_us=NOW, now_us=NOW)
    for mid, k in zip(ids, kpis, strict=True):
        mine = [r for r in records if r.machine_id == mid]
        assert [r.start_us for r in mine] == k.failure_starts_us
        # TTR runs from the instant of failure: the first "down" of the stop, else its start.
        ttr = sum(r.end_us - (r.start_us if r.down_us is None else r.down_us) for r in mine)
        assert ttr / HOUR == pytest.approx(k.ttr_h)


def test_only_failures_beginning_in_the_window(plant: Env) -> None:
    cnc1 = plant.machine(CNC1)
    with plant.db.session() as session:
        got = reliability.failure_records(
            session, machine_ids=[cnc1], start_us=h(41), end_us=h(81), now_us=NOW
        )
        none = reliability.failure_records(
            session, machine_ids=[cnc1], start_us=h(70), end_us=h(70), now_us=NOW
        )
    # The stop of 40-42 began before the window: not in it; the one of 80-82 began inside.
    assert [(r.start_us, r.end_us, r.mode) for r in got] == [
        (h(60), h(64), "SPDL-SEIZE: Spindle seized"),
        (h(80), h(82), "BRK-HYD"),
    ]
    assert none == []
