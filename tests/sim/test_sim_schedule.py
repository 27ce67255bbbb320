"""A production schedule drives what the simulated machines make, and how fast."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.core.clock import US
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Node, Plant
from ifactory.plant.spec import TagRole
from ifactory.sim import PlantSimulator
from ifactory.sim.schedule import ScheduledRun

from .helpers import START_US

H = 3600 * US
# START_US is Monday 00:00 site time: the early shift starts at 06:00.
RUN_A = ScheduledRun(START_US + 7 * H, "P-200", 60.0, quantity=300)  # plant.yaml's rate
RUN_B = ScheduledRun(START_US + 11 * H, "P-999", 30.0, end_us=START_US + 15 * H)  # a new one


def _machine(plant: Plant, short: str) -> Node:
    return next(n for n in plant.machines() if n.key.endswith(f"/{short}"))


def _series(batch: TelemetryBatch, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    at = batch.tags == key
    return batch.ts[at], batch.values[at], None if batch.text is None else batch.text[at]


def _sim(plant: Plant, **kw: object) -> PlantSimulator:
    return PlantSimulator(plant, seed=3, start_us=START_US, step_s=5.0, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def scheduled(plant: Plant) -> tuple[PlantSimulator, TelemetryBatch]:
    cnc1 = _machine(plant, "cnc1")
    sim = _sim(plant, schedule={cnc1.key: [RUN_B, RUN_A]})  # any order
    return sim, sim.advance(START_US + 16 * H)


def test_the_product_tag_follows_the_schedule_with_a_setup_at_each_change(
    plant: Plant, scheduled: tuple[PlantSimulator, TelemetryBatch]
) -> None:
    sim, batch = scheduled
    cnc1 = _machine(plant, "cnc1")
    product = cnc1.tag_by_role(TagRole.product)
    assert product is not None
    ts, _, text = _series(batch, product.key)
    assert text is not None
    for lo, hi, code in ((7, 11, "P-200"), (11, 15, "P-999"), (15, 16, "P-999")):
        inside = (ts > START_US + lo * H) & (ts < START_US + hi * H)
        assert set(text[inside]) == {code}, (lo, code)
    truth = sim.ground_truth
    changes = [c for c in truth.product_changes if c.machine == cnc1.key]
    assert [(c.time_us, c.to_product) for c in changes][-1] == (RUN_B.start_us, "P-999")
    assert truth.state_at(cnc1.key, RUN_B.start_us) == "setup"
    # Without an order the machine does not produce, shift or not.
    for iv in truth.state_intervals[cnc1.key]:
        if iv.state == "executing":
            assert RUN_A.start_us <= iv.start_us and iv.end_us <= RUN_B.end_us  # type: ignore[operator]


def test_machines_make_parts_at_the_scheduled_cycle_time_times_their_speed(
    plant: Plant, scheduled: tuple[PlantSimulator, TelemetryBatch]
) -> None:
    sim, batch = scheduled
    cnc1 = _machine(plant, "cnc1")
    counter = cnc1.tag_by_role(TagRole.cycle_counter)
    assert counter is not None and counter.spec.counter_max is not None
    ts, values, _ = _series(batch, counter.key)
    intervals = sim.ground_truth.state_intervals[cnc1.key]
    for run, end in ((RUN_A, RUN_B.start_us), (RUN_B, RUN_B.end_us)):
        assert end is not None
        at = (ts >= run.start_us) & (ts <= end)
        made = float(np.diff(values[at]).clip(min=0).sum())
        executing_s = sum(
            (min(iv.end_us, end) - max(iv.start_us, run.start_us)) / US
            for iv in intervals
            if iv.state == "executing" and iv.end_us > run.start_us and iv.start_us < end
        )
        # The speed factor lies in [0.5, 1]: never faster than the ideal cycle, never much slower.
        ideal = executing_s / run.cycle_time_s
        assert ideal > 100 and 0.5 * ideal - 2 <= made <= ideal + 1, (run.product, made, ideal)
    after = ts > RUN_B.end_us  # type: ignore[operator]
    assert np.ptp(values[after]) == 0


def test_a_schedule_is_deterministic_and_leaves_other_machines_alone(
    plant: Plant, scheduled: tuple[PlantSimulator, TelemetryBatch]
) -> None:
    _, whole = scheduled
    cnc1 = _machine(plant, "cnc1")
    again = _sim(plant, schedule={cnc1.key: [RUN_A, RUN_B]})
    parts = [again.advance(START_US + k * 5_555 * US) for k in range(1, 11)]
    parts.append(again.advance(START_US + 16 * H))
    sliced = TelemetryBatch.concat([p for p in parts if len(p)])
    assert np.array_equal(whole.tags, sliced.tags) and np.array_equal(whole.ts, sliced.ts)
    assert np.array_equal(whole.values, sliced.values, equal_nan=True)
    # Every machine but the scheduled one produces exactly what it does unscheduled.
    free = _sim(plant).advance(START_US + 16 * H)
    mine = {t.key for t in cnc1.tags}
    keep_w = ~np.isin(whole.tags, list(mine))
    keep_f = ~np.isin(free.tags, list(mine))
    assert np.array_equal(whole.tags[keep_w], free.tags[keep_f])
    assert np.array_equal(whole.values[keep_w], free.values[keep_f], equal_nan=True)


def test_bad_schedules_are_refused(plant: Plant) -> None:
    cnc1 = _machine(plant, "cnc1").key
    with pytest.raises(ValueError, match="unknown machines"):
        _sim(plant, schedule={"acme/nowhere": [RUN_A]})
    with pytest.raises(ValueError, match="overlap"):
        _sim(plant, schedule={cnc1: [RUN_B, ScheduledRun(START_US + 12 * H, "P-100", 45.0)]})
    with pytest.raises(ValueError, match="cycle_time_s"):
        ScheduledRun(START_US, "P-100", 0.0)
    utility = next(
        n
        for n in plant.machines()
        if not n.ideal_cycle_times and n.tag_by_role(TagRole.cycle_counter) is None
    )
    with pytest.raises(ValueError, match="cannot be scheduled"):
        _sim(plant, schedule={utility.key: [RUN_A]})
