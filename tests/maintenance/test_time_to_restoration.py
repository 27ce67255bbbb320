"""Time to restoration from the instant of failure (IEC 60050-192-07-21), not from the start of
the stop: a machine idle over a weekend that reports "down" at the start of the shift was not
being repaired all weekend. Hand-computed values through both code paths (`machines`, which
reads around the failure candidates, and `compute` on the whole history), on SQLite and
PostgreSQL, for machines, components and the failure records."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from ifactory.core.clock import to_datetime
from ifactory.maintenance import reliability
from ifactory.maintenance import service as work_orders
from ifactory.maintenance.models import Asset, AssetInstallation, WorkOrderDowntime
from ifactory.production import oee
from ifactory.production.models import DowntimeEvent
from tests.maintenance.pm_support import CNC1, CNC2, HOUR, MONDAY_06H_US, Env, env

__all__ = ["env"]
T0 = MONDAY_06H_US
END = T0 + 100 * HOUR


def h(x: float) -> int:
    return T0 + int(x * HOUR)


# cnc1, hours from T0 (period [0 h, 100 h)):
#   0-10 executing                 operating 10
#  10-50 idle (a 40 h weekend)     one stop; the machine reports "down" at 50 h: failure 1,
#  50-52 down                      instant of failure 50 h, TTR 2 h (not 42 h)
#  52-70 executing                 operating 18
#  70-75 setup, 75-76 down         failure 2 at 75 h, TTR 1 h; corrective work on the spindle
#  76-100 executing                operating 24
# operating 52 h, 2 failures, TTR 3 h: MTBF 26 h, MTTR 1.5 h, availability 26 / 27.5.
# TBF: 10 h and 18 h, whether cut at the stop starts (10 h, 70 h) or at the instants of
# failure (50 h, 75 h): the stops have no operating time.
CNC1_SPANS = [
    ("executing", 0, 10),
    ("idle", 10, 50),
    ("down", 50, 52),
    ("executing", 52, 70),
    ("setup", 70, 75),
    ("down", 75, 76),
    ("executing", 76, 100),
]
# cnc2:
#   0-10 executing                 operating 10
#  10-13 idle, booked BRK-ELEC     failure without "down": TTR from the stop start, 3 h
#  13-40 executing                 operating 27
#  40-44 idle, 44-45 down, booked BRK-MECH: failure, instant 44 h (first "down"), TTR 1 h
#  45-100 executing                operating 55
# operating 92 h, 2 failures, TTR 4 h: MTBF 46 h, MTTR 2 h, availability 46 / 48.
CNC2_SPANS = [
    ("executing", 0, 10),
    ("idle", 10, 13),
    ("executing", 13, 40),
    ("idle", 40, 44),
    ("down", 44, 45),
    ("executing", 45, 100),
]


def _downtime(env: Env, machine_id: int, start: float, end: float, reason: str | None) -> int:
    with env.db.session() as session:
        event = DowntimeEvent(
            machine_id=machine_id, start_us=h(start), end_us=h(end), reason_code=reason
        )
        session.add(event)
        session.flush()
        return event.id


@pytest.fixture
def plant(env: Env) -> Env:
    cnc1, cnc2 = env.machine(CNC1), env.machine(CNC2)
    for mid, spans in ((cnc1, CNC1_SPANS), (cnc2, CNC2_SPANS)):
        env.states(mid, [(s, h(a), h(b)) for s, a, b in spans])
    _downtime(env, cnc2, 10, 13, "BRK-ELEC")
    _downtime(env, cnc2, 40, 45, "BRK-MECH")
    stop = _downtime(env, cnc1, 70, 76, None)
    with env.db.session() as session:
        spindle = Asset(code="SP-1", name="Spindle", kind="spindle", machine_id=cnc1)
        session.add(spindle)
        session.flush()
        session.add(
            AssetInstallation(
                asset_id=spindle.id, machine_id=cnc1, installed_at=to_datetime(T0), installed_by="t"
            )
        )
        wo = work_orders.create_work_order(
            session,
            machine_id=cnc1,
            type="corrective",
            title="Spindle seized",
            actor="operator",
            asset_id=spindle.id,
            now_us=h(75),
        )
        session.add(WorkOrderDowntime(work_order_id=wo.id, downtime_id=stop, linked_by="tech"))
    env.clock.set(END)
    return env


def test_ttr_runs_from_the_instant_of_failure(plant: Env) -> None:
    ids = [plant.machine(CNC1), plant.machine(CNC2)]
    with plant.db.session() as session:
        one, two = reliability.machines(
            session, machine_ids=ids, start_us=T0, end_us=END, now_us=END
        )
    # The weekend machine: 2 h and 1 h of restoration, not 42 h and 6 h.
    assert one.failures == 2
    assert one.failure_starts_us == [h(10), h(70)]  # failures are still placed by their stop
    assert one.operating_h == pytest.approx(52.0)
    assert one.ttr_h == pytest.approx(3.0)
    assert one.mtbf_h.value == pytest.approx(26.0)
    assert one.mttr_h.value == pytest.approx(1.5)
    assert one.availability.value == pytest.approx(26.0 / 27.5)
    # Booked to breakdown without "down": from the stop start (3 h); booked and turning down:
    # from the first "down" (1 h, not 5 h).
    assert two.failures == 2
    assert two.operating_h == pytest.approx(92.0)
    assert two.ttr_h == pytest.approx(4.0)
    assert two.mttr_h.value == pytest.approx(2.0)
    assert two.availability.value == pytest.approx(46.0 / 48.0)
    assert not one.ongoing_failure and not two.ongoing_failure


def test_tbf_is_the_same_cut_at_the_stop_start_or_at_the_failure(plant: Env) -> None:
    ids = [plant.machine(CNC1), plant.machine(CNC2)]
    with plant.db.session() as session:
        one, two = reliability.machines(
            session, machine_ids=ids, start_us=T0, end_us=END, now_us=END
        )
        states = reliability.load_states(
            session, machine_ids=ids, start_us=T0, end_us=END, now_us=END
        )
        bookings, _ = reliability.load_bookings(session, machine_ids=ids, start_us=T0, end_us=END)
    res = reliability.compute(states, 2, start_us=T0, end_us=END, now_us=END, bookings=bookings)
    assert res.failure_at.tolist() == [h(50), h(75), h(10), h(44)]
    assert res.failure_down.tolist() == [True, True, False, True]
    # Operating time between consecutive instants of failure, summed from the state spans.
    executing = states.state == oee.EXECUTING
    for i, r in enumerate((one, two)):
        spans = (states.machine == i) & executing
        edges = [T0, *res.failure_at[res.failure_machine == i].tolist()]
        between = [
            float(
                np.clip(
                    np.minimum(states.end[spans], b) - np.maximum(states.start[spans], a), 0, None
                ).sum()
            )
            / HOUR
            for a, b in pairwise(edges)
        ]
        assert r.tbf_h == pytest.approx(between)
    assert one.tbf_h == pytest.approx([10.0, 18.0])
    assert two.tbf_h == pytest.approx([10.0, 27.0])


def test_both_paths_agree(plant: Env) -> None:
    ids = [plant.machine(CNC1), plant.machine(CNC2)]
    with plant.db.session() as session:
        fast = reliability.fast_result(
            session, machine_ids=ids, start_us=T0, end_us=END, now_us=END
        )
        states = reliability.load_states(
            session, machine_ids=ids, start_us=T0, end_us=END, now_us=END
        )
        bookings, _ = reliability.load_bookings(session, machine_ids=ids, start_us=T0, end_us=END)
    full = reliability.compute(states, 2, start_us=T0, end_us=END, now_us=END, bookings=bookings)
    assert fast.ttr_h.tolist() == pytest.approx([3.0, 4.0])
    assert fast.ttr_h.tolist() == full.ttr_h.tolist()
    assert fast.failure_start.tolist() == full.failure_start.tolist()
    assert fast.failure_at.tolist() == full.failure_at.tolist()
    assert fast.failure_down.tolist() == full.failure_down.tolist()
    assert fast.tbf_h.tolist() == full.tbf_h.tolist()


def test_a_component_failure_is_repaired_from_the_instant_of_failure(plant: Env) -> None:
    with plant.db.session() as session:
        (spindle,) = reliability.components(session, start_us=T0, end_us=END, now_us=END)
    # The spindle's failure (corrective work linked to the 70-76 h stop) began with 5 h of
    # setup; the machine reported "down" at 75 h: TTR 1 h, not 6 h.
    assert spindle.failures == 1
    assert spindle.failure_starts_us == [h(70)]
    assert spindle.operating_h == pytest.approx(52.0)
    assert spindle.ttr_h == pytest.approx(1.0)
    assert spindle.mttr_h.value == pytest.approx(1.0)
    assert spindle.availability.value == pytest.approx(52.0 / 53.0)


def test_failure_records_carry_the_instant_ttr_is_measured_from(plant: Env) -> None:
    ids = [plant.machine(CNC1), plant.machine(CNC2)]
    with plant.db.session() as session:
        records = reliability.failure_records(
            session, machine_ids=ids, start_us=T0, end_us=END, now_us=END
        )
        kpis = reliability.machines(session, machine_ids=ids, start_us=T0, end_us=END, now_us=END)
    assert [(r.start_us, r.down_us) for r in records] == [
        (h(10), h(50)),
        (h(70), h(75)),
        (h(10), None),
        (h(40), h(44)),
    ]
    for mid, k in zip(ids, kpis, strict=True):
        mine = [r for r in records if r.machine_id == mid]
        ttr = sum(r.end_us - (r.start_us if r.down_us is None else r.down_us) for r in mine)
        assert ttr / HOUR == pytest.approx(k.ttr_h)


def test_an_ongoing_failure_counts_from_its_instant_up_to_now(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    # Idle from 10 h over the weekend, "down" since 50 h and still down at now = 60 h.
    env.states(cnc1, [("executing", h(0), h(10)), ("idle", h(10), h(50)), ("down", h(50), None)])
    now = h(60)
    with env.db.session() as session:
        (one,) = reliability.machines(
            session, machine_ids=[cnc1], start_us=T0, end_us=now, now_us=now
        )
        states = reliability.load_states(
            session, machine_ids=[cnc1], start_us=T0, end_us=now, now_us=now
        )
    assert one.failures == 1
    assert one.ongoing_failure
    assert one.ttr_h == pytest.approx(10.0)  # 50 h to now, not 10 h to now
    assert one.mttr_h.value == pytest.approx(10.0)
    assert one.availability.value == pytest.approx(10.0 / 20.0)
    full = reliability.compute(states, 1, start_us=T0, end_us=now, now_us=now)
    assert full.ttr_h.tolist() == [one.ttr_h]
    assert full.ongoing.tolist() == [True]


def _arrays(rows: list[tuple[str, float, float]]) -> reliability.StateArrays:
    return reliability.StateArrays(
        np.zeros(len(rows), dtype=np.int64),
        np.array([oee.STATE_CODES[r[0]] for r in rows], dtype=np.int8),
        np.array([h(r[1]) for r in rows], dtype=np.int64),
        np.array([h(r[2]) for r in rows], dtype=np.int64),
    )


def test_a_failure_is_placed_by_its_stop_start_not_its_instant() -> None:
    # Idle from -10 h, "down" at 5 h, restored at 6 h: the stop (the downtime event operators
    # book, by its start) began before the period [0 h, 20 h), so the failure is not counted
    # in it although its instant (5 h) is inside; its executing time after it is.
    states = _arrays(
        [("executing", -20, -10), ("idle", -10, 5), ("down", 5, 6), ("executing", 6, 20)]
    )
    res = reliability.compute(states, 1, start_us=h(0), end_us=h(20), now_us=h(20))
    assert res.failures.tolist() == [0]
    assert res.operating_h.tolist() == pytest.approx([14.0])
    # Over a period containing the whole stop it is one failure with TTR 1 h.
    whole = reliability.compute(states, 1, start_us=h(-20), end_us=h(20), now_us=h(20))
    assert whole.failures.tolist() == [1]
    assert whole.failure_start.tolist() == [h(-10)]
    assert whole.failure_at.tolist() == [h(5)]
    assert whole.ttr_h.tolist() == pytest.approx([1.0])
