"""PM plans and generation: outage catch-up exactly once, fixed vs floating calendars, holidays,
skip rules, lead time, ANY/ALL, class plans, checklists and evidence (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select

from ifactory.core.bus import EventBus
from ifactory.core.clock import from_datetime
from ifactory.core.errors import InvalidInput
from ifactory.maintenance import pm
from ifactory.maintenance import service as work_orders
from ifactory.maintenance.models import WorkOrderTask
from ifactory.maintenance.pm_models import PMOccurrence
from tests.maintenance.pm_support import CNC1, DAY, HOUR, MIN, MONDAY_06H_US, WEEK, Env, env

__all__ = ["env"]
BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = {"kind": "calendar", "every": 7, "unit": "days", "mode": "fixed"}


def local(y: int, m: int, d: int, h: int = 6) -> int:
    """Site-local wall time (Europe/Berlin) as UTC µs."""
    return from_datetime(datetime(y, m, d, h, tzinfo=BERLIN))


def generator(env: Env) -> pm.PMGenerator:
    """A generator service as the platform runs it (a fresh instance = a restart)."""
    platform = SimpleNamespace(
        db=env.db,
        registry=env.registry,
        store=env.store,
        clock=env.clock,
        bus=EventBus(),
        relay=SimpleNamespace(notify=lambda: None),
    )
    return pm.PMGenerator(platform, every_s=3600)


def complete(env: Env, work_order_id: int, at_us: int) -> None:
    """Take a work order through its lifecycle to completed at `at_us`."""
    with env.db.session() as session:
        for state in ("scheduled", "in_progress", "completed"):
            work_orders.transition(
                session, work_order_id=work_order_id, to=state, actor="tech", now_us=at_us
            )


def test_plan_due_during_an_outage_is_generated_exactly_once_after_restart(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    plan_id = env.create_plan(name="Lubricate ways", machine_id=cnc1, triggers=[WEEKLY])
    first = generator(env)
    first.start()
    first.stop()
    assert env.work_orders(plan_id) == []  # nothing due in the first week

    # The platform is down while the plan falls due (day 7) and stays down until day 10.
    env.clock.set(MONDAY_06H_US + 10 * DAY)
    restarted = generator(env)
    restarted.start()  # the catch-up pass runs at start
    restarted.stop()
    again = generator(env)
    again.run_once()  # a second restart, or a replayed pass: nothing new
    restarted.run_once()

    wos = env.work_orders(plan_id)
    assert len(wos) == 1
    assert wos[0].due_us == MONDAY_06H_US + WEEK
    assert wos[0].source_key == f"pm:{plan_id}:m{cnc1}-1"
    assert wos[0].type == "preventive" and wos[0].state == "approved"
    with env.db.session() as session:
        occ = session.scalars(select(PMOccurrence).where(PMOccurrence.plan_id == plan_id)).all()
    assert [(o.seq, o.status, o.work_order_id) for o in occ] == [(1, "generated", wos[0].id)]


def test_every_missed_fixed_point_is_raised_once_with_its_own_due_date(env: Env) -> None:
    plan_id = env.create_plan(name="Check guards", machine_id=env.machine(CNC1), triggers=[WEEKLY])
    env.clock.set(MONDAY_06H_US + 22 * DAY)  # three weekly points passed while stopped
    result = env.generate()
    assert (result.generated, result.conflicts) == (3, 0)
    assert env.generate().generated == 0
    dues = [w.due_us for w in env.work_orders(plan_id)]
    assert dues == [MONDAY_06H_US + k * WEEK for k in (1, 2, 3)]


def test_fixed_keeps_its_grid_and_floating_counts_from_completion(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    fixed = env.create_plan(name="fixed", machine_id=cnc1, triggers=[WEEKLY])
    floating = env.create_plan(
        name="floating", machine_id=cnc1, triggers=[{**WEEKLY, "mode": "floating"}]
    )
    env.clock.set(MONDAY_06H_US + 8 * DAY)
    assert env.generate().generated == 2
    env.clock.set(MONDAY_06H_US + 15 * DAY)
    env.generate()
    # The floating plan waits for its open work order; the fixed one follows its grid.
    assert len(env.work_orders(fixed)) == 2
    assert len(env.work_orders(floating)) == 1

    done_at = MONDAY_06H_US + 10 * DAY  # completed three days late
    complete(env, env.work_orders(floating)[0].id, done_at)
    env.generate()
    assert len(env.work_orders(floating)) == 1  # next due: completion + 7 d = day 17
    env.clock.set(MONDAY_06H_US + 17 * DAY + MIN)
    env.generate()
    floating_wos = env.work_orders(floating)
    assert [w.due_us for w in floating_wos] == [MONDAY_06H_US + WEEK, done_at + WEEK]
    assert [w.due_us for w in env.work_orders(fixed)] == [
        MONDAY_06H_US + WEEK,
        MONDAY_06H_US + 2 * WEEK,
    ]


def test_holidays_move_the_due_date_to_the_next_working_day_and_keep_the_grid(env: Env) -> None:
    # Weekly from Thursday 17 Dec: 24 Dec is a site holiday (so are 25 and 26 Dec; Sunday
    # 27 Dec has no shift): the job moves to Monday 28 Dec. 31 Dec and 1 Jan are holidays:
    # that job moves to Saturday 2 Jan (the early shift works Saturdays).
    env.clock.set(local(2026, 12, 17))
    plan_id = env.create_plan(
        name="weekly", machine_id=env.machine(CNC1), start_us=local(2026, 12, 17), triggers=[WEEKLY]
    )
    env.clock.set(local(2027, 1, 5))
    env.generate()
    wos = env.work_orders(plan_id)
    assert [w.due_us for w in wos] == [local(2026, 12, 28), local(2027, 1, 2)]
    with env.db.session() as session:
        occ = session.scalars(
            select(PMOccurrence).where(PMOccurrence.plan_id == plan_id).order_by(PMOccurrence.seq)
        ).all()
    assert [o.nominal_us for o in occ] == [local(2026, 12, 24), local(2026, 12, 31)]


def test_a_plan_holiday_list_and_the_ignore_rule(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    moved = env.create_plan(
        name="moved", machine_id=cnc1, holidays=["2026-11-30"], triggers=[WEEKLY]
    )
    kept = env.create_plan(
        name="kept",
        machine_id=cnc1,
        holidays=["2026-11-30"],
        holiday_rule="ignore",
        triggers=[WEEKLY],
    )
    env.clock.set(MONDAY_06H_US + 9 * DAY)
    env.generate()
    assert [w.due_us for w in env.work_orders(moved)] == [MONDAY_06H_US + 8 * DAY]
    assert [w.due_us for w in env.work_orders(kept)] == [MONDAY_06H_US + 7 * DAY]


def test_every_third_occurrence_is_skipped_and_recorded(env: Env) -> None:
    daily = {"kind": "calendar", "every": 1, "unit": "days", "mode": "fixed"}
    plan_id = env.create_plan(
        name="daily", machine_id=env.machine(CNC1), skip_every=3, triggers=[daily]
    )
    env.clock.set(MONDAY_06H_US + 7 * DAY + MIN)
    result = env.generate()
    assert (result.generated, result.skipped) == (5, 2)
    with env.db.session() as session:
        occ = session.scalars(
            select(PMOccurrence).where(PMOccurrence.plan_id == plan_id).order_by(PMOccurrence.seq)
        ).all()
    assert [o.status for o in occ] == ["generated", "generated", "skipped"] * 2 + ["generated"]
    assert all(o.work_order_id is None for o in occ if o.status == "skipped")
    assert [w.due_us for w in env.work_orders(plan_id)] == [
        MONDAY_06H_US + k * DAY for k in (1, 2, 4, 5, 7)
    ]


def test_lead_time_raises_the_work_order_before_the_due_point(env: Env) -> None:
    plan_id = env.create_plan(
        name="lead", machine_id=env.machine(CNC1), lead_time_s=2 * 86_400, triggers=[WEEKLY]
    )
    env.clock.set(MONDAY_06H_US + 5 * DAY - MIN)
    assert env.generate().generated == 0
    env.clock.set(MONDAY_06H_US + 5 * DAY)
    assert env.generate().generated == 1
    assert env.work_orders(plan_id)[0].due_us == MONDAY_06H_US + WEEK


def _counter(env: Env, per_hour: float, hours: int) -> None:
    """cnc1 executing from the start, its cycle counter growing `per_hour`."""
    cnc1 = env.machine(CNC1)
    env.states(cnc1, [("executing", MONDAY_06H_US, None)])
    ts = MONDAY_06H_US + np.arange(0, hours * 6 + 1) * 10 * MIN
    env.write(env.tag(CNC1, "cycle_count"), ts, np.arange(len(ts)) * per_hour / 6)


@pytest.mark.parametrize("how", ["any", "all"])
def test_any_fires_on_the_first_trigger_all_waits_for_every_trigger(env: Env, how: str) -> None:
    _counter(env, per_hour=6, hours=8 * 24)  # 144 cycles a day
    plan_id = env.create_plan(
        name="combined",
        machine_id=env.machine(CNC1),
        combine=how,
        triggers=[WEEKLY, {"kind": "meter", "meter": "cycles", "mode": "every", "value": 300}],
    )
    env.clock.set(MONDAY_06H_US + 2 * DAY + 4 * HOUR)  # 300 cycles after 50 h, 312 now
    env.generate()
    wos = env.work_orders(plan_id)
    if how == "any":
        assert len(wos) == 1
        fired = wos[0].evidence["triggers"]
        assert [t["trigger"] for t in fired] == ["meter"]
        assert fired[0]["reading"] == pytest.approx(312, abs=1)
        assert fired[0]["target"] == pytest.approx(300)
    else:
        assert wos == []
        env.clock.set(MONDAY_06H_US + WEEK + MIN)
        env.generate()
        wos = env.work_orders(plan_id)
        assert len(wos) == 1
        assert {t["trigger"] for t in wos[0].evidence["triggers"]} == {"calendar", "meter"}
        # ALL: due when the last trigger is (the meter, seen passed at this pass).
        assert wos[0].due_us == env.clock.now_us()


def test_a_class_plan_applies_to_every_machine_of_the_class_with_its_checklist(env: Env) -> None:
    plan_id = env.create_plan(
        name="Spindle inspection",
        equipment_class="cnc_mill",
        tasks=[
            "Check spindle runout",
            {
                "description": "Coolant concentration",
                "kind": "measurement",
                "unit": "%",
                "lower": 5,
                "upper": 8,
            },
        ],
        triggers=[WEEKLY],
    )
    env.clock.set(MONDAY_06H_US + WEEK + MIN)
    env.generate()
    wos = env.work_orders(plan_id)
    assert sorted(w.machine_id for w in wos) == sorted(
        m.id for m in env.registry.machines() if m.equipment_class == "cnc_mill"
    )
    with env.db.session() as session:
        tasks = session.scalars(
            select(WorkOrderTask).where(WorkOrderTask.work_order_id == wos[0].id)
        ).all()
    assert [(t.description, t.kind, t.lower, t.upper) for t in tasks] == [
        ("Check spindle runout", "check", None, None),
        ("Coolant concentration", "measurement", 5.0, 8.0),
    ]
    assert wos[0].evidence["plan_id"] == plan_id
    assert wos[0].evidence["triggers"][0]["grid_index"] == 1


def test_next_due_and_bad_plans(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    plan_id = env.create_plan(name="weekly", machine_id=cnc1, triggers=[WEEKLY])
    with env.db.session() as session:
        plan = pm.get_plan(session, plan_id=plan_id)
        due = pm.next_due(
            session, registry=env.registry, store=env.store, now_us=env.clock.now_us(), plans=[plan]
        )
    assert [(d.machine_id, d.seq, d.due_us) for d in due] == [(cnc1, 1, MONDAY_06H_US + WEEK)]
    with pytest.raises(InvalidInput, match="has no tag 'oil_pressure'"):
        env.create_plan(
            name="bad",
            machine_id=cnc1,
            triggers=[{"kind": "condition", "tag_name": "oil_pressure", "limit": 3}],
        )
    with pytest.raises(InvalidInput, match="no machine of equipment class"):
        env.create_plan(name="bad", equipment_class="lathe", triggers=[WEEKLY])
    line = env.registry.nodes_by_key["acme/springfield/machining/machining_line"].id
    with pytest.raises(InvalidInput, match="not a machine"):
        env.create_plan(name="bad", machine_id=line, triggers=[WEEKLY])


def test_monthly_plans_step_in_wall_clock_time(env: Env) -> None:
    # From 31 Oct: 30 Nov, 31 Dec (the day is clamped to the month), 06:00 local across DST.
    start = local(2026, 10, 31)
    env.clock.set(start)
    plan_id = env.create_plan(
        name="monthly",
        machine_id=env.machine(CNC1),
        start_us=start,
        holiday_rule="ignore",
        triggers=[{"kind": "calendar", "every": 1, "unit": "months", "mode": "fixed"}],
    )
    env.clock.set(local(2027, 1, 1, 12))
    env.generate()
    assert [w.due_us for w in env.work_orders(plan_id)] == [
        local(2026, 11, 30),
        local(2026, 12, 31),
    ]
    assert date(2026, 12, 31) in {
        datetime.fromtimestamp(w.due_us / 1e6, BERLIN).date() for w in env.work_orders(plan_id)
    }


def test_an_asset_plan_follows_the_asset_to_its_machine(env: Env) -> None:
    from ifactory.maintenance.models import Asset

    cnc1, cnc2 = env.machine(CNC1), env.machine("acme/springfield/machining/machining_line/cnc2")
    with env.db.session() as session:
        pump = Asset(code="HP-7", name="Coolant pump", kind="pump", machine_id=cnc1)
        session.add(pump)
        session.flush()
        pump_id = pump.id
    plan_id = env.create_plan(name="Pump service", asset_id=pump_id, triggers=[WEEKLY])
    env.clock.set(MONDAY_06H_US + WEEK + MIN)
    env.generate()
    with env.db.session() as session:
        session.get_one(Asset, pump_id).machine_id = cnc2  # swapped into cnc2
    env.clock.set(MONDAY_06H_US + 2 * WEEK + MIN)
    env.generate()
    wos = env.work_orders(plan_id)
    assert [(w.machine_id, w.asset_id) for w in wos] == [(cnc1, pump_id), (cnc2, pump_id)]


def test_new_triggers_continue_after_the_last_occurrence(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    plan_id = env.create_plan(name="weekly", machine_id=cnc1, triggers=[WEEKLY])
    env.clock.set(MONDAY_06H_US + 3 * WEEK + MIN)
    assert env.generate().generated == 3
    with env.db.session() as session:
        plan = pm.get_plan(session, plan_id=plan_id)
        pm.update_plan(
            session, plan=plan, changes={"triggers": [{**WEEKLY, "every": 14}]}, user="planner"
        )
    # The grid is the plan's (from its start); the next point after the last occurrence
    # (week 3) is week 4: nothing is raised again for the weeks already done.
    assert env.generate().generated == 0
    env.clock.set(MONDAY_06H_US + 4 * WEEK + MIN)
    env.generate()
    assert [w.due_us for w in env.work_orders(plan_id)][-1] == MONDAY_06H_US + 4 * WEEK
    assert len(env.work_orders(plan_id)) == 4


def test_two_generators_at_the_same_time_raise_each_occurrence_once(env: Env) -> None:
    if not env.db.url.startswith("postgresql"):
        pytest.skip("one embedded process writes to SQLite; concurrent generators need PostgreSQL")
    import threading

    cnc1 = env.machine(CNC1)
    ids = [env.create_plan(name=f"plan {i}", machine_id=cnc1, triggers=[WEEKLY]) for i in range(5)]
    env.clock.set(MONDAY_06H_US + 2 * WEEK + MIN)
    results: list[pm.GenerationResult] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(env.generate())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(r.generated for r in results) == 10  # 5 plans x 2 weeks, once each
    assert sorted(len(env.work_orders(i)) for i in ids) == [2] * 5
