"""Pydantic schemas of the maintenance API (Create / Update / Read / Page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ifactory.maintenance.lifecycle import Priority, WorkOrderState, WorkOrderType

Criticality = Literal["A", "B", "C"]
AssetStatus = Literal["in_service", "in_store", "in_repair", "scrapped"]
TaskKind = Literal["check", "measurement", "note"]
TaskResult = Literal["pass", "fail", "na"]
FailureKind = Literal["problem", "cause", "remedy"]
EnergySource = Literal[
    "electrical", "pneumatic", "hydraulic", "mechanical", "thermal", "chemical", "gravity", "other"
]
IsoDate = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2024-03-15"])
Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- assets -----------------------------------------------------------------------------------


class AssetCreate(_Strict):
    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="", max_length=64)
    criticality: Criticality = "B"
    manufacturer: str = Field(default="", max_length=200)
    model: str = Field(default="", max_length=200)
    serial_number: str = Field(default="", max_length=200)
    manufactured_on: str | None = IsoDate
    purchased_on: str | None = IsoDate
    warranty_until: str | None = IsoDate
    description: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)


class AssetUpdate(_Strict):
    code: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: str | None = Field(default=None, max_length=64)
    criticality: Criticality | None = None
    status: AssetStatus | None = None
    manufacturer: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    serial_number: str | None = Field(default=None, max_length=200)
    manufactured_on: str | None = IsoDate
    purchased_on: str | None = IsoDate
    warranty_until: str | None = IsoDate
    description: str | None = None
    attributes: dict[str, Any] | None = None


class AssetRead(_Read):
    id: int
    code: str
    name: str
    kind: str
    criticality: str
    status: str
    manufacturer: str
    model: str
    serial_number: str
    manufactured_on: str | None
    purchased_on: str | None
    warranty_until: str | None
    description: str
    attributes: dict[str, Any]
    machine_id: int | None
    position: str
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None


class AssetPage(BaseModel):
    items: list[AssetRead]
    total: int
    offset: int
    limit: int


class InstallationCreate(_Strict):
    machine_id: int
    position: str = Field(default="", max_length=100)
    note: str = ""
    at_us: int | None = Field(default=None, ge=0, description="when (default: now)")
    work_order_id: int | None = None
    replace: bool = Field(
        default=False, description="remove the asset now installed at this position (a swap)"
    )


class RemovalCreate(_Strict):
    note: str = ""
    at_us: int | None = Field(default=None, ge=0)
    status: Literal["in_store", "in_repair", "scrapped"] = "in_store"


class InstallationRead(_Read):
    id: int
    asset_id: int
    machine_id: int
    position: str
    installed_at: datetime
    installed_by: str
    install_note: str
    removed_at: datetime | None
    removed_by: str | None
    remove_note: str
    work_order_id: int | None


class InstallationPage(BaseModel):
    items: list[InstallationRead]
    total: int
    offset: int
    limit: int


class DocumentCreate(_Strict):
    title: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2000)
    kind: Literal["manual", "drawing", "certificate", "datasheet", "photo", "other"] = "manual"


class DocumentRead(_Read):
    id: int
    asset_id: int
    title: str
    url: str
    kind: str
    created_at: datetime
    created_by: str | None


class SparePartSet(_Strict):
    part_id: int
    quantity: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    note: str = ""


class AssetSparePartRead(BaseModel):
    part_id: int
    part_number: str
    name: str
    unit: str
    quantity: float
    note: str


# --- catalogue --------------------------------------------------------------------------------


class CraftCreate(_Strict):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=200)
    hourly_rate: float = Field(ge=0, allow_inf_nan=False)


class CraftUpdate(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    hourly_rate: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class CraftRead(_Read):
    code: str
    name: str
    hourly_rate: float


class FailureCodeCreate(_Strict):
    kind: FailureKind
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""


class FailureCodeUpdate(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    active: bool | None = None


class FailureCodeRead(_Read):
    id: int
    kind: str
    code: str
    name: str
    description: str
    active: bool


# --- work orders ------------------------------------------------------------------------------


class WorkOrderCreate(_Strict):
    machine_id: int
    type: WorkOrderType = WorkOrderType.corrective
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    priority: Priority = Priority.medium
    asset_id: int | None = None
    due_us: int | None = Field(default=None, ge=0)
    state: Literal["requested", "approved", "scheduled"] = "requested"
    craft_code: str | None = None
    estimated_hours: float | None = Field(default=None, gt=0, le=10_000)
    scheduled_start_us: int | None = Field(default=None, ge=0)
    scheduled_end_us: int | None = Field(default=None, ge=0)
    source_key: str | None = Field(
        default=None,
        max_length=200,
        description="idempotency key: creating again with it returns the existing work order",
    )
    evidence: dict[str, Any] | None = None


class WorkRequestCreate(_Strict):
    """What an operator reports: which machine, what is wrong, how urgent."""

    machine_id: int
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(default="", max_length=5000)
    priority: Priority = Priority.medium
    asset_id: int | None = None
    downtime_id: int | None = Field(default=None, description="the stop this request is about")


class WorkOrderUpdate(_Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    priority: Priority | None = None
    asset_id: int | None = None
    due_us: int | None = Field(default=None, ge=0)
    craft_code: str | None = None
    estimated_hours: float | None = Field(default=None, gt=0, le=10_000)
    scheduled_start_us: int | None = Field(default=None, ge=0)
    scheduled_end_us: int | None = Field(default=None, ge=0)
    problem_code_id: int | None = None
    cause_code_id: int | None = None
    remedy_code_id: int | None = None
    resolution: str | None = None


class TransitionCreate(_Strict):
    state: WorkOrderState
    comment: str = Field(default="", max_length=2000)
    scheduled_start_us: int | None = Field(default=None, ge=0)
    scheduled_end_us: int | None = Field(default=None, ge=0)


class TransitionRead(_Read):
    id: int
    work_order_id: int
    from_state: str | None
    to_state: str
    at: datetime
    at_us: int
    username: str
    comment: str


class WorkOrderRead(_Read):
    id: int
    number: str
    machine_id: int
    asset_id: int | None
    type: str
    title: str
    description: str
    priority: str
    state: str
    requested_by: str | None
    craft_code: str | None
    due_us: int | None
    scheduled_start_us: int | None
    scheduled_end_us: int | None
    estimated_hours: float | None
    started_us: int | None
    completed_us: int | None
    closed_us: int | None
    pm_plan_id: int | None
    source_key: str | None
    evidence: dict[str, Any] | None
    parent_id: int | None
    problem_code_id: int | None
    cause_code_id: int | None
    remedy_code_id: int | None
    resolution: str
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None
    allowed_transitions: list[str] = Field(default_factory=list)


class CostRead(BaseModel):
    """Cost of a work order: labour (Σ hours × rate) + parts (Σ quantity × unit cost)."""

    labour_cost: float
    parts_cost: float
    total_cost: float
    labour_hours: float
    downtime_s: float
    tasks_total: int
    tasks_done: int
    tasks_failed: int
    loto_total: int
    loto_confirmed: int


class WorkOrderDetail(WorkOrderRead):
    summary: CostRead
    assignees: list[str]


class WorkOrderPage(BaseModel):
    items: list[WorkOrderRead]
    total: int
    offset: int
    limit: int


class BoardRead(BaseModel):
    """Work orders by state, for the board's columns."""

    columns: dict[str, list[WorkOrderRead]]
    counts: dict[str, int]


# --- checklist, LOTO, people, labour, parts, downtime -----------------------------------------


class TaskCreate(_Strict):
    description: str = Field(min_length=1, max_length=2000)
    kind: TaskKind = "check"
    unit: str = Field(default="", max_length=32)
    lower: float | None = Field(default=None, allow_inf_nan=False)
    upper: float | None = Field(default=None, allow_inf_nan=False)


class TaskResultCreate(_Strict):
    result: TaskResult | None = None
    value: float | None = Field(default=None, allow_inf_nan=False)
    note: str = Field(default="", max_length=5000)
    follow_up: bool = Field(default=False, description="raise a follow-up work order (fail only)")
    follow_up_title: str | None = Field(default=None, max_length=200)


class TaskRead(_Read):
    id: int
    work_order_id: int
    position: int
    description: str
    kind: str
    unit: str
    lower: float | None
    upper: float | None
    result: str | None
    value: float | None
    note: str
    done_by: str | None
    done_at: datetime | None
    follow_up_id: int | None


class LotoStepCreate(_Strict):
    description: str = Field(min_length=1, max_length=2000)
    energy_source: EnergySource = "electrical"
    lock_number: str = Field(default="", max_length=64)


class LotoConfirm(_Strict):
    lock_number: str | None = Field(default=None, max_length=64)


class LotoStepRead(_Read):
    id: int
    work_order_id: int
    position: int
    energy_source: str
    description: str
    lock_number: str
    confirmed_by: str | None
    confirmed_at: datetime | None
    released_by: str | None
    released_at: datetime | None


class AssignmentCreate(_Strict):
    username: str = Field(min_length=1, max_length=64)
    craft_code: str | None = None


class AssignmentRead(_Read):
    work_order_id: int
    username: str
    craft_code: str | None
    assigned_at: datetime
    assigned_by: str


class LabourCreate(_Strict):
    username: str = Field(min_length=1, max_length=64)
    hours: float = Field(gt=0, le=24, allow_inf_nan=False)
    craft_code: str | None = None
    rate: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    work_date: str | None = IsoDate
    note: str = ""


class LabourRead(_Read):
    id: int
    work_order_id: int
    username: str
    craft_code: str | None
    hours: float
    rate: float
    work_date: str | None
    note: str
    entered_by: str
    entered_at: datetime


class PartIssue(_Strict):
    part_id: int
    quantity: float = Field(gt=0, allow_inf_nan=False)
    location_id: int | None = None
    override: bool = False
    override_reason: str | None = Field(default=None, max_length=2000)
    note: str = ""


class PartReturn(_Strict):
    part_id: int
    quantity: float = Field(gt=0, allow_inf_nan=False)
    location_id: int | None = None
    note: str = ""


class PartReserve(_Strict):
    part_id: int
    quantity: float = Field(gt=0, allow_inf_nan=False)
    location_id: int | None = None


class WorkOrderPartRead(_Read):
    id: int
    work_order_id: int
    part_id: int
    quantity: float
    unit_cost: float
    location_id: int | None
    movement_id: int | None
    override: bool
    override_reason: str
    note: str
    issued_by: str
    issued_at: datetime


class ReservationRead(_Read):
    id: int
    part_id: int
    location_id: int | None
    work_order_id: int
    quantity: float
    issued_quantity: float
    state: str


class DowntimeLink(_Strict):
    downtime_id: int


class DowntimeRead(_Read):
    id: int
    machine_id: int
    start_us: int
    end_us: int | None
    states: str
    reason_code: str | None
