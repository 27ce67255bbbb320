"""Same plant, seed and start give bit-identical output, however the run is sliced."""

from __future__ import annotations

import numpy as np

from ifactory.core.clock import US
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.sim import GroundTruth, PlantSimulator

from .helpers import START_US

HOURS_3 = 3 * 3600 * US


def _same(a: TelemetryBatch, b: TelemetryBatch) -> bool:
    return (
        np.array_equal(a.tags, b.tags)
        and np.array_equal(a.ts, b.ts)
        and np.array_equal(a.values, b.values, equal_nan=True)
        and np.array_equal(a.quality, b.quality)
        and a.text is not None
        and b.text is not None
        and np.array_equal(a.text, b.text)
    )


def test_same_seed_gives_identical_points_whatever_the_slicing(plant: Plant) -> None:
    whole = PlantSimulator(plant, seed=5, start_us=START_US).advance(START_US + HOURS_3)
    sliced_sim = PlantSimulator(plant, seed=5, start_us=START_US)
    rng = np.random.default_rng(0)
    parts = []
    t = START_US
    while t < START_US + HOURS_3:
        # Irregular slices, not aligned to seconds or to the simulator's internal blocks.
        t = min(t + int(rng.integers(1, 2_500 * US)), START_US + HOURS_3)
        batch = sliced_sim.advance(t)
        if len(batch):
            parts.append(batch)
    assert _same(whole, TelemetryBatch.concat(parts))


def test_points_are_time_ordered_and_inside_the_advanced_range(plant: Plant) -> None:
    sim = PlantSimulator(plant, seed=5, start_us=START_US)
    first = sim.advance(START_US + 600 * US)
    second = sim.advance(START_US + 1200 * US)
    assert sim.now_us == START_US + 1200 * US
    for batch, lo, hi in ((first, START_US, 600), (second, START_US + 600 * US, 1200)):
        assert np.all(np.diff(batch.ts) >= 0)
        assert batch.ts.min() > lo
        assert batch.ts.max() <= START_US + hi * US
    assert len(sim.advance(START_US + 1200 * US)) == 0


def test_different_seeds_give_different_plants(plant: Plant) -> None:
    a = PlantSimulator(plant, seed=1, start_us=START_US).advance(START_US + 1800 * US)
    b = PlantSimulator(plant, seed=2, start_us=START_US).advance(START_US + 1800 * US)
    assert not np.array_equal(a.values, b.values, equal_nan=True)


def test_tag_ids_give_int32_tags(plant: Plant) -> None:
    keys = [t.key for m in plant.machines() for t in m.tags]
    ids = {k: 1000 + i for i, k in enumerate(keys)}
    named = PlantSimulator(plant, seed=3, start_us=START_US).advance(START_US + 60 * US)
    numbered = PlantSimulator(plant, seed=3, start_us=START_US, tag_ids=ids).advance(
        START_US + 60 * US
    )
    assert numbered.resolved and numbered.tags.dtype == np.int32
    assert [ids[k] for k in named.tags] == numbered.tags.tolist()
    # 136 tags at 1 s for a minute, less any machine in an outage.
    assert len(named) <= 60 * len(keys)


def test_ground_truth_is_deterministic_and_survives_json(plant: Plant) -> None:
    truths = []
    for _ in range(2):
        sim = PlantSimulator(plant, seed=9, start_us=START_US, step_s=30.0)
        sim.advance(START_US + 4 * 86_400 * US)
        truths.append(sim.ground_truth)
    assert truths[0].to_json() == truths[1].to_json()
    again = GroundTruth.from_json(truths[0].to_json())
    assert again == truths[0]
    assert again.state_intervals and again.product_changes


def test_resumed_counters_continue_from_stored_values(plant: Plant) -> None:
    """A restarted simulation extends the stored counters instead of jumping."""
    cnc = "acme/springfield/machining/machining_line/cnc1"
    sim = PlantSimulator(plant, seed=5, start_us=START_US)
    sim.resume_counters(
        {f"{cnc}/cycle_count": 1200.0, f"{cnc}/scrap_count": 30.0, f"{cnc}/energy": 5000.0}
    )
    batch = sim.advance(START_US + 4 * 3600 * US)
    keys = batch.tags.astype(str)
    cycles = batch.values[keys == f"{cnc}/cycle_count"]
    energy = batch.values[keys == f"{cnc}/energy"]
    assert cycles.min() >= 1200 and cycles.max() < 1200 + 4 * 3600 / 45 + 1
    assert 5000 <= energy.min() < 5001
