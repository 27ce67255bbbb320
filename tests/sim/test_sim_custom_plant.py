"""A user's own plant: unknown tag names, slower sample intervals, no calendar; bad options."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.core.clock import US
from ifactory.plant.loader import expand, parse
from ifactory.sim import PlantSimulator, SimOptions

from .helpers import START_US

PLANT = """
version: 1
enterprise:
  id: shop
  level: enterprise
  children:
    - id: site1
      level: site
      children:
        - id: mixer
          level: work_unit
          tags:
            - {name: status, data_type: enum, role: state, enum: {0: idle, 1: executing, 2: down}}
            - {name: torque, unit: N*m, limits: {low: 0, high: 80}}
            - {name: slow_temp, unit: degC, sample_interval_s: 5, limits: {low: 0, high: 90}}
            - {name: running, data_type: bool}
            - {name: batches, data_type: int, role: cycle_counter, counter_max: 99}
            - {name: recipe, data_type: string, role: product}
          ideal_cycle_times: {R-1: 120}
"""


def test_a_plant_with_unknown_tags_and_no_calendar_runs_around_the_clock() -> None:
    plant = expand(parse(PLANT))
    sim = PlantSimulator(plant, seed=4, start_us=START_US)
    batch = sim.advance(START_US + 6 * 3600 * US)
    key = "shop/site1/mixer"
    by_tag = {name: batch.tags == f"{key}/{name}" for name in ("status", "slow_temp", "batches")}
    # No shifts at all: the simulator treats the site as planned around the clock.
    states = {iv.state for iv in sim.ground_truth.state_intervals[key]}
    assert "executing" in states
    # The enum has no setup or maintenance: those show as idle.
    assert set(np.unique(batch.values[by_tag["status"]])) <= {0.0, 1.0, 2.0}
    slow = batch.ts[by_tag["slow_temp"]]
    fast = batch.ts[by_tag["status"]]
    assert 0 < len(slow) <= len(fast) // 5 + 1
    torque = batch.values[batch.tags == f"{key}/torque"]
    assert np.nanmin(torque) >= 0 and np.nanmax(torque) <= 80
    batches = batch.values[by_tag["batches"]]
    assert batches.max() <= 99
    assert batch.text is not None
    recipe = batch.text[batch.tags == f"{key}/recipe"]
    assert set(recipe) == {"R-1"}


@pytest.mark.parametrize(
    "options",
    [
        {"speed_factor": (0.9, 1.2)},
        {"setup_min": (40.0, 10.0)},
        {"sudden_mtbf_h": 0.0},
        {"glitch_probability": 1.5},
    ],
)
def test_nonsensical_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimOptions(**options)  # type: ignore[arg-type]
