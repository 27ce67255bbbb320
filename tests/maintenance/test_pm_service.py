"""The PM generator as the platform runs it: installed as a feature, catch-up at start after an
outage, exactly once across restarts, condition events taken from the bus."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import select

from ifactory.core import migrate
from ifactory.core.clock import ManualClock
from ifactory.core.events import Event
from ifactory.core.settings import Settings
from ifactory.maintenance import pm
from ifactory.maintenance.models import WorkOrder
from ifactory.maintenance.pm_schemas import PlanCreate
from ifactory.plant.loader import Plant
from ifactory.platform import Platform

from .conftest import machine_id, upgrade_all

T0 = 1_795_410_000_000_000  # Monday 2026-11-23 06:00 Europe/Berlin
DAY = 86_400_000_000


class MachineAnomaly(Event):
    """A stand-in for an analytics event about a machine."""

    type: ClassVar[str] = "test.pm_service_anomaly"
    machine_id: int
    detected_at_us: int


def _open(database_url: str, data_dir: Path, plant: Plant, now_us: int) -> Platform:
    settings = Settings(
        environment="test", data_dir=data_dir, database_url=database_url, state_stale_after_s=1e9
    )
    platform = Platform.open(settings, clock=ManualClock(now_us), plant=plant)
    pm.install(platform)  # what features.INSTALLERS does
    pm.install(platform)  # installing twice keeps one generator
    return platform


def _work_orders(platform: Platform) -> list[WorkOrder]:
    with platform.db.session() as session:
        return list(session.scalars(select(WorkOrder).order_by(WorkOrder.id)).all())


def test_restarts_catch_up_once(
    database_url: str, tmp_path: Path, example_plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "upgrade", upgrade_all)
    first = _open(database_url, tmp_path / "data", example_plant, T0)
    assert [type(e).__name__ for e in first.extras].count("PMGenerator") == 1
    with first.db.session() as session:
        body = PlanCreate.model_validate(
            {
                "name": "Weekly check",
                "machine_id": machine_id(first, "cnc1"),
                "triggers": [{"kind": "calendar", "every": 7, "unit": "days"}],
            }
        )
        pm.create_plan(session, fields=body.model_dump(), user="planner", now_us=T0)
    first.start()
    first.stop()
    assert _work_orders(first) == []

    # Down from day 1 to day 9: the plan fell due on day 7 while nothing ran.
    second = _open(database_url, tmp_path / "data", example_plant, T0 + 9 * DAY)
    second.start()  # catch-up at start
    second.stop()
    third = _open(database_url, tmp_path / "data", example_plant, T0 + 9 * DAY)
    third.start()  # restarted again at once: nothing new
    third.stop()
    wos = _work_orders(third)
    assert [(w.due_us, w.pm_plan_id is not None) for w in wos] == [(T0 + 7 * DAY, True)]


def test_a_bus_event_about_a_machine_raises_the_condition_plan(
    database_url: str, tmp_path: Path, example_plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "upgrade", upgrade_all)
    platform = _open(database_url, tmp_path / "data", example_plant, T0)
    cnc2 = machine_id(platform, "cnc2")
    with platform.db.session() as session:
        body = PlanCreate.model_validate(
            {
                "name": "Anomaly: inspect",
                "machine_id": cnc2,
                "work_order_type": "predictive",
                "triggers": [{"kind": "condition", "event_type": MachineAnomaly.type}],
            }
        )
        pm.create_plan(session, fields=body.model_dump(), user="planner", now_us=T0)
    platform.start()
    try:
        platform.clock.advance(60_000_000)  # type: ignore[attr-defined]
        event = MachineAnomaly(machine_id=cnc2, detected_at_us=T0 + 30_000_000)
        platform.bus.publish(event)
        platform.bus.publish(event)  # redelivered
        generator = platform.pm_generator  # type: ignore[attr-defined]
        generator.run_once()
        generator.run_once()
    finally:
        platform.stop()
    (wo,) = _work_orders(platform)
    assert (wo.machine_id, wo.type) == (cnc2, "predictive")
    seen = wo.evidence["triggers"][0]["event"]
    assert seen["event_id"] == str(event.event_id) and seen["at_us"] == T0 + 30_000_000
    assert seen["view"]["url"].startswith("/machines/")
