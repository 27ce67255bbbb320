"""Ready-made assemblies of the platform: the demo, a platform fed by the simulator, batch simulation."""

from __future__ import annotations

import logging
from typing import Any

from ifactory.core.clock import ManualClock, SystemClock
from ifactory.core.settings import Settings
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant, load_plant
from ifactory.platform import Platform
from ifactory.sim import PlantSimulator, SimulationRunner

log = logging.getLogger(__name__)
US = 1_000_000
HOUR_US = 3600 * US


class _RunnerService:
    """Adapts a SimulationRunner to the platform's start/stop of extras."""

    def __init__(self, runner: SimulationRunner) -> None:
        self.runner = runner

    def start(self) -> None:
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()
        self.runner.join()


def _sink(platform: Platform) -> Any:
    def ingest(batch: TelemetryBatch) -> None:
        platform.pipeline.ingest(batch)

    return ingest


def _resume_point(platform: Platform, default_us: int) -> int:
    """Continue after the newest stored point, so a kept data directory is extended, not rewritten."""
    latest = platform.store.latest()
    newest = int(latest.ts.max()) if len(latest) else 0
    return max(default_us, newest + US)


def attach_simulator(
    platform: Platform,
    plant: Plant | None,
    *,
    speed: float | None,
    seed: int,
    start_us: int | None = None,
) -> PlantSimulator:
    """Feed the platform from a simulated plant at `speed`× real time (None: as fast as possible)."""
    plant = plant or load_plant()
    ids = {t.key: t.id for t in platform.registry.tags.values()}
    start = start_us if start_us is not None else _resume_point(platform, platform.clock.now_us())
    sim = PlantSimulator(plant, seed=seed, start_us=start, tag_ids=ids)
    clock = platform.clock if isinstance(platform.clock, ManualClock) else None
    platform.extras.append(
        _RunnerService(SimulationRunner(sim, _sink(platform), speed=speed, clock=clock))
    )
    return sim


def build_demo(
    settings: Settings, *, speed: float, seed: int, history_hours: float, admin_password: str
) -> Platform:
    """The embedded demo: SQLite, in-process bus, the example plant simulated faster than real time.

    The platform's clock is the simulation's, so "now", planned time and timestamp checks all
    follow simulated time. `history_hours` of history are simulated first, as fast as possible.
    """
    from ifactory.auth import service as auth_service

    plant = load_plant()
    wall = SystemClock().now_us()
    clock = ManualClock(wall - int(history_hours * HOUR_US))
    platform = Platform.open(settings, clock=clock, plant=plant)
    with platform.db.session() as session:
        auth_service.ensure_admin(session, username="admin", password=admin_password)
    start = _resume_point(platform, clock.now_us())
    clock.set(start)
    sim = attach_simulator(platform, plant, speed=speed, seed=seed, start_us=start)
    if history_hours > 0 and start < wall:
        # Warm-up: simulated history up to wall-clock now, in one-minute batches.
        t = start
        while t < wall:
            t = min(t + 60 * US, wall)
            batch = sim.advance(t)
            clock.set(t)
            platform.pipeline.ingest(batch)
            platform.tracker.tick(t)
        platform.relay.drain()
        log.info("simulated %.1f h of history", history_hours)
    return platform


def run_simulation(settings: Settings, plant: Plant, *, hours: float, seed: int) -> dict[str, Any]:
    """Simulate `hours` as fast as possible through the real pipeline; returns a summary."""
    wall = SystemClock().now_us()
    clock = ManualClock(wall - int(hours * HOUR_US))
    platform = Platform.open(settings, clock=clock, plant=plant)
    start = _resume_point(platform, clock.now_us())
    clock.set(start)
    ids = {t.key: t.id for t in platform.registry.tags.values()}
    sim = PlantSimulator(plant, seed=seed, start_us=start, tag_ids=ids)
    end = start + int(hours * HOUR_US)
    points = rejected = 0
    t = start
    try:
        while t < end:
            t = min(t + 600 * US, end)
            batch = sim.advance(t)
            clock.set(t)
            result = platform.pipeline.ingest(batch)
            platform.tracker.tick(t)
            points += len(batch)
            rejected += sum(result.rejected.values())
        platform.relay.drain()
    finally:
        platform.stop()
    return {
        "points": points,
        "rejected": rejected,
        "failures": len(sim.ground_truth.failures),
        "ground_truth_json": sim.ground_truth.to_json(),
    }
