"""The runner paces the simulation, waits for a slow sink, and stops cleanly."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from ifactory.core.clock import US, ManualClock
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant
from ifactory.sim import PlantSimulator, SimulationRunner

from .helpers import START_US


def test_runner_honours_speed_and_moves_the_clock(plant: Plant) -> None:
    sim = PlantSimulator(plant, seed=1, start_us=START_US)
    clock = ManualClock(START_US)
    got: list[TelemetryBatch] = []
    runner = SimulationRunner(sim, got.append, speed=1000.0, clock=clock, tick_s=0.05)
    runner.start()
    time.sleep(0.5)
    runner.stop()
    runner.join(timeout=10)
    assert not runner.running and runner.error is None
    advanced_s = (sim.now_us - START_US) / US
    assert advanced_s > 100
    # Far less than as fast as possible would have done (about a day per second here).
    assert advanced_s < 20_000
    assert clock.now_us() == sim.now_us
    assert got and max(int(b.ts.max()) for b in got) <= sim.now_us


def test_slow_sink_gets_every_point(plant: Plant) -> None:
    until = START_US + 1800 * US
    expected = len(PlantSimulator(plant, seed=2, start_us=START_US).advance(until))
    sim = PlantSimulator(plant, seed=2, start_us=START_US)
    got: list[TelemetryBatch] = []

    def slow_sink(batch: TelemetryBatch) -> None:
        time.sleep(0.02)
        got.append(batch)

    runner = SimulationRunner(sim, slow_sink, speed=None, until_us=until)
    runner.start()
    runner.join(timeout=30)
    assert not runner.running and runner.error is None
    assert sim.now_us == until
    assert sum(len(b) for b in got) == expected
    ts = np.concatenate([b.ts for b in got])
    assert np.all(np.diff(ts) >= 0)


def test_sink_error_is_logged_and_stops_the_runner(
    plant: Plant, caplog: pytest.LogCaptureFixture
) -> None:
    sim = PlantSimulator(plant, seed=3, start_us=START_US)
    calls = threading.Event()

    def broken_sink(batch: TelemetryBatch) -> None:
        calls.set()
        raise RuntimeError("historian is gone")

    runner = SimulationRunner(sim, broken_sink, speed=None)
    with caplog.at_level(logging.ERROR, logger="ifactory.sim.runner"):
        runner.start()
        runner.join(timeout=10)
    assert calls.is_set() and not runner.running
    assert isinstance(runner.error, RuntimeError)
    assert "simulation runner stopped" in caplog.text


def test_a_runner_never_started_stops_and_joins_without_error(plant: Plant) -> None:
    # A platform that fails before start-up is still stopped: that must not raise.
    sim = PlantSimulator(plant, seed=1, start_us=START_US)
    runner = SimulationRunner(sim, lambda b: None, speed=None)
    runner.stop()
    runner.join(timeout=1)
    assert not runner.running and runner.error is None
