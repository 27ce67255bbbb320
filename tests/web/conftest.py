"""Fixtures for the page tests: the example plant as a registry, without a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from ifactory.core.clock import ManualClock
from ifactory.plant.loader import Plant, load_plant
from ifactory.plant.registry import NodeInfo, PlantRegistry, TagInfo
from ifactory.plant.spec import MachineState

# Monday 2026-11-23 10:00 Europe/Berlin: inside the early shift, so "planned" is true.
MONDAY_10H_US = 1_795_424_400_000_000


def registry_from_plant(plant: Plant) -> PlantRegistry:
    """The registry the platform would build after seeding `plant`, ids numbered in file order."""
    node_ids = {n.key: i for i, n in enumerate(plant.nodes, start=1)}
    nodes = [
        NodeInfo(
            id=node_ids[n.key],
            key=n.key,
            parent_id=node_ids[n.parent_key] if n.parent_key else None,
            level=n.level,
            name=n.spec.name,
            equipment_class=n.spec.equipment_class,
            kind=n.spec.kind,
            uns_path=n.uns_path,
            site_key=n.site_key,
            ideal_cycle_times=n.ideal_cycle_times,
        )
        for n in plant.nodes
    ]
    tags = [
        TagInfo(
            id=i,
            key=t.key,
            node_id=node_ids[t.node_key],
            name=t.name,
            data_type=t.spec.data_type.value,
            unit=t.spec.unit,
            role=t.spec.role.value,
            enum=t.spec.enum,
            counter_max=t.spec.counter_max,
            limits=t.spec.limits.model_dump() if t.spec.limits else None,
            sample_interval_s=t.spec.sample_interval_s,
            description=t.spec.description,
        )
        for i, t in enumerate(plant.tags(), start=1)
    ]
    sites = {n.key: plant.site_settings(n.key) for n in plant.nodes if n.level.value == "site"}
    return PlantRegistry(nodes, tags, sites)


@dataclass
class FakeTracker:
    """Stands in for the machine-state tracker: a fixed snapshot of current states."""

    states: dict[int, tuple[MachineState, int]] = field(default_factory=dict)

    def current(self) -> dict[int, tuple[MachineState, int]]:
        return dict(self.states)


@dataclass
class PagePlatform:
    """The part of the platform the pages read: registry, tracker, clock."""

    registry: PlantRegistry
    tracker: FakeTracker
    clock: Any


@pytest.fixture(scope="session")
def example_registry() -> PlantRegistry:
    return registry_from_plant(load_plant())


@pytest.fixture
def page_platform(example_registry: PlantRegistry) -> PagePlatform:
    """The example plant with every machine executing for ten minutes, except one down."""
    now = MONDAY_10H_US
    states = {
        m.id: (MachineState.executing, now - 600_000_000) for m in example_registry.machines()
    }
    down = example_registry.nodes_by_key["acme/springfield/press_shop/press_line/press2"]
    states[down.id] = (MachineState.down, now - 120_000_000)
    return PagePlatform(example_registry, FakeTracker(states), ManualClock(now))
