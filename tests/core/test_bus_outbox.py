"""Event bus and outbox: isolated listeners, unsubscribe, at-least-once delivery, idempotent handling."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from ifactory.core import outbox
from ifactory.core.bus import EventBus
from ifactory.core.db import Database
from ifactory.core.events import Event
from ifactory.core.outbox import OutboxRecord, OutboxRelay


class WidgetMade(Event):
    type = "test.widget_made"

    widget: str


def test_failing_listener_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[str] = []

    def broken(_: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe("test.*", broken)
    unsubscribe = bus.subscribe("test.widget_made", lambda e: got.append(e.widget))  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR):
        bus.publish(WidgetMade(widget="a"))
    assert got == ["a"]
    assert "boom" in caplog.text
    unsubscribe()
    bus.publish(WidgetMade(widget="b"))
    assert got == ["a"]


def test_outbox_delivers_only_committed_events_in_order(db: Database) -> None:
    bus = EventBus()
    got: list[str] = []
    bus.subscribe("*", lambda e: got.append(e.widget))  # type: ignore[attr-defined]
    relay = OutboxRelay(db, bus)
    with db.session() as session:
        outbox.add(session, WidgetMade(widget="first"))
        outbox.add(session, WidgetMade(widget="second"))
    with pytest.raises(RuntimeError), db.session() as session:
        outbox.add(session, WidgetMade(widget="rolled back"))
        raise RuntimeError("the change failed, so its event must not exist")
    assert relay.drain() == 2
    assert got == ["first", "second"]
    assert relay.drain() == 0


def test_redelivery_is_handled_once(db: Database) -> None:
    """A crash between publish and marking redelivers; handle_once makes that harmless."""
    bus = EventBus()
    effects: list[str] = []

    def handler(event: Event) -> None:
        outbox.handle_once(db, "counter", event, lambda _s, e: effects.append(e.widget))  # type: ignore[attr-defined]

    bus.subscribe("test.widget_made", handler)
    with db.session() as session:
        outbox.add(session, WidgetMade(widget="w1"))
    relay = OutboxRelay(db, bus)
    relay.drain()
    # Simulate the crash: the record is marked undelivered again and relayed a second time.
    with db.session() as session:
        for row in session.scalars(select(OutboxRecord)):
            row.delivered_at = None
    relay.drain()
    assert effects == ["w1"]
