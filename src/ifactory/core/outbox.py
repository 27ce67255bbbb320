"""Transactional outbox: events are stored with the change they describe, then relayed to the bus.

Delivery is at least once; consumers make handling idempotent by event id with `handle_once`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ifactory.core.bus import EventBus
from ifactory.core.db import Base, Database, utcnow
from ifactory.core.events import Event, decode

log = logging.getLogger(__name__)


class OutboxRecord(Base):
    """An event waiting to be (or already) delivered."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class HandledEvent(Base):
    """Which consumer has handled which event: makes redelivery harmless."""

    __tablename__ = "handled_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(default=utcnow)


def add(session: Session, event: Event) -> None:
    """Record `event` in the outbox within the caller's transaction."""
    session.add(
        OutboxRecord(
            event_id=str(event.event_id), type=event.type, payload=event.model_dump(mode="json")
        )
    )


def add_all(session: Session, events: Sequence[Event]) -> None:
    """Record many events in the outbox with one bulk insert, in the caller's transaction."""
    if events:
        session.connection().execute(
            insert(OutboxRecord.__table__),  # type: ignore[arg-type]
            [
                {
                    "event_id": str(e.event_id),
                    "type": e.type,
                    "payload": e.model_dump(mode="json"),
                    "created_at": utcnow(),
                    "delivered_at": None,
                }
                for e in events
            ],
        )


def handle_once(
    db: Database, consumer: str, event: Event, fn: Callable[[Session, Event], None]
) -> bool:
    """Run `fn` for `event` unless `consumer` already did; the mark commits with fn's changes."""
    with db.session() as session:
        done = session.get(HandledEvent, (consumer, str(event.event_id)))
        if done is not None:
            return False
        fn(session, event)
        session.add(HandledEvent(consumer=consumer, event_id=str(event.event_id)))
        try:
            session.flush()
        except IntegrityError:
            # Another worker handled it concurrently: roll back our copy of the effects.
            session.rollback()
            return False
    return True


class OutboxRelay:
    """Moves committed outbox records onto the bus, oldest first, marking each delivered."""

    def __init__(
        self, db: Database, bus: EventBus, *, poll_s: float = 0.5, batch: int = 500
    ) -> None:
        self.db = db
        self.bus = bus
        self.poll_s = poll_s
        self.batch = batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def notify(self) -> None:
        """Tell the relay that new records were committed (it also polls)."""
        self._wake.set()

    def drain(self) -> int:
        """Deliver every pending record now; returns how many were delivered."""
        total = 0
        with self._lock:
            while True:
                with self.db.session() as session:
                    rows = session.scalars(
                        select(OutboxRecord)
                        .where(OutboxRecord.delivered_at.is_(None))
                        .order_by(OutboxRecord.id)
                        .limit(self.batch)
                    ).all()
                    if not rows:
                        return total
                    for row in rows:
                        try:
                            event = decode(row.type, row.payload)
                        except (KeyError, ValueError):
                            log.exception(
                                "outbox record %s has an undecodable event; skipped", row.id
                            )
                        else:
                            self.bus.publish(event)
                        # Marked after publishing: a crash in between redelivers (at least once).
                        row.delivered_at = utcnow()
                    total += len(rows)

    def purge(self, older_than: datetime) -> int:
        """Delete delivered records older than `older_than`."""
        with self.db.session() as session:
            result = session.execute(
                delete(OutboxRecord).where(
                    OutboxRecord.delivered_at.is_not(None), OutboxRecord.delivered_at < older_than
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def start(self) -> None:
        """Relay in a background thread until `stop`."""
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:
                log.exception("outbox relay failed; retrying")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    @property
    def running(self) -> bool:
        """True while the relay thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
