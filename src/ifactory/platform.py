"""The running platform: the one place where database, bus, historian, pipeline and trackers meet."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ifactory.core import migrate
from ifactory.core.bus import EventBus
from ifactory.core.clock import Clock, SystemClock
from ifactory.core.db import Database
from ifactory.core.outbox import OutboxRelay
from ifactory.core.settings import Settings
from ifactory.historian.deadletter import DeadLetterStore
from ifactory.historian.deadletter_pg import PostgresDeadLetterStore
from ifactory.historian.embedded import EmbeddedStore
from ifactory.historian.postgres import PostgresStore
from ifactory.plant import service as plant_service
from ifactory.plant.loader import Plant
from ifactory.plant.registry import PlantRegistry
from ifactory.stream.pipeline import IngestPipeline
from ifactory.stream.state import MachineStateTracker
from ifactory.stream.tagtable import TagTable

log = logging.getLogger(__name__)
US = 1_000_000
RETENTION_EVERY_S = 3600.0


@dataclass
class Platform:
    """Everything a process of iFactory runs; built by `open`, started and stopped explicitly."""

    settings: Settings
    clock: Clock
    db: Database
    bus: EventBus
    relay: OutboxRelay
    store: EmbeddedStore | PostgresStore
    dead_letters: DeadLetterStore | PostgresDeadLetterStore
    registry: PlantRegistry
    table: TagTable
    pipeline: IngestPipeline
    tracker: MachineStateTracker
    extras: list[Any] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ticker: threading.Thread | None = None

    @classmethod
    def open(
        cls, settings: Settings, *, clock: Clock | None = None, plant: Plant | None = None
    ) -> Platform:
        """Migrate the database, seed it from `plant` when empty, open the historian."""
        clock = clock or SystemClock()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_database_url
        migrate.upgrade(url)
        db = Database(url)
        if plant is not None:
            with db.session() as session:
                if not plant_service.is_seeded(session):
                    plant_service.seed(session, plant, user="system")
                    log.info("seeded the plant model from %s", "the plant file")
        with db.session() as session:
            registry = plant_service.registry(session)
        hist_dir = Path(settings.resolved_historian_dir)
        hist_dir.mkdir(parents=True, exist_ok=True)
        store: EmbeddedStore | PostgresStore
        dead_letters: DeadLetterStore | PostgresDeadLetterStore
        if settings.historian_url:
            store = PostgresStore.open(
                settings.historian_url,
                schema=settings.historian_schema,
                counter_max=_counter_max(registry),
            )
            # Every process's rejects land in the shared database, beside the telemetry.
            dead_letters = PostgresDeadLetterStore(
                settings.historian_url, schema=settings.historian_schema
            )
        else:
            store = EmbeddedStore.open(hist_dir, counter_max=_counter_max(registry))
            dead_letters = DeadLetterStore(hist_dir / "dead_letters.db")
        bus = EventBus()
        relay = OutboxRelay(db, bus)
        table = _tag_table(registry)
        tracker = MachineStateTracker(
            registry, db, notify=relay.notify, stale_after_s=settings.state_stale_after_s
        )
        pipeline = IngestPipeline(
            table,
            store,
            dead_letters,
            clock,
            consumers=[tracker],
            max_future_us=int(settings.max_future_skew_s * US),
            retention_us=int(settings.retention_days * 86_400 * US),
        )
        platform = cls(
            settings, clock, db, bus, relay, store, dead_letters, registry, table, pipeline, tracker
        )
        from ifactory.features import install_all

        install_all(platform)
        return platform

    def start(self) -> None:
        """Start background work: the outbox relay and the silence ticker."""
        self.relay.start()
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="state-ticker", daemon=True)
        self._ticker.start()
        for extra in self.extras:
            extra.start()

    def _tick_loop(self) -> None:
        last_retention = 0.0
        while not self._stop.wait(1.0):
            try:
                self.tracker.tick(self.clock.now_us())
            except Exception:
                log.exception("state ticker failed")
            if time.monotonic() - last_retention >= RETENTION_EVERY_S:
                last_retention = time.monotonic()
                try:
                    self.apply_retention()
                except Exception:
                    log.exception("retention failed; retrying in an hour")

    def apply_retention(self) -> None:
        """Drop telemetry and dead letters older than the retention period (by data time)."""
        cutoff = self.clock.now_us() - int(self.settings.retention_days * 86_400 * US)
        result = self.store.retention(cutoff)
        letters = self.dead_letters.delete_older_than(cutoff)
        if result.blocks or letters:
            log.info("retention: dropped %d points and %d dead letters", result.points, letters)

    def reload_registry(self, session: Any) -> None:
        """Rebuild the plant lookups after the plant model changed through the API."""
        self.registry = plant_service.registry(session)
        self.tracker.registry = self.registry
        self.table = _tag_table(self.registry)
        self.pipeline.set_table(self.table)
        self.store.set_counter_max(_counter_max(self.registry))

    def stop(self) -> None:
        """Stop background work and close the stores (flushing the historian)."""
        for extra in reversed(self.extras):
            extra.stop()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self.relay.stop()
        self.relay.drain()
        self.store.close()
        self.dead_letters.close()
        self.db.dispose()


def _tag_table(registry: PlantRegistry) -> TagTable:
    return TagTable.from_records(
        [
            {
                "id": t.id,
                "key": t.key,
                "data_type": t.data_type,
                "enum": t.enum,
                "counter_max": t.counter_max,
            }
            for t in registry.tags.values()
        ]
    )


def _counter_max(registry: PlantRegistry) -> dict[int, int]:
    """The historian's counter modulus per tag from the plant's `counter_max`.

    The plant file gives the largest value a counter shows: an integer counter shows
    0..counter_max (65535 on a 16-bit PLC counter), so it wraps at counter_max + 1; a
    float meter wraps at counter_max itself.
    """
    return {
        t.id: t.counter_max + 1 if t.data_type == "int" else t.counter_max
        for t in registry.tags.values()
        if t.counter_max is not None
    }
