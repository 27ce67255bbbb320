"""Events the maintenance domain publishes (through the outbox, with the change they describe)."""

from __future__ import annotations

from ifactory.core.events import Event


class WorkOrderCreated(Event):
    """A work order was created (by a person, a PM plan, a breakdown or another event)."""

    type = "maintenance.work_order_created"

    work_order_id: int
    number: str
    machine_id: int
    asset_id: int | None = None
    work_type: str
    priority: str
    state: str
    title: str
    source_key: str | None = None
    pm_plan_id: int | None = None
    parent_id: int | None = None
    username: str


class WorkOrderStateChanged(Event):
    """A work order moved from one state to another."""

    type = "maintenance.work_order_state_changed"

    work_order_id: int
    number: str
    machine_id: int
    work_type: str
    previous: str
    state: str
    at_us: int
    username: str
    pm_plan_id: int | None = None
