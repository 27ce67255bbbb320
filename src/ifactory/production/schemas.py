"""Pydantic schemas of the production API (Create / Update / Read / Page)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ifactory.plant.spec import CalendarSpec


class OrderState(StrEnum):
    """Life cycle of a production order."""

    planned = "planned"
    released = "released"
    running = "running"
    paused = "paused"
    completed = "completed"
    closed = "closed"


# Allowed transitions; anything else is refused with a 409 naming the allowed targets.
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.planned: frozenset({OrderState.released, OrderState.closed}),
    OrderState.released: frozenset({OrderState.running, OrderState.planned, OrderState.closed}),
    OrderState.running: frozenset({OrderState.paused, OrderState.completed}),
    OrderState.paused: frozenset({OrderState.running, OrderState.completed}),
    OrderState.completed: frozenset({OrderState.closed}),
    OrderState.closed: frozenset(),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OperationIn(Strict):
    """An operation on a machine or a machine group, by node key."""

    seq: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=200)
    machine: str | None = Field(default=None, description="machine node key")
    machine_group: str | None = Field(default=None, description="line / work center node key")
    ideal_cycle_s: float | None = Field(default=None, gt=0)
    setup_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _target(self) -> OperationIn:
        if (self.machine is None) == (self.machine_group is None):
            raise ValueError("give exactly one of 'machine' or 'machine_group'")
        return self


class RoutingCreate(Strict):
    product_code: str
    name: str = Field(min_length=1, max_length=200)
    operations: list[OperationIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_seq(self) -> RoutingCreate:
        seqs = [o.seq for o in self.operations]
        if len(set(seqs)) != len(seqs):
            raise ValueError("operation sequence numbers must be unique")
        return self


class OperationRead(BaseModel):
    id: int
    seq: int
    name: str
    machine: str | None
    machine_group: str | None
    ideal_cycle_s: float | None
    setup_s: float


class RoutingRead(BaseModel):
    id: int
    product_code: str
    name: str
    operations: list[OperationRead]


class OrderCreate(Strict):
    number: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")
    product_code: str
    quantity: float = Field(gt=0)
    due_at: datetime | None = None
    priority: int = Field(default=0, ge=0, le=1000)
    routing_id: int | None = None

    @model_validator(mode="after")
    def _aware(self) -> OrderCreate:
        if self.due_at is not None and self.due_at.tzinfo is None:
            raise ValueError("due_at needs a time zone (e.g. 2026-11-30T14:00:00+01:00)")
        return self


class OrderUpdate(Strict):
    quantity: float | None = Field(default=None, gt=0)
    due_at: datetime | None = None
    priority: int | None = Field(default=None, ge=0, le=1000)


class TransitionIn(Strict):
    state: OrderState
    comment: str = Field(default="", max_length=2000)


class DispatchIn(Strict):
    machine: str = Field(description="machine node key")


class TransitionRead(BaseModel):
    from_state: str
    to_state: str
    at: datetime
    username: str
    comment: str


class OperationProgress(BaseModel):
    id: int
    seq: int
    name: str
    machine: str | None
    machine_group: str | None
    ideal_cycle_s: float | None
    setup_s: float
    total: float | None = None
    good: float | None = None
    scrap: float | None = None
    rework: float | None = None
    run_s: float = 0.0
    oee: dict[str, Any] | None = Field(
        default=None, description="OEE of the operation's time on its machine (OEEResult)"
    )


class OrderRead(BaseModel):
    id: int
    number: str
    product_code: str
    routing_id: int | None
    quantity: float
    due_at: datetime | None
    priority: int
    state: OrderState
    allowed: list[OrderState]
    released_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    created_by: str | None
    updated_by: str | None
    operations: list[OperationProgress]
    transitions: list[TransitionRead] = Field(default_factory=list)
    good: float | None = None
    scrap: float | None = None
    progress: float | None = None


class OrderPage(BaseModel):
    items: list[OrderRead]
    total: int


class DowntimeRead(BaseModel):
    id: int
    machine_id: int
    machine: str
    start_us: int
    end_us: int | None
    duration_s: float
    states: str
    order_id: int | None
    reason_code: str | None
    reason_name: str | None
    loss: str | None
    reason_source: str | None
    comment: str
    updated_by: str | None


class DowntimePage(BaseModel):
    items: list[DowntimeRead]
    total: int


class ReasonAssign(Strict):
    reason_code: str | None = Field(description="a leaf or node of the reason tree; null clears")
    comment: str = Field(default="", max_length=2000)


class ReasonRead(BaseModel):
    code: str
    name: str
    loss: str | None
    parent: str | None
    leaf: bool


class ParetoRow(BaseModel):
    reason_code: str | None
    reason_name: str
    loss: str | None
    seconds: float
    count: int
    cumulative_pct: float


class Pareto(BaseModel):
    by_time: list[ParetoRow]
    by_count: list[ParetoRow]


class CalendarRead(BaseModel):
    site: str
    timezone: str
    production_day_start: str
    calendar: CalendarSpec


class CalendarUpdate(Strict):
    calendar: CalendarSpec


class OEERead(BaseModel):
    """An OEE result (see production.oee.OEEResult.as_dict) for one scope and interval."""

    scope: str
    key: str
    start_us: int
    end_us: int
    label: str = ""
    target: float | None = None
    # Output at the target OEE (ideal output x target) against the good output made.
    target_output: float | None = None
    actual_output: float | None = None
    result: dict[str, Any]
    machines: list[OEERead] = Field(default_factory=list)
