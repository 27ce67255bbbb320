"""Ready-made assemblies of the platform: the demo, a platform fed by the simulator, batch simulation."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from ifactory.core.clock import ManualClock, SystemClock
from ifactory.core.settings import Settings
from ifactory.historian.batch import TelemetryBatch
from ifactory.plant.loader import Plant, load_plant
from ifactory.platform import Platform
from ifactory.sim import PlantSimulator, SimulationRunner
from ifactory.sim.schedule import Schedule, ScheduledRun

if TYPE_CHECKING:
    from ifactory.sim.protocols import ProtocolOptions, ProtocolPlant

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


def _stored_counters(platform: Platform) -> dict[str, float]:
    """Last stored value of every counter and meter tag, by key (to resume a simulation)."""
    roles = {"cycle_counter", "good_counter", "scrap_counter", "rework_counter", "energy"}
    tags = [t for t in platform.registry.tags.values() if t.role in roles]
    if not tags:
        return {}
    latest = platform.store.latest(np.array([t.id for t in tags], dtype=np.int32))
    key_of = {t.id: t.key for t in tags}
    return {
        key_of[int(i)]: float(v)
        for i, v in zip(latest.tags.tolist(), latest.values.tolist(), strict=True)
    }


def attach_simulator(
    platform: Platform,
    plant: Plant | None,
    *,
    speed: float | None,
    seed: int,
    start_us: int | None = None,
    schedule: Schedule | None = None,
) -> PlantSimulator:
    """Feed the platform from a simulated plant at `speed`× real time (None: as fast as possible)."""
    plant = plant or load_plant()
    ids = {t.key: t.id for t in platform.registry.tags.values()}
    start = start_us if start_us is not None else _resume_point(platform, platform.clock.now_us())
    sim = PlantSimulator(plant, seed=seed, start_us=start, tag_ids=ids, schedule=schedule)
    sim.resume_counters(_stored_counters(platform))
    clock = platform.clock if isinstance(platform.clock, ManualClock) else None
    platform.extras.append(
        _RunnerService(SimulationRunner(sim, _sink(platform), speed=speed, clock=clock))
    )
    return sim


def build_demo(
    settings: Settings,
    *,
    speed: float,
    seed: int,
    history_hours: float,
    admin_password: str,
    protocols: ProtocolOptions | None = None,
) -> Platform:
    """The embedded demo: SQLite, in-process bus, the example plant simulated faster than real time.

    The platform's clock is the simulation's, so "now", planned time and timestamp checks all
    follow simulated time. `history_hours` of history are simulated first, as fast as possible.
    With `protocols`, the live simulation runs behind real OPC UA / Modbus TCP / MQTT stacks and
    the platform reads it through its connectors (see `attach_protocol_simulator`); the history
    is still ingested directly.
    """
    from ifactory.analytics.prognostics import bootstrap as prognostics_bootstrap
    from ifactory.auth import service as auth_service
    from ifactory.inventory import demo as inventory_demo
    from ifactory.maintenance import demo as maintenance_demo
    from ifactory.maintenance import pm_demo
    from ifactory.production import demo as production_demo
    from ifactory.quality import demo as quality_demo

    plant = load_plant()
    configured = plant
    if protocols is not None:
        from ifactory.sim.protocols import assign_machines, protocol_plant

        assignment = assign_machines(plant, protocols.protocols)
        configured = protocol_plant(plant, protocols, assignment)
        _store_sources(settings, configured)
        if protocols.mqtt_url:
            # The MQTT installer reads the settings; Sparkplug alone when asked, else UNS JSON.
            settings = settings.model_copy(
                update={
                    "mqtt_url": protocols.mqtt_url,
                    "mqtt_prefix": protocols.mqtt_prefix,
                    "mqtt_sparkplug": protocols.sparkplug,
                }
            )
    wall = SystemClock().now_us()
    clock = ManualClock(wall - int(history_hours * HOUR_US))
    platform = Platform.open(settings, clock=clock, plant=configured)
    with platform.db.session() as session:
        auth_service.ensure_admin(session, username="admin", password=admin_password)
    start = _resume_point(platform, clock.now_us())
    clock.set(start)
    quality_demo.seed(platform, production_demo.seed(platform))  # empty database: orders and lots
    # Spare parts first: the maintenance demo links asset spare-parts lists by part number.
    inventory_demo.seed(platform)
    maintenance_demo.seed(platform)
    pm_demo.seed(platform)
    # The machines make what the orders dispatched to them ask for, at the routings' cycle times
    # (read from the database, so a kept data directory resumes its own orders).
    schedule: dict[str, list[ScheduledRun]] = {}
    for run in production_demo.dispatched_runs(platform, since_us=start):
        if run.end_us is None or run.end_us > run.start_us:
            schedule.setdefault(run.machine_key, []).append(
                ScheduledRun(
                    run.start_us, run.product_code, run.cycle_time_s, run.quantity, run.end_us
                )
            )
    quality_demo.attach_material_flow(
        platform, lambda: production_demo.dispatched_runs(platform, since_us=clock.now_us())
    )
    if protocols is None:
        sim = attach_simulator(
            platform, plant, speed=speed, seed=seed, start_us=start, schedule=schedule
        )
    else:
        sim = attach_protocol_simulator(
            platform, plant, protocols, speed=speed, seed=seed, start_us=start, schedule=schedule
        ).sim
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
    # Without registered failure-prediction models, first ones are trained in the background
    # (low priority, seeds other than the demo's) once the platform starts; the estimator then
    # back-fills RUL estimates from the start of this history.
    prognostics_bootstrap.attach(platform, demo_seed=seed, backfill_from_us=start)
    return platform


class _ProtocolService:
    """The protocol servers and the runner feeding them, as one platform extra."""

    def __init__(self, servers: ProtocolPlant, runner: SimulationRunner) -> None:
        self.servers = servers
        self.runner = runner
        self.sim = runner.sim

    def start(self) -> None:
        self.servers.start()
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()
        self.runner.join()
        self.servers.stop()


def attach_protocol_simulator(
    platform: Platform,
    plant: Plant,
    protocols: ProtocolOptions,
    *,
    speed: float | None,
    seed: int,
    start_us: int,
    schedule: Schedule | None = None,
) -> _ProtocolService:
    """Feed the platform from the simulator through real protocol servers (started with it).

    The machines are dealt round-robin to the enabled protocols (`assign_machines`) and each
    server receives only the tags the platform reads through it, so no point arrives twice.
    The platform's connectors must already be configured by `protocol_plant` (tag sources)
    and `Settings.mqtt_url`.
    """
    from ifactory.sim.protocols import ProtocolPlant, assign_machines, tags_by_protocol

    assignment = assign_machines(plant, protocols.protocols)
    servers = ProtocolPlant(plant, protocols, tags=tags_by_protocol(plant, protocols, assignment))
    # tag keys: what the servers name
    sim = PlantSimulator(plant, seed=seed, start_us=start_us, schedule=schedule)
    sim.resume_counters(_stored_counters(platform))
    clock = platform.clock if isinstance(platform.clock, ManualClock) else None
    service = _ProtocolService(servers, SimulationRunner(sim, servers, speed=speed, clock=clock))
    # First to start and last to stop: the connectors find the servers up and see them go last.
    platform.extras.insert(0, service)
    return service


def _store_sources(settings: Settings, plant: Plant) -> None:
    """Write the tag sources and node attributes of `plant` into an already seeded database.

    The protocol ports change from run to run, so a kept data directory must follow them
    before the platform's installers read the plant model.
    """
    from sqlalchemy import select

    from ifactory.core import migrate
    from ifactory.core.db import Database
    from ifactory.plant import service as plant_service
    from ifactory.plant.models import PlantNode, Tag

    url = settings.resolved_database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(url, "head")
    db = Database(url)
    try:
        with db.session() as session:
            if not plant_service.is_seeded(session):
                return  # Platform.open seeds it from `plant`
            sources = {t.key: dict(t.spec.sources) for n in plant.nodes for t in n.tags}
            for row in session.scalars(select(Tag)):
                if row.key in sources:
                    row.sources = sources[row.key]
            attributes = {n.key: dict(n.spec.attributes) for n in plant.nodes}
            for node in session.scalars(select(PlantNode)):
                if node.key in attributes:
                    node.attributes = attributes[node.key]
    finally:
        db.dispose()


def run_simulation(settings: Settings, plant: Plant, *, hours: float, seed: int) -> dict[str, Any]:
    """Simulate `hours` as fast as possible through the real pipeline; returns a summary."""
    wall = SystemClock().now_us()
    clock = ManualClock(wall - int(hours * HOUR_US))
    platform = Platform.open(settings, clock=clock, plant=plant)
    start = _resume_point(platform, clock.now_us())
    clock.set(start)
    ids = {t.key: t.id for t in platform.registry.tags.values()}
    sim = PlantSimulator(plant, seed=seed, start_us=start, tag_ids=ids)
    sim.resume_counters(_stored_counters(platform))
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
