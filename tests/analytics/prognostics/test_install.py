"""The platform service: estimates every completed hour from the historian, resumes after a restart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select

from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics import service
from ifactory.analytics.prognostics.features import HOUR_US, machine_tags
from ifactory.analytics.prognostics.install import LAG_US, PrognosticsService, install
from ifactory.analytics.prognostics.model import QuantileModel
from ifactory.analytics.prognostics.models import RulEstimate
from ifactory.core.clock import ManualClock
from ifactory.core.db import Database
from ifactory.plant import service as plant_service
from ifactory.plant.loader import Plant

from .helpers import MinuteSource

T0 = 500_000 * HOUR_US


@dataclass
class FakePlatform:
    db: Database
    registry: Any
    store: MinuteSource
    clock: ManualClock
    relay: Any
    extras: list[Any] = field(default_factory=list)


class Relay:
    def __init__(self) -> None:
        self.notified = 0

    def notify(self) -> None:
        self.notified += 1


def _platform(db: Database, plant: Plant) -> FakePlatform:
    with db.session() as session:
        plant_service.seed(session, plant, user="test")
    with db.session() as session:
        reg = plant_service.registry(session)
    mill = next(m for m in machine_tags(reg) if m.machine_class == "cnc_mill")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(mill.feature_names())))
    model = QuantileModel.train(
        x, rng.uniform(100, 168, 200), mill.feature_names(), cap_h=168, rounds=10
    )
    with db.session() as session:
        model_registry.create(
            session,
            machine_class="cnc_mill",
            model=model,
            metrics={},
            train_start_us=0,
            train_end_us=1,
            training_data={},
        )
    # Every machine executes, every signal reads 1.0.
    return FakePlatform(
        db, reg, MinuteSource(lambda tag, minute: 1.0), ManualClock(T0 + LAG_US), Relay()
    )


def _count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(RulEstimate)) or 0)


def test_estimates_each_completed_hour_once_and_resumes_after_restart(
    db: Database, example_plant: Plant
) -> None:
    platform = _platform(db, example_plant)
    install(platform)
    svc = platform.extras[0]
    assert isinstance(svc, PrognosticsService)
    mills = 3  # the example plant's CNC mills have the only registered class
    assert svc.run_once() == mills  # the hour just completed
    assert svc.run_once() == 0  # nothing new
    platform.clock.advance(3 * HOUR_US)
    assert svc.run_once() == 3 * mills
    # A restart: a new service resumes after the newest stored estimate.
    again = PrognosticsService(platform)
    platform.clock.advance(HOUR_US)
    assert again.run_once() == mills
    assert _count(db) == 5 * mills
    with db.session() as session:
        latest = service.latest_rul(session)
    assert len(latest) == mills and all(0 <= r.low_h <= r.rul_h <= r.high_h for r in latest)
