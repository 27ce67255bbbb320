"""Meters and meter/condition triggers from real historian points and state history."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from sqlalchemy import select

from ifactory.core.events import Event
from ifactory.maintenance import meters, pm
from ifactory.maintenance.pm_models import PMMeterReading
from tests.maintenance.pm_support import (
    CNC1,
    COMPRESSOR,
    HOUR,
    MIN,
    MONDAY_06H_US,
    PRESS1,
    Env,
    S,
    env,
)
from tests.maintenance.test_pm import complete

__all__ = ["env"]
T0 = MONDAY_06H_US


def reader(env: Env) -> meters.MeterReader:
    """A meter reader at the clock's time, on a fresh session."""
    session = env.db.sessions()
    return meters.MeterReader(session, env.registry, env.store, env.clock.now_us())


def test_run_hours_count_executing_time_only(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    env.states(
        cnc1,
        [
            ("executing", T0, T0 + 2 * HOUR),  # 2 h
            ("idle", T0 + 2 * HOUR, T0 + 3 * HOUR),
            ("executing", T0 + 3 * HOUR, T0 + 3 * HOUR + 30 * MIN),  # 0.5 h
            ("down", T0 + 3 * HOUR + 30 * MIN, T0 + 5 * HOUR),
            ("unknown", T0 + 5 * HOUR, T0 + 6 * HOUR),
            ("executing", T0 + 6 * HOUR, None),  # open: 1 h until now
        ],
    )
    env.clock.set(T0 + 7 * HOUR)
    r = reader(env)
    assert r.current(cnc1, "run_hours") == pytest.approx(3.5)
    assert r.reading_at(cnc1, "run_hours", T0 + 150 * MIN) == pytest.approx(2.0)
    r.session.close()

    # The hour meter is set by hand to 12 000 h at 4 h: later readings continue from there.
    with env.db.session() as session:
        meters.record_reading(
            session,
            machine_id=cnc1,
            meter="run_hours",
            value=12_000,
            at_us=T0 + 4 * HOUR,
            user="planner",
        )
    r = reader(env)
    assert r.current(cnc1, "run_hours") == pytest.approx(12_001.0)
    assert r.reading_at(cnc1, "run_hours", T0 + 3 * HOUR) == pytest.approx(12_000 - 0.5)
    r.session.close()


def test_cycles_come_from_the_counter_across_a_rollover(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    env.states(cnc1, [("executing", T0, None)])
    # A 16-bit counter: 65 500 -> 65 535 -> wraps to 0 -> 100: 35 + 1 + 100 = 136 cycles.
    ts = [T0 + 1 * MIN, T0 + 10 * MIN, T0 + 20 * MIN, T0 + 30 * MIN]
    env.write(env.tag(CNC1, "cycle_count"), ts, [65_500, 65_535, 0, 100])
    env.clock.set(T0 + HOUR)
    r = reader(env)
    assert r.current(cnc1, "cycles") == pytest.approx(136)
    assert r.increase(cnc1, "cycles", T0 + 15 * MIN, T0 + HOUR) == pytest.approx(101)
    r.session.close()


def test_energy_comes_from_the_energy_counter(env: Env) -> None:
    press = env.machine(PRESS1)
    env.states(press, [("executing", T0, None)])
    ts = T0 + np.arange(0, 61) * MIN
    env.write(env.tag(PRESS1, "energy"), ts, 5_000 + np.arange(61) * 0.5)  # 30 kWh per hour
    env.clock.set(T0 + 2 * HOUR)
    r = reader(env)
    assert r.current(press, "energy") == pytest.approx(30.0)
    assert r.unit(press, "energy") == "kWh"
    r.session.close()


def test_meter_every_n_cycles_from_historian_values(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    env.states(cnc1, [("executing", T0, None)])
    tag = env.tag(CNC1, "cycle_count")
    plan_id = env.create_plan(
        name="Change way-lube filter",
        machine_id=cnc1,
        triggers=[{"kind": "meter", "meter": "cycles", "mode": "every", "value": 1000}],
    )
    # 20 cycles a minute for 60 minutes: 1 200 cycles.
    ts = T0 + np.arange(0, 61) * MIN
    env.write(tag, ts, np.arange(0, 61) * 20)
    env.clock.set(T0 + 61 * MIN)
    assert env.generate().generated == 1
    assert env.generate().generated == 0
    wo = env.work_orders(plan_id)[0]
    fired = wo.evidence["triggers"][0]
    assert fired["meter"] == "cycles"
    assert fired["reading"] == pytest.approx(1200)
    assert fired["target"] == pytest.approx(1000)
    # Checkpoints were written for the meter in use: at the plan's start and now.
    with env.db.session() as session:
        points = session.scalars(
            select(PMMeterReading)
            .where(PMMeterReading.machine_id == cnc1)
            .order_by(PMMeterReading.at_us)
        ).all()
    assert [(p.meter, p.at_us, p.value) for p in points] == [
        ("cycles", T0, 0.0),
        ("cycles", T0 + 61 * MIN, pytest.approx(1200)),
    ]

    # 900 more cycles: 2 100 in total, past the next target (2 000).
    ts2 = T0 + np.arange(61, 106) * MIN
    env.write(tag, ts2, 1200 + np.arange(1, 46) * 20)
    env.clock.set(T0 + 110 * MIN)
    env.generate()
    wos = env.work_orders(plan_id)
    assert len(wos) == 2
    second = wos[1].evidence["triggers"][0]
    assert (second["baseline"], second["target"]) == (pytest.approx(1000), pytest.approx(2000))
    assert second["reading"] == pytest.approx(2100)


def test_milestone_fires_once(env: Env) -> None:
    comp = env.machine(COMPRESSOR)
    tag = env.tag(COMPRESSOR, "run_hours")
    plan_id = env.create_plan(
        name="Compressor 20 000 h overhaul",
        machine_id=comp,
        triggers=[
            {
                "kind": "meter",
                "meter": "tag",
                "tag_name": "run_hours",
                "mode": "milestone",
                "value": 20_000,
            }
        ],
    )
    env.write(tag, [T0 + MIN, T0 + 2 * MIN], [19_999.0, 20_000.5])
    env.clock.set(T0 + 3 * MIN)
    env.generate()
    env.write(tag, [T0 + 60 * MIN], [20_001.5])
    env.clock.set(T0 + 61 * MIN)
    env.generate()
    wos = env.work_orders(plan_id)
    assert len(wos) == 1
    assert wos[0].evidence["triggers"][0]["reading"] == pytest.approx(20_000.5)


def test_threshold_above_fires_again_only_after_the_value_came_back(env: Env) -> None:
    press = env.machine(PRESS1)
    tag = env.tag(PRESS1, "oil_temp")
    plan_id = env.create_plan(
        name="Oil temperature high: check cooler",
        machine_id=press,
        triggers=[
            {"kind": "meter", "meter": "tag", "tag_name": "oil_temp", "mode": "above", "value": 60}
        ],
    )
    env.write(tag, [T0 + MIN], [62.0])
    env.clock.set(T0 + 2 * MIN)
    assert env.generate().generated == 1
    env.write(tag, [T0 + 5 * MIN], [63.0])  # still above: the same episode
    env.clock.set(T0 + 6 * MIN)
    assert env.generate().generated == 0
    env.write(tag, [T0 + 10 * MIN, T0 + 20 * MIN], [55.0, 61.0])  # back below, then above again
    env.clock.set(T0 + 21 * MIN)
    assert env.generate().generated == 1
    assert len(env.work_orders(plan_id)) == 2


def test_condition_vibration_above_limit_for_ten_minutes(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    tag = env.tag(CNC1, "vibration_rms")
    plan_id = env.create_plan(
        name="Vibration high: inspect spindle bearings",
        machine_id=cnc1,
        work_order_type="predictive",
        triggers=[
            {
                "kind": "condition",
                "tag_name": "vibration_rms",
                "operator": "above",
                "limit": 7.1,
                "duration_s": 600,
            }
        ],
    )
    # 9 minutes above the limit, then normal: not long enough.
    ts = T0 + np.arange(0, 9 * 6) * 10 * S
    env.write(tag, ts, np.full(len(ts), 8.0))
    env.write(tag, [T0 + 9 * MIN], [3.0])
    env.clock.set(T0 + 20 * MIN)
    assert env.generate().generated == 0
    # From 30 min: 12 minutes above (peak 9.5), then normal.
    start = T0 + 30 * MIN
    ts = start + np.arange(0, 12 * 6) * 10 * S
    values = np.full(len(ts), 8.0)
    values[40] = 9.5
    env.write(tag, ts, values)
    env.write(tag, [start + 12 * MIN], [3.0])
    env.clock.set(T0 + 50 * MIN)
    assert env.generate().generated == 1
    assert env.generate().generated == 0
    wo = env.work_orders(plan_id)[0]
    assert wo.type == "predictive"
    window = wo.evidence["triggers"][0]["window"]
    assert window["start_us"] == start
    assert window["end_us"] == start + 12 * MIN
    assert window["due_us"] == start + 10 * MIN
    assert window["peak"] == pytest.approx(9.5)
    assert window["historian"] == (
        f"/api/history/aggregate?tag_id={tag}&start_us={start}&end_us={start + 12 * MIN}&bucket_s=60"
    )
    assert wo.due_us == start + 10 * MIN


class AnomalyFlagged(Event):
    """A stand-in for an analytics event about a machine."""

    type: ClassVar[str] = "test.pm_anomaly_flagged"
    machine_id: int
    at_us: int
    score: float


def test_condition_on_a_bus_event_about_the_machine(env: Env) -> None:
    cnc1 = env.machine(CNC1)
    plan_id = env.create_plan(
        name="Anomaly: inspect",
        machine_id=cnc1,
        triggers=[{"kind": "condition", "event_type": AnomalyFlagged.type}],
    )
    event = AnomalyFlagged(machine_id=cnc1, at_us=T0 + 5 * MIN, score=0.97)
    with env.db.session() as session:
        assert pm.watched_event_types(session) == {AnomalyFlagged.type}
        assert pm.record_signal(session, event=event, machine_id=cnc1, at_us=event.at_us)
        # Redelivery of the same event is harmless.
        assert not pm.record_signal(session, event=event, machine_id=cnc1, at_us=event.at_us)
    env.clock.set(T0 + 6 * MIN)
    assert env.generate().generated == 1
    assert env.generate().generated == 0
    wo = env.work_orders(plan_id)[0]
    seen = wo.evidence["triggers"][0]["event"]
    assert (seen["event_id"], seen["payload"]["score"]) == (str(event.event_id), 0.97)


def test_a_persisting_condition_raises_no_new_work_order_while_the_last_is_open(
    env: Env,
) -> None:
    cnc1 = env.machine(CNC1)
    plan_id = env.create_plan(
        name="Failure predicted: inspect",
        machine_id=cnc1,
        triggers=[{"kind": "condition", "event_type": AnomalyFlagged.type}],
    )

    def signal(at_us: int) -> None:
        event = AnomalyFlagged(machine_id=cnc1, at_us=at_us, score=0.9)
        with env.db.session() as session:
            pm.record_signal(session, event=event, machine_id=cnc1, at_us=at_us)

    signal(T0 + 5 * MIN)
    env.clock.set(T0 + 6 * MIN)
    assert env.generate().generated == 1
    # The prediction is renewed twice while the work order is open: no second work order.
    signal(T0 + 48 * HOUR)
    signal(T0 + 96 * HOUR)
    env.clock.set(T0 + 97 * HOUR)
    assert env.generate().generated == 0
    # Completed at 100 h: the renewals before it are answered by it; a later one raises anew.
    first = env.work_orders(plan_id)[0]
    complete(env, first.id, T0 + 100 * HOUR)
    env.clock.set(T0 + 101 * HOUR)
    assert env.generate().generated == 0
    signal(T0 + 144 * HOUR)
    env.clock.set(T0 + 145 * HOUR)
    assert env.generate().generated == 1
    second = env.work_orders(plan_id)[-1]
    assert second.evidence["triggers"][0]["event"]["at_us"] == T0 + 144 * HOUR


def test_the_example_plans_turn_a_failure_prediction_into_a_work_order_on_every_press(
    env: Env,
) -> None:
    """Press 3 (a retrofit without an equipment class) is predicted like the other presses, so
    the example plant's plans must answer its `FailurePredicted` too, not only the classed ones."""
    from ifactory.analytics.prognostics.events import FailurePredicted
    from ifactory.maintenance import pm_demo

    machines = {n.key.rsplit("/", 1)[-1]: n.id for n in env.registry.machines()}
    for spec in pm_demo.plans(machines):
        fields = {k: v for k, v in spec.items() if k not in ("start_days", "machine")}
        if "machine" in spec:
            fields["machine_id"] = machines[spec["machine"]]
        env.create_plan(start_us=T0, **fields)
    presses = [k for k in ("press1", "press2", "press3") if k in machines]
    assert presses == ["press1", "press2", "press3"]
    for key in presses:
        event = FailurePredicted(
            machine_id=machines[key],
            machine_key=key,
            machine_class="press",
            estimated_at_us=T0 + 5 * MIN,
            rul_h=40.0,
            low_h=20.0,
            high_h=60.0,
            predicted_failure_us=T0 + 40 * HOUR,
            horizon_h=72.0,
            signals=[],
            model_name="rul.press",
            model_version=1,
        )
        with env.db.session() as session:
            assert pm.record_signal(
                session, event=event, machine_id=machines[key], at_us=T0 + 5 * MIN
            )
    env.clock.set(T0 + 6 * MIN)
    env.generate()
    predictive = {wo.machine_id for wo in env.work_orders() if wo.type == "predictive"}
    assert {machines[k] for k in presses} <= predictive
