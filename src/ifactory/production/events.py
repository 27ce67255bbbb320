"""Events the production domain publishes (through the outbox, with the change they describe)."""

from __future__ import annotations

from ifactory.core.events import Event


class OrderStateChanged(Event):
    """A production order moved from one state to another (planned -> released -> ...)."""

    type = "production.order_state_changed"

    order_id: int
    number: str
    previous: str
    state: str
    at_us: int
    username: str


class DowntimeRecorded(Event):
    """A stop of a machine ended: a downtime event with its span (the CMMS builds on it)."""

    type = "production.downtime_recorded"

    downtime_id: int
    machine_id: int
    start_us: int
    end_us: int
    states: str
    order_id: int | None = None
    reason_code: str | None = None


class DowntimeReasonAssigned(Event):
    """An operator (or a reason tag) gave a downtime event its reason."""

    type = "production.downtime_reason_assigned"

    downtime_id: int
    machine_id: int
    reason_code: str | None
    previous_code: str | None
    loss: str | None
    source: str
    username: str
