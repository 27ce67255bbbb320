"""Shared set-up of the PM, meter, forecast and reliability tests: a seeded example plant on
SQLite and PostgreSQL, an embedded historian, a manual clock and helpers to feed history."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from ifactory.core.clock import ManualClock
from ifactory.core.db import Database
from ifactory.historian.batch import TelemetryBatch
from ifactory.historian.embedded import EmbeddedStore
from ifactory.maintenance import pm
from ifactory.maintenance.models import WorkOrder
from ifactory.maintenance.pm_schemas import PlanCreate
from ifactory.plant import service as plant_service
from ifactory.plant.loader import Plant
from ifactory.plant.registry import PlantRegistry
from ifactory.platform import _counter_max
from ifactory.stream.models import MachineStateInterval

# Monday 2026-11-23 06:00 Europe/Berlin (05:00 UTC): the start of the early shift.
MONDAY_06H_US = 1_795_410_000_000_000
S = 1_000_000
MIN = 60 * S
HOUR = 3600 * S
DAY = 24 * HOUR
WEEK = 7 * DAY
CNC1 = "acme/springfield/machining/machining_line/cnc1"
CNC2 = "acme/springfield/machining/machining_line/cnc2"
PRESS1 = "acme/springfield/press_shop/press_line/press1"
COMPRESSOR = "acme/springfield/utilities/compressor1"


@dataclass
class Env:
    """Database, plant registry, historian and clock of one test."""

    db: Database
    registry: PlantRegistry
    store: EmbeddedStore
    clock: ManualClock

    def machine(self, key: str) -> int:
        """Machine id of a plant key."""
        return self.registry.nodes_by_key[key].id

    def tag(self, machine_key: str, name: str) -> int:
        """Tag id of a machine's tag."""
        return self.registry.tags_by_key[f"{machine_key}/{name}"].id

    def write(
        self, tag_id: int, ts: list[int] | np.ndarray, values: list[float] | np.ndarray
    ) -> None:
        """Store real points in the historian."""
        batch = TelemetryBatch.of(
            np.full(len(ts), tag_id, dtype=np.int32), ts, values, received_us=self.clock.now_us()
        )
        self.store.write(batch)

    def states(self, machine_id: int, spans: list[tuple[str, int, int | None]]) -> None:
        """Write a state history (state, start, end; end None = the open interval)."""
        with self.db.session() as session:
            for state, start, end in spans:
                session.add(
                    MachineStateInterval(
                        machine_id=machine_id, state=state, start_us=start, end_us=end
                    )
                )

    def create_plan(self, **fields: Any) -> int:
        """Create a plan through the schema (validated like the API) and return its id."""
        body = PlanCreate.model_validate(fields)
        with self.db.session() as session:
            plan = pm.create_plan(
                session,
                fields=body.model_dump(),
                user="planner",
                now_us=self.clock.now_us(),
                registry=self.registry,
            )
            return plan.id

    def generate(self, **kwargs: Any) -> pm.GenerationResult:
        """One generation pass in its own transaction (like the service)."""
        with self.db.session() as session:
            return pm.generate(
                session,
                registry=self.registry,
                store=self.store,
                now_us=self.clock.now_us(),
                **kwargs,
            )

    def work_orders(self, plan_id: int | None = None) -> list[WorkOrder]:
        """Work orders (of a plan), oldest first."""
        with self.db.session() as session:
            query = select(WorkOrder).order_by(WorkOrder.id)
            if plan_id is not None:
                query = query.where(WorkOrder.pm_plan_id == plan_id)
            return list(session.scalars(query).all())


@pytest.fixture
def env(db: Database, tmp_path: Path, example_plant: Plant) -> Iterator[Env]:
    with db.session() as session:
        plant_service.seed(session, example_plant, user="system")
    with db.session() as session:
        registry = plant_service.registry(session)
    store = EmbeddedStore.open(tmp_path / "historian", counter_max=_counter_max(registry))
    yield Env(db, registry, store, ManualClock(MONDAY_06H_US))
    store.close()
