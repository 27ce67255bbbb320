"""Stored RUL estimates: latest per machine, history, and alarms published once."""

from __future__ import annotations

from sqlalchemy import func, select

from ifactory.analytics.prognostics import service
from ifactory.analytics.prognostics.estimator import Estimate
from ifactory.analytics.prognostics.events import FailurePredicted
from ifactory.core.db import Database
from ifactory.core.outbox import OutboxRecord
from ifactory.plant import service as plant_service
from ifactory.plant.loader import Plant

H = 3_600_000_000


def _est(machine_id: int, hour: int, rul: float, alarm: bool = False) -> Estimate:
    return Estimate(
        machine_id=machine_id,
        machine_key=f"m{machine_id}",
        machine_class="cnc_mill",
        ts_us=hour * H,
        rul_h=rul,
        low_h=rul * 0.7,
        high_h=rul * 1.3,
        alarm=alarm,
        model_id=None,
        model_name="rul.cnc_mill",
        model_version=1,
        signals=[("vibration_rms.rel6", -20.0)] if alarm else [],
    )


def _event(machine_id: int, hour: int, rul: float) -> FailurePredicted:
    return FailurePredicted(
        machine_id=machine_id,
        machine_key=f"m{machine_id}",
        machine_class="cnc_mill",
        estimated_at_us=hour * H,
        rul_h=rul,
        low_h=rul * 0.7,
        high_h=rul * 1.3,
        predicted_failure_us=hour * H + int(rul * H),
        horizon_h=72.0,
        signals=[("vibration_rms.rel6", -20.0)],
        model_name="rul.cnc_mill",
        model_version=1,
    )


def _machines(db: Database, plant: Plant) -> tuple[int, int]:
    with db.session() as session:
        plant_service.seed(session, plant, user="test")
    with db.session() as session:
        machines = plant_service.registry(session).machines()
    return machines[0].id, machines[1].id


def test_latest_and_history_with_alarms_published_once(db: Database, example_plant: Plant) -> None:
    a, b = _machines(db, example_plant)
    batch = [
        _est(a, 10, 150.0),
        _est(b, 10, 120.0),
        _est(a, 11, 60.0, alarm=True),
        _est(b, 11, 118.0),
    ]
    events = [_event(a, 11, 60.0)]
    with db.session() as session:
        assert service.record(session, batch, events) == 4
    # A replay of the same hours (e.g. after a restart) stores and publishes nothing more.
    with db.session() as session:
        assert service.record(session, batch, events) == 0
    with db.session() as session:
        published = session.scalar(
            select(func.count())
            .select_from(OutboxRecord)
            .where(OutboxRecord.type == "prognostics.failure_predicted")
        )
        latest = service.latest_rul(session)
        history = service.rul_history(session, machine_id=a, start_us=10 * H, end_us=12 * H)
        only_first = service.rul_history(session, machine_id=a, start_us=10 * H, end_us=11 * H)
        states = service.alarm_states(session)
    assert published == 1
    # Newest per machine, riskiest (lowest RUL) first.
    assert [(r.machine_id, r.rul_h, r.alarm) for r in latest] == [
        (a, 60.0, True),
        (b, 118.0, False),
    ]
    assert latest[0].signals == [("vibration_rms.rel6", -20.0)]
    assert [r.ts_us for r in history] == [10 * H, 11 * H]
    assert (history[1].low_h, history[1].high_h) == (42.0, 78.0)
    assert [r.ts_us for r in only_first] == [10 * H]
    assert states == {a: (True, 11 * H), b: (False, None)}


def test_history_needs_a_valid_range(db: Database) -> None:
    import pytest

    from ifactory.core.errors import InvalidInput

    with db.session() as session, pytest.raises(InvalidInput):
        service.rul_history(session, machine_id=1, start_us=5, end_us=5)
