"""MTBF, MTTR and availability from operating time against hand-computed state sequences; the
failure definition; components; PM compliance, planned ratio, backlog and age."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ifactory.core.clock import to_datetime
from ifactory.maintenance import reliability
from ifactory.maintenance import service as work_orders
from ifactory.maintenance.models import Asset, AssetInstallation, LabourEntry, WorkOrderDowntime
from ifactory.production import downtime as production_downtime
from ifactory.production import oee
from ifactory.production.models import DowntimeEvent
from tests.maintenance.pm_support import CNC1, CNC2, HOUR, MONDAY_06H_US, Env, env

__all__ = ["env"]
T0 = MONDAY_06H_US
END = T0 + 100 * HOUR


def h(x: float) -> int:
    return T0 + int(x * HOUR)


# cnc1, hours from T0 (period [0 h, 100 h)):
#   0-20 executing            operating 20
#  20-22 down                 failure 1 (not booked, the machine said "down"): TTR 2
#  22-40 executing            operating 18
#  40-41 setup                a stop, not a failure (no "down", not booked)
#  41-60 executing            operating 19
#  60-61 idle, 61-64 down     one stop with "down": failure 2, TTR 3 (from the failure, the
#                             first "down" at 61 h, to 64 h: the idle hour is not repair time)
#  64-80 executing            operating 16
#  80-81 unknown              no data: neither operating nor a failure
#  81-90 executing            operating 9
#  90-93 down, booked PLN-PM  planned: not a failure
#  93-100 executing           operating 7
# operating = 20 + 18 + 19 + 16 + 9 + 7 = 89 h; failures = 2; TTR = 2 + 3 = 5 h
# MTBF = 89 / 2 = 44.5 h; MTTR = 5 / 2 = 2.5 h; availability = 44.5 / (44.5 + 2.5) = 0.946808...
# TBF: 20 h (start to failure 1), 18 + 19 = 37 h (failure 1 to failure 2)
CNC1_SPANS = [
    ("executing", 0, 20),
    ("down", 20, 22),
    ("executing", 22, 40),
    ("setup", 40, 41),
    ("executing", 41, 60),
    ("idle", 60, 61),
    ("down", 61, 64),
    ("executing", 64, 80),
    ("unknown", 80, 81),
    ("executing", 81, 90),
    ("down", 90, 93),
    ("executing", 93, 100),
]
# cnc2:
#   0-10 executing            operating 10
#  10-12 idle, booked BRK-ELEC failure (breakdown reason): TTR 2
#  12-30 executing            operating 18
#  30-31 idle + corrective WO failure (a corrective work order on the spindle is linked): TTR 1
#  31-50 executing            operating 19
#  50-   executing (open)     operating 50 until now (100 h)
# operating = 97 h; failures = 2; TTR = 3 h; MTBF = 48.5 h; MTTR = 1.5 h
CNC2_SPANS = [
    ("executing", 0, 10),
    ("idle", 10, 12),
    ("executing", 12, 30),
    ("idle", 30, 31),
    ("executing", 31, 50),
    ("executing", 50, None),
]


def _write(env: Env, key: str, spans: list[tuple[str, float, float | None]]) -> int:
    mid = env.machine(key)
    env.states(mid, [(s, h(a), None if b is None else h(b)) for s, a, b in spans])
    return mid


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
    cnc1 = _write(env, CNC1, CNC1_SPANS)
    cnc2 = _write(env, CNC2, CNC2_SPANS)
    _downtime(env, cnc1, 90, 93, "PLN-PM")
    _downtime(env, cnc2, 10, 12, "BRK-ELEC")
    stop = _downtime(env, cnc2, 30, 31, None)
    with env.db.session() as session:
        spindle = Asset(code="SP-1", name="Spindle", kind="spindle", machine_id=cnc2)
        session.add(spindle)
        session.flush()
        session.add(
            AssetInstallation(
                asset_id=spindle.id,
                machine_id=cnc2,
                installed_at=to_datetime(h(20)),
                installed_by="tech",
            )
        )
        wo = work_orders.create_work_order(
            session,
            machine_id=cnc2,
            type="corrective",
            title="Spindle seized",
            actor="operator",
            asset_id=spindle.id,
            now_us=h(30),
        )
        session.add(WorkOrderDowntime(work_order_id=wo.id, downtime_id=stop, linked_by="tech"))
    env.clock.set(END)
    return env


def test_mtbf_mttr_per_machine_against_hand_computed_values(plant: Env) -> None:
    ids = [plant.machine(CNC1), plant.machine(CNC2)]
    with plant.db.session() as session:
        got = reliability.machines(session, machine_ids=ids, start_us=T0, end_us=END, now_us=END)
    one, two = got
    assert one.operating_h == pytest.approx(89.0)
    assert one.failures == 2
    assert one.ttr_h == pytest.approx(5.0)
    assert one.mtbf_h.value == pytest.approx(44.5)
    assert one.mttr_h.value == pytest.approx(2.5)
    assert one.availability.value == pytest.approx(44.5 / 47.0)
    assert one.tbf_h == pytest.approx([20.0, 37.0])
    assert one.failure_starts_us == [h(20), h(60)]

    assert two.operating_h == pytest.approx(97.0)
    assert two.failures == 2
    assert two.mtbf_h.value == pytest.approx(48.5)
    assert two.mttr_h.value == pytest.approx(1.5)
    assert two.failure_starts_us == [h(10), h(30)]
    assert not one.ongoing_failure and not two.ongoing_failure


def test_a_component_gets_operating_time_and_failures_while_installed(plant: Env) -> None:
    with plant.db.session() as session:
        (spindle,) = reliability.components(session, start_us=T0, end_us=END, now_us=END)
    # Installed at 20 h: operating 20-30 (10) + 31-50 (19) + 50-100 (50) = 79 h; one failure
    # (30 h, linked through the corrective work order on the spindle), TTR 1 h. The 10 h
    # breakdown happened before the spindle was fitted and is not the spindle's.
    assert spindle.operating_h == pytest.approx(79.0)
    assert spindle.failures == 1
    assert spindle.mtbf_h.value == pytest.approx(79.0)
    assert spindle.mttr_h.value == pytest.approx(1.0)
    assert spindle.availability.value == pytest.approx(79 / 80)


def test_no_failure_is_not_applicable_not_zero(plant: Env) -> None:
    with plant.db.session() as session:
        (one,) = reliability.machines(
            session, machine_ids=[plant.machine(CNC1)], start_us=h(93), end_us=END, now_us=END
        )
    assert one.operating_h == pytest.approx(7.0)
    assert one.failures == 0
    assert one.mtbf_h.value is None and "no failure" in (one.mtbf_h.reason or "")


def _arrays(rows: list[tuple[int, str, float, float]]) -> reliability.StateArrays:
    return reliability.StateArrays(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([oee.STATE_CODES[r[1]] for r in rows], dtype=np.int8),
        np.array([h(r[2]) for r in rows], dtype=np.int64),
        np.array([h(r[3]) for r in rows], dtype=np.int64),
    )


def test_period_edges_and_ongoing_failures() -> None:
    # Machine 0: a failure that began before the period (at -1 h) is not counted, though its
    # executing time inside is. Machine 1: a failure still going on at "now" (10 h) counts
    # with TTR up to now and is flagged.
    states = _arrays(
        [
            (0, "down", -1, 1),
            (0, "executing", 1, 10),
            (1, "executing", 0, 6),
            (1, "down", 6, 10),
        ]
    )
    res = reliability.compute(states, 2, start_us=T0, end_us=h(10), now_us=h(10))
    assert res.operating_h.tolist() == pytest.approx([9.0, 6.0])
    assert res.failures.tolist() == [0, 1]
    assert res.ttr_h.tolist() == pytest.approx([0.0, 4.0])
    assert res.ongoing.tolist() == [False, True]


def test_maintenance_kpis(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    wall_now = int(datetime.now(UTC).timestamp() * 1e6)
    start, end = wall_now - 10 * 24 * HOUR, wall_now + 10 * 24 * HOUR
    with env.db.session() as session:

        def wo(kind: str, due: int | None, hours: float | None, pm: bool = True) -> int:
            return work_orders.create_work_order(
                session,
                machine_id=cnc1,
                type=kind,
                title=kind,
                actor="planner",
                due_us=due,
                pm_plan_id=1 if pm else None,
                estimated_hours=hours,
                state="scheduled",
                now_us=wall_now,
            ).id

        on_time = wo("preventive", wall_now - 2 * HOUR, 2.0)
        late = wo("preventive", wall_now - 5 * HOUR, 1.0)
        wo("preventive", wall_now - HOUR, 3.0)  # due, still open
        repair = wo("corrective", None, None, pm=False)
        for wid, done in ((on_time, wall_now - 3 * HOUR), (late, wall_now - HOUR)):
            for state in ("in_progress", "completed"):
                work_orders.transition(session, work_order_id=wid, to=state, actor="t", now_us=done)
        today = datetime.fromtimestamp(wall_now / 1e6, UTC).date().isoformat()
        for wid, hours in ((on_time, 2.0), (late, 1.0), (repair, 1.0)):
            session.add(
                LabourEntry(
                    work_order_id=wid,
                    username="t",
                    hours=hours,
                    rate=50.0,
                    work_date=today,
                    entered_by="t",
                )
            )
    with env.db.session() as session:
        k = reliability.maintenance_kpis(
            session, start_us=start, end_us=end, now_us=wall_now + 2 * 24 * HOUR
        )
    assert (k.pm_due, k.pm_on_time) == (3, 1)
    assert k.pm_compliance.value == pytest.approx(1 / 3)
    assert (k.planned_h, k.unplanned_h) == (pytest.approx(3.0), pytest.approx(1.0))
    assert k.planned_ratio.value == pytest.approx(0.75)
    assert k.backlog_count == 2  # the open PM job and the repair
    assert k.backlog_estimated_h == pytest.approx(3.0)
    assert k.backlog_without_estimate == 1
    assert k.mean_age_days.value == pytest.approx(2.0, abs=0.01)


def _random_history(
    rng: np.random.Generator, start: int, end: int
) -> list[tuple[str, int, int | None]]:
    """Spans with gaps, long multi-day stops (some idle or in setup for days, then 'down': the
    instant of failure deep inside the stop), and an open last span."""
    spans: list[tuple[str, int, int | None]] = []
    t = start
    while t < end:
        long_stop = rng.random() < 0.08
        state = str(
            rng.choice(["idle", "setup", "down", "maintenance"])
            if long_stop
            else rng.choice(
                ["executing", "idle", "setup", "down", "unknown"], p=[0.5, 0.2, 0.1, 0.1, 0.1]
            )
        )
        length = (
            int(rng.uniform(2, 30) * 24 * HOUR) if long_stop else int(rng.uniform(0.1, 9) * HOUR)
        )
        if long_stop and state in ("idle", "setup") and rng.random() < 0.5:
            # A weekend-like stop: idle for days, then the machine reports itself down.
            down = int(rng.uniform(0.2, 12) * HOUR)
            spans.append((state, t, t + length))
            spans.append(("down", t + length, t + length + down))
            length += down
        else:
            spans.append((state, t, t + length))
        t += length + (int(rng.uniform(0.1, 2) * HOUR) if rng.random() < 0.05 else 0)
    last_state, last_start, _ = spans[-1]
    spans[-1] = (last_state, last_start, None)
    return spans


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_machines_equals_compute_on_the_whole_history(env: Env, seed: int) -> None:
    # `machines` reads only the spans around failure candidates and lets the database sum the
    # operating time; it must give exactly what `compute` gives on the full history, also with
    # stops lasting weeks (longer than the reading windows) and one across the period start.
    rng = np.random.default_rng(seed)
    start, now = T0, T0 + 200 * 24 * HOUR
    ids = [env.machine(CNC1), env.machine(CNC2)]
    with env.db.session() as session:
        reasons = production_downtime.reason_tree(session)
    breakdown = sorted(c for c, r in reasons.items() if r.loss == reliability.FAILURE_LOSS)
    other = sorted(c for c, r in reasons.items() if r.loss not in (None, reliability.FAILURE_LOSS))
    for mid in ids:
        spans = _random_history(rng, start - 40 * 24 * HOUR, now - HOUR)
        env.states(mid, spans)
        with env.db.session() as session:
            for state, a, b in spans:
                if state in ("executing", "unknown") or rng.random() < 0.5:
                    continue
                at = a if rng.random() < 0.9 else a + HOUR  # some bookings miss a stop start
                code = str(rng.choice(breakdown if rng.random() < 0.3 else other))
                session.add(
                    DowntimeEvent(machine_id=mid, start_us=at, end_us=b or now, reason_code=code)
                )
    period_start = start + int(rng.uniform(0, 10) * 24 * HOUR)
    for end in (now, now + 5 * 24 * HOUR, period_start + 60 * 24 * HOUR):
        with env.db.session() as session:
            got = reliability.machines(
                session, machine_ids=ids, start_us=period_start, end_us=end, now_us=now
            )
            clipped = min(end, now)
            states = reliability.load_states(
                session, machine_ids=ids, start_us=period_start, end_us=clipped, now_us=now
            )
            bookings, _ = reliability.load_bookings(
                session, machine_ids=ids, start_us=period_start, end_us=clipped
            )
            fast = reliability.fast_result(
                session, machine_ids=ids, start_us=period_start, end_us=clipped, now_us=now
            )
        want = reliability.compute(
            states, 2, start_us=period_start, end_us=clipped, now_us=now, bookings=bookings
        )
        assert sum(r.failures for r in got) > 0
        # Stops that began long before their failure are in the history, and both paths put
        # the instant of failure (TTR from there) at the same first "down".
        assert (want.failure_at - want.failure_start > 24 * HOUR).any()
        assert fast.failure_at.tolist() == want.failure_at.tolist()
        assert fast.failure_down.tolist() == want.failure_down.tolist()
        # No operating time between a stop's start and its instant of failure: TBF cut at
        # either is the same.
        executing = states.state == oee.EXECUTING
        for m, a, b in zip(want.failure_machine, want.failure_start, want.failure_at, strict=True):
            sel = executing & (states.machine == m) & (states.start < b) & (states.end > a)
            assert not sel.any()
        for i, r in enumerate(got):
            sel = want.failure_machine == i
            assert r.operating_h == float(want.operating_h[i])
            assert r.failures == int(want.failures[i])
            assert r.ttr_h == float(want.ttr_h[i])
            assert r.ongoing_failure == bool(want.ongoing[i])
            assert r.failure_starts_us == want.failure_start[sel].tolist()
            assert r.tbf_h == want.tbf_h[sel].tolist()
