"""A breakdown opens a corrective work order by itself, once per breakdown.

A breakdown is a downtime event in the breakdown loss category: its reason's loss category
(production's reason tree) when it has a reason, else by the rule OEE uses for stops nobody
explained (production/oee.py): a stop longer than the machine's minor-stop threshold, here
only when the machine was *down* (a failure, OPC 40001-1), since a long idle or setup stop is
no job for maintenance.

The work order is keyed `downtime:<id>` and each event is handled once per consumer
(`outbox.handle_once`), so a redelivered or replayed event never opens a second one. On start
the recent downtime is scanned as well, so a breakdown whose event was missed (the service was
down, a handler failed) still gets its work order.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ifactory.core import outbox
from ifactory.core.audit import SYSTEM
from ifactory.core.events import Event
from ifactory.maintenance import service
from ifactory.maintenance.evidence import evidence
from ifactory.maintenance.models import WorkOrder, WorkOrderDowntime
from ifactory.plant.registry import PlantRegistry
from ifactory.production import downtime as production_downtime
from ifactory.production import reports
from ifactory.production.events import DowntimeReasonAssigned, DowntimeRecorded
from ifactory.production.models import DowntimeEvent

if TYPE_CHECKING:
    from ifactory.platform import Platform

log = logging.getLogger(__name__)
US = 1_000_000
CONSUMER = "maintenance.breakdowns"
BREAKDOWN = "breakdown"
CATCH_UP_US = 7 * 86_400 * US
NO_REASON = "down, no reason booked yet"


def source_key(downtime_id: int) -> str:
    """The idempotency key of the work order of a downtime event."""
    return f"downtime:{downtime_id}"


def is_breakdown(
    session: Session,
    registry: PlantRegistry,
    event: DowntimeEvent,
    *,
    reasons: dict[str, production_downtime.Reason] | None = None,
) -> bool:
    """Whether a downtime event is a breakdown (by its reason, else by the stop rule)."""
    if event.reason_code is not None:
        if reasons is None:
            reasons = production_downtime.reason_tree(session)
        reason = reasons.get(event.reason_code)
        if reason is not None and reason.loss is not None:
            return reason.loss == BREAKDOWN
    if event.end_us is None or "down" not in event.states.split(","):
        return False
    threshold_s = reports.minor_stop_threshold(session, registry, event.machine_id)
    return event.end_us - event.start_us >= threshold_s * US


def open_for(
    session: Session,
    registry: PlantRegistry,
    event: DowntimeEvent,
    *,
    trigger: Event | None,
    now_us: int,
    reasons: dict[str, production_downtime.Reason] | None = None,
) -> WorkOrder | None:
    """The corrective work order of a breakdown (created once; None if it is no breakdown)."""
    if reasons is None:
        reasons = production_downtime.reason_tree(session)
    if not is_breakdown(session, registry, event, reasons=reasons):
        return None
    key = source_key(event.id)
    reason = reasons.get(event.reason_code) if event.reason_code else None
    node = registry.nodes.get(event.machine_id)
    machine = node.name or node.key if node is not None else str(event.machine_id)
    existing = service.get_by_source_key(session, source_key=key)
    if existing is not None:
        if reason is not None and existing.title.endswith(NO_REASON):
            # The operator booked the reason after the work order opened: name it.
            service.update_work_order(
                session,
                work_order=existing,
                changes={"title": f"Breakdown of {machine}: {reason.name}"[:200]},
                actor=SYSTEM,
            )
        return existing
    end = event.end_us if event.end_us is not None else now_us
    minutes = (end - event.start_us) / US / 60
    what = reason.name if reason is not None else NO_REASON
    cause = trigger or DowntimeRecorded(
        downtime_id=event.id,
        machine_id=event.machine_id,
        start_us=event.start_us,
        end_us=end,
        states=event.states,
        order_id=event.order_id,
        reason_code=event.reason_code,
    )
    wo = service.create_work_order(
        session,
        machine_id=event.machine_id,
        type="corrective",
        title=f"Breakdown of {machine}: {what}"[:200],
        description=(
            f"The machine stopped ({event.states or 'down'}) for {minutes:.0f} min"
            + (" and is still down" if event.end_us is None else "")
            + (f"; reason {reason.code} ({reason.name})" if reason is not None else "")
            + (f"; production order {event.order_id} was running" if event.order_id else "")
            + "."
        ),
        priority="high",
        actor=SYSTEM,
        source_key=key,
        evidence=evidence(
            registry, cause, machine_id=event.machine_id, start_us=event.start_us, end_us=end
        ),
        state="approved",
        now_us=now_us,
    )
    if session.get(WorkOrderDowntime, (wo.id, event.id)) is None:
        session.add(WorkOrderDowntime(work_order_id=wo.id, downtime_id=event.id, linked_by=SYSTEM))
        session.flush()
    return wo


def withdraw(
    session: Session, registry: PlantRegistry, *, event: Event, now_us: int
) -> WorkOrder | None:
    """Cancel the automatic work order of a stop re-booked as no breakdown, if nobody took it up.

    Only a work order still as it was opened (approved, never scheduled or started) is
    cancelled, with the re-booking as the reason; one already planned or worked on stays. A
    stop whose reason was cleared is judged by the rule again (a long stop when down stays a
    breakdown).
    """
    if not isinstance(event, DowntimeReasonAssigned) or event.loss == BREAKDOWN:
        return None
    wo = service.get_by_source_key(session, source_key=source_key(event.downtime_id))
    if wo is None or wo.state not in ("requested", "approved"):
        return None
    row = session.get(DowntimeEvent, event.downtime_id)
    if row is None or is_breakdown(session, registry, row):
        return None
    booked = event.reason_code or "no reason"
    return service.transition(
        session,
        work_order_id=wo.id,
        to="cancelled",
        actor=SYSTEM,
        now_us=now_us,
        comment=f"the stop was re-booked to {booked} ({event.loss or 'no loss category'}) "
        f"by {event.username}: not a breakdown",
    )


class BreakdownWatcher:
    """Subscribes to production's downtime events while the platform runs."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._unsubscribe: list[Any] = []

    def on_event(self, event: Event) -> None:
        """Open the work order of the breakdown `event` describes (once per event and breakdown)."""
        if not isinstance(event, DowntimeRecorded | DowntimeReasonAssigned):
            return
        downtime_id = event.downtime_id
        if isinstance(event, DowntimeReasonAssigned) and event.loss != BREAKDOWN:

            def unbook(session: Session, e: Event) -> None:
                withdraw(
                    session, self.platform.registry, event=e, now_us=self.platform.clock.now_us()
                )

            outbox.handle_once(self.platform.db, CONSUMER, event, unbook)
            self.platform.relay.notify()
            return

        def handle(session: Session, e: Event) -> None:
            row = session.get(DowntimeEvent, downtime_id)
            if row is not None:
                open_for(
                    session,
                    self.platform.registry,
                    row,
                    trigger=e,
                    now_us=self.platform.clock.now_us(),
                )

        outbox.handle_once(self.platform.db, CONSUMER, event, handle)
        self.platform.relay.notify()

    def catch_up(self, *, lookback_us: int = CATCH_UP_US) -> int:
        """Open the work orders of recent breakdowns that have none; returns how many."""
        now = self.platform.clock.now_us()
        made = 0
        with self.platform.db.session() as session:
            linked = select(WorkOrderDowntime.downtime_id)
            rows = session.scalars(
                select(DowntimeEvent)
                .where(DowntimeEvent.start_us >= now - lookback_us, DowntimeEvent.id.not_in(linked))
                .order_by(DowntimeEvent.start_us)
            ).all()
            reasons = production_downtime.reason_tree(session)
            for row in rows:
                if service.get_by_source_key(session, source_key=source_key(row.id)) is not None:
                    continue
                if open_for(
                    session, self.platform.registry, row, trigger=None, now_us=now, reasons=reasons
                ):
                    made += 1
        if made:
            log.info("opened %d work orders for breakdowns recorded while not watching", made)
            self.platform.relay.notify()
        return made

    def start(self) -> None:
        """Follow the downtime events, then catch up on recent breakdowns (no gap in between)."""
        for event_type in (DowntimeRecorded.type, DowntimeReasonAssigned.type):
            self._unsubscribe.append(self.platform.bus.subscribe(event_type, self.on_event))
        try:
            self.catch_up()
        except Exception:
            log.exception("could not catch up on recent breakdowns")

    def stop(self) -> None:
        """Stop following downtime events."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()


def get(platform: Platform) -> BreakdownWatcher | None:
    """The platform's breakdown watcher, if installed."""
    return next((e for e in platform.extras if isinstance(e, BreakdownWatcher)), None)


def install(platform: Platform) -> None:
    """Open a corrective work order for every breakdown (a platform extra started with it)."""
    if get(platform) is None:
        platform.extras.append(BreakdownWatcher(platform))
