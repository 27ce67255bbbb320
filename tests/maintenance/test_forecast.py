"""Forecast of PM work: exact calendar points, meter projections, placement into planned stops."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from ifactory.core.clock import from_datetime
from ifactory.maintenance import forecast, pm
from tests.maintenance.pm_support import CNC1, DAY, HOUR, MIN, MONDAY_06H_US, WEEK, Env, env

__all__ = ["env"]
BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = {"kind": "calendar", "every": 7, "unit": "days", "mode": "fixed"}


def local(y: int, m: int, d: int, h: int, minute: int = 0) -> int:
    return from_datetime(datetime(y, m, d, h, minute, tzinfo=BERLIN))


def jobs(env: Env, weeks: int = 4) -> list[forecast.Job]:
    with env.db.session() as session:
        plans = pm.get_all_plans(session, active=True)
        return forecast.forecast(
            session,
            registry=env.registry,
            store=env.store,
            now_us=env.clock.now_us(),
            weeks=weeks,
            plans=plans,
        )


def test_calendar_jobs_are_exact_and_placed_into_the_weekend_stop(env: Env) -> None:
    env.create_plan(
        name="Weekly service", machine_id=env.machine(CNC1), duration_s=7200, triggers=[WEEKLY]
    )
    got = jobs(env)
    assert [j.due_us for j in got] == [MONDAY_06H_US + k * WEEK for k in (1, 2, 3)]
    first = got[0]
    # Due Monday 30 Nov 06:00; the machine does not produce from Saturday 14:00 (the end of
    # the Saturday early shift) until Monday 06:00: the job goes there.
    assert first.placement == forecast.PLACED
    assert (first.slot_start_us, first.slot_end_us) == (
        local(2026, 11, 28, 14),
        local(2026, 11, 28, 16),
    )
    assert not first.projected and first.trigger == "calendar"


def test_a_job_longer_than_every_stop_is_flagged(env: Env) -> None:
    env.create_plan(
        name="Rebuild", machine_id=env.machine(CNC1), duration_s=3 * 86_400, triggers=[WEEKLY]
    )
    got = jobs(env, weeks=2)
    assert {j.placement for j in got} == {forecast.NO_STOP}
    assert all(j.slot_start_us is None for j in got)


def test_two_jobs_do_not_share_the_same_stop_time(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    for name in ("A", "B"):
        env.create_plan(name=name, machine_id=cnc1, duration_s=30 * 3600, triggers=[WEEKLY])
    first_week = [j for j in jobs(env, weeks=2) if j.seq == 1]
    assert [j.placement for j in first_week] == [forecast.PLACED, forecast.NO_STOP]
    # The first took 30 of the weekend's 40 hours; 10 are left, too few for the second.
    assert first_week[0].slot_end_us == local(2026, 11, 28, 14) + 30 * HOUR


def test_skipped_occurrences_are_shown_as_skipped(env: Env) -> None:
    env.create_plan(name="weekly", machine_id=env.machine(CNC1), skip_every=2, triggers=[WEEKLY])
    got = jobs(env)
    assert [(j.seq, j.skipped, j.placement) for j in got] == [
        (1, False, forecast.PLACED),
        (2, True, forecast.SKIPPED),
        (3, False, forecast.PLACED),
    ]


def test_meter_jobs_are_projected_from_the_recent_rate(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    start = MONDAY_06H_US - 2 * DAY
    env.states(cnc1, [("executing", start, None)])
    ts = start + np.arange(0, 2 * 24 * 6 + 1) * 10 * MIN
    env.write(env.tag(CNC1, "cycle_count"), ts, np.arange(len(ts)))  # 6 cycles an hour
    env.clock.set(MONDAY_06H_US + MIN)
    env.create_plan(
        name="Every 500 cycles",
        machine_id=cnc1,
        start_us=start,
        triggers=[{"kind": "meter", "meter": "cycles", "mode": "every", "value": 500}],
    )
    got = jobs(env, weeks=1)
    # 288 cycles in 48 h (6 an hour): 500 at 83.3 h, 1000 at 166.7 h after the start.
    assert all(j.projected and j.trigger == "meter" for j in got)
    expected = [start + round(500 / 6 * HOUR), start + round(1000 / 6 * HOUR)]
    assert [j.due_us for j in got] == pytest.approx(expected, abs=15 * MIN)
