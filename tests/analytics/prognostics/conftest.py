"""Prognostics fixtures: the example plant seeded into a database, behind a platform stand-in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from ifactory.analytics.prognostics import registry as model_registry
from ifactory.analytics.prognostics.features import HOUR_US, machine_tags
from ifactory.analytics.prognostics.install import LAG_US
from ifactory.analytics.prognostics.model import QuantileModel
from ifactory.core.clock import ManualClock
from ifactory.core.db import Database
from ifactory.plant import service as plant_service
from ifactory.plant.loader import Plant

from .helpers import MinuteSource

T0 = 500_000 * HOUR_US


class Relay:
    """The outbox relay stand-in: counts the wake-ups the services send it."""

    def __init__(self) -> None:
        self.notified = 0

    def notify(self) -> None:
        self.notified += 1


@dataclass
class FakePlatform:
    """What the prognostics services use of `ifactory.platform.Platform`."""

    db: Database
    registry: Any
    store: Any
    clock: ManualClock
    relay: Relay
    extras: list[Any] = field(default_factory=list)


@pytest.fixture
def fake_platform(db: Database, example_plant: Plant) -> FakePlatform:
    """The example plant seeded; every machine executes and every signal reads 1.0 for all time.

    The clock stands one estimation lag after the hour T0 completed; nothing is installed yet.
    """
    with db.session() as session:
        plant_service.seed(session, example_plant, user="test")
    with db.session() as session:
        reg = plant_service.registry(session)
    return FakePlatform(
        db, reg, MinuteSource(lambda tag, minute: 1.0), ManualClock(T0 + LAG_US), Relay()
    )


def register_mill_model(platform: FakePlatform) -> None:
    """Register version 1 of a small CNC-mill model, as `ifactory eval plant --register` would."""
    rng = np.random.default_rng(0)
    mill = next(m for m in machine_tags(platform.registry) if m.machine_class == "cnc_mill")
    model = QuantileModel.train(
        rng.normal(size=(200, len(mill.feature_names()))),
        rng.uniform(100, 168, 200),
        mill.feature_names(),
        cap_h=168,
        rounds=10,
    )
    with platform.db.session() as session:
        model_registry.create(
            session,
            machine_class="cnc_mill",
            model=model,
            metrics={},
            train_start_us=0,
            train_end_us=1,
            training_data={},
        )
