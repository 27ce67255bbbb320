"""Simulation runs split by tag, for the tests of the simulated plant."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from ifactory.core.clock import US, from_datetime
from ifactory.historian.batch import BAD_SENSOR_FAILURE
from ifactory.plant.loader import Plant
from ifactory.sim import DegradationOptions, GroundTruth, PlantSimulator, SimOptions

# A Monday at midnight in the site's zone (Europe/Berlin, UTC+1 in winter).
START_US = from_datetime(datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
DAY_US = 86_400 * US
# Another seed shows the checks hold beyond one lucky run.
WEEK_SEED = int(os.environ.get("IFACTORY_SIM_TEST_SEED", "11"))

# Failures far more often than in a real plant, so a week shows every mode several times.
ACCELERATED = SimOptions(
    bearing_wear=DegradationOptions(
        mean_time_to_onset_h=48, onset_to_failure_h=(36, 60), repair_h=(3, 6)
    ),
    seal_leak=DegradationOptions(
        mean_time_to_onset_h=48, onset_to_failure_h=(24, 48), repair_h=(2, 4)
    ),
    tool_wear=DegradationOptions(
        mean_time_to_onset_h=12, onset_to_failure_h=(8, 20), repair_h=(0.5, 1)
    ),
    sudden_mtbf_h=60,
    outages_per_machine_month=20,
    glitch_probability=1e-4,
)


@dataclass
class Series:
    """One tag's points over the run."""

    ts: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    text: npt.NDArray[np.object_] | None = None


@dataclass
class Run:
    """A finished simulation: per-tag series, the ground truth, and the simulator itself."""

    plant: Plant
    sim: PlantSimulator
    truth: GroundTruth
    series: dict[str, Series]
    glitches: int
    glitch_values_nan: bool
    machines: dict[str, str] = field(default_factory=dict)  # short id -> key

    def tag(self, machine: str, name: str) -> Series:
        """The series of `name` on machine `machine` (short id such as "cnc1")."""
        return self.series[f"{self.machines[machine]}/{name}"]


def simulate(plant: Plant, *, seed: int, days: float, step_s: float, options: SimOptions) -> Run:
    """Run the plant and split the points by tag."""
    keys = [t.key for m in plant.machines() for t in m.tags]
    strings = {
        i
        for i, t in enumerate(t for m in plant.machines() for t in m.tags)
        if t.spec.data_type == "string"
    }
    ids = {k: i for i, k in enumerate(keys)}
    sim = PlantSimulator(
        plant, seed=seed, start_us=START_US, step_s=step_s, options=options, tag_ids=ids
    )
    Chunk = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.object_] | None]
    chunks: dict[int, list[Chunk]] = {i: [] for i in range(len(keys))}
    glitches = 0
    glitch_nan = True
    end = START_US + round(days * DAY_US)
    t = START_US
    while t < end:
        t = min(t + 6 * 3600 * US, end)
        batch = sim.advance(t)
        bad = batch.quality == BAD_SENSOR_FAILURE
        glitches += int(bad.sum())
        glitch_nan &= bool(np.isnan(batch.values[bad]).all())
        order = np.argsort(batch.tags, kind="stable")
        counts = np.bincount(batch.tags, minlength=len(keys))
        bounds = np.concatenate(([0], np.cumsum(counts)))
        for i in range(len(keys)):
            sel = order[bounds[i] : bounds[i + 1]]
            text = batch.text[sel] if batch.text is not None and i in strings else None
            chunks[i].append((batch.ts[sel], batch.values[sel], text))
    series = {}
    for i, key in enumerate(keys):
        parts = chunks.pop(i)  # free as we go: a week of points is large
        texts = [p[2] for p in parts if p[2] is not None]
        text = np.concatenate(texts) if texts and len(texts) == len(parts) else None
        series[key] = Series(
            np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), text
        )
    return Run(
        plant=plant,
        sim=sim,
        truth=sim.ground_truth,
        series=series,
        glitches=glitches,
        glitch_values_nan=glitch_nan,
        machines={m.key.split("/")[-1]: m.key for m in plant.machines()},
    )
