"""A small plant that fails often, simulated through the real ingest pipeline (as `ifactory simulate`
does), for the tests of retraining from records: two mills that wear their bearings out in days."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ifactory.core.clock import ManualClock
from ifactory.core.settings import Settings
from ifactory.plant.loader import Plant, expand, parse
from ifactory.platform import Platform
from ifactory.sim import PlantSimulator, SimOptions
from ifactory.sim.options import DegradationOptions

US = 1_000_000
HOUR_US = 3600 * US
STEP_S = 15.0  # state sample interval: the tolerance of a recorded failure's start
PLANT = """
version: 1
equipment_classes:
  mill:
    tags:
      - {name: state, data_type: enum, role: state, enum: {0: idle, 1: executing, 2: setup, 3: down, 4: maintenance}}
      - {name: vibration_rms, unit: mm/s, limits: {low: 0, high: 50, alarm_high: 7.1}}
      - {name: bearing_temp, unit: degC, limits: {low: -20, high: 150, alarm_high: 85}}
      - {name: motor_current, unit: A, role: current, limits: {low: 0, high: 120}}
      - {name: cycle_count, data_type: int, role: cycle_counter, counter_max: 65535}
    ideal_cycle_times: {P-1: 60}
enterprise:
  id: shop
  level: enterprise
  children:
    - id: site1
      level: site
      children:
        - {id: mill1, level: work_unit, class: mill}
        - {id: mill2, level: work_unit, class: mill}
"""
# Bearings wear out within days and trips are frequent: 12 days give about ten failures, with
# times between them on both sides of the models' starting point (half the 240 h RUL cap).
OPTIONS = SimOptions(
    bearing_wear=DegradationOptions(
        mean_time_to_onset_h=72.0, onset_to_failure_h=(24.0, 72.0), repair_h=(1.0, 3.0)
    ),
    sudden_mtbf_h=200.0,
)


def small_plant() -> Plant:
    """The two-mill plant, expanded."""
    return expand(parse(PLANT))


@dataclass
class Simulated:
    """A platform fed by the simulated small plant, and the simulator's ground truth."""

    platform: Platform
    truth: dict[str, Any]
    start_us: int
    end_us: int


def simulate(data_dir: Path, *, start_us: int, hours: int, seed: int = 3) -> Simulated:
    """Simulate `hours` from `start_us` through the pipeline (the loop of `run_simulation`)."""
    plant = small_plant()
    settings = Settings(environment="test", data_dir=data_dir)
    clock = ManualClock(start_us)
    platform = Platform.open(settings, clock=clock, plant=plant)
    ids = {t.key: t.id for t in platform.registry.tags.values()}
    sim = PlantSimulator(
        plant, seed=seed, start_us=start_us, step_s=STEP_S, options=OPTIONS, tag_ids=ids
    )
    end = start_us + hours * HOUR_US
    t = start_us
    while t < end:
        t = min(t + 600 * US, end)
        batch = sim.advance(t)
        clock.set(t)
        platform.pipeline.ingest(batch)
        platform.tracker.tick(t)
    platform.relay.drain()
    return Simulated(platform, sim.ground_truth.to_dict(), start_us, end)
