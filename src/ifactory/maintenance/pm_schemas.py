"""Pydantic schemas of PM plans, triggers, occurrences, meters, forecast and reliability."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

WorkOrderType = Literal["preventive", "predictive", "inspection", "improvement"]
Priority = Literal["low", "medium", "high", "urgent"]
Meter = Literal["run_hours", "cycles", "energy", "tag"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CalendarTrigger(_Model):
    """Every `every` `unit`: fixed from the plan's start, or floating from the last completion."""

    kind: Literal["calendar"] = "calendar"
    every: Annotated[float, Field(gt=0)]
    unit: Literal["hours", "days", "weeks", "months"] = "days"
    mode: Literal["fixed", "floating"] = "fixed"

    @model_validator(mode="after")
    def _whole_months(self) -> CalendarTrigger:
        if self.unit == "months" and self.every != int(self.every):
            raise ValueError("a monthly interval must be a whole number of months")
        return self


class MeterTrigger(_Model):
    """A meter reading: every N units, at a milestone, or above / below a threshold.

    `meter` is run hours (from machine states), cycles (the cycle counter), energy (the
    energy counter, or the integral of a `power` tag), or `tag`: the value of the machine's
    tag named `tag_name` (e.g. an hour meter or a filter's differential pressure).
    """

    kind: Literal["meter"] = "meter"
    meter: Meter
    mode: Literal["every", "milestone", "above", "below"] = "every"
    value: float
    tag_name: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _check(self) -> MeterTrigger:
        if self.meter == "tag" and not self.tag_name:
            raise ValueError("a tag meter needs `tag_name`")
        if self.meter != "tag" and self.tag_name:
            raise ValueError("`tag_name` is only for meter 'tag'")
        if self.mode == "every" and self.value <= 0:
            raise ValueError("an 'every' meter interval must be > 0")
        if self.mode in ("above", "below") and self.meter != "tag":
            raise ValueError("thresholds above/below apply to a tag meter (a gauge reading)")
        return self


class ConditionTrigger(_Model):
    """A condition from the stream: a tag beyond a limit for a duration, and/or a bus event."""

    kind: Literal["condition"] = "condition"
    tag_name: str | None = Field(default=None, max_length=100)
    operator: Literal["above", "below"] = "above"
    limit: float | None = None
    duration_s: Annotated[float, Field(ge=60, le=7 * 86_400)] = 600.0
    event_type: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _check(self) -> ConditionTrigger:
        if self.tag_name is None and self.event_type is None:
            raise ValueError("a condition needs a tag (with a limit) or an event type")
        if self.tag_name is not None and self.limit is None:
            raise ValueError("a tag condition needs a `limit`")
        return self


class PlanTask(_Model):
    """A checklist item every generated work order gets (a check, a measurement, a note)."""

    description: str = Field(min_length=1, max_length=2000)
    kind: Literal["check", "measurement", "note"] = "check"
    unit: str = Field(default="", max_length=32)
    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"description": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _limits(self) -> PlanTask:
        if self.kind != "measurement" and (self.lower is not None or self.upper is not None):
            raise ValueError("only a measurement has limits")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError("lower limit above upper limit")
        return self


TriggerSpec = Annotated[
    CalendarTrigger | MeterTrigger | ConditionTrigger, Field(discriminator="kind")
]


class TriggerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    kind: str
    params: dict[str, Any]


class PlanBase(_Model):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    work_order_type: WorkOrderType = "preventive"
    priority: Priority = "medium"
    tasks: list[PlanTask] = Field(default_factory=list, max_length=200)
    estimated_hours: Annotated[float, Field(ge=0, le=10_000)] = 1.0
    duration_s: Annotated[int, Field(ge=0, le=30 * 86_400)] = 3600
    combine: Literal["any", "all"] = "any"
    lead_time_s: Annotated[int, Field(ge=0, le=366 * 86_400)] = 0
    holiday_rule: Literal["next_working_day", "ignore"] = "next_working_day"
    holidays: list[date] = Field(default_factory=list)
    skip_every: Annotated[int, Field(ge=2)] | None = None
    active: bool = True


class PlanCreate(PlanBase):
    """A new plan: one target (machine, equipment class or asset) and at least one trigger."""

    machine_id: int | None = None
    equipment_class: str | None = Field(default=None, max_length=64)
    asset_id: int | None = None
    start_us: int | None = Field(
        default=None,
        description="where counting starts (when the job was last done); default now. The "
        "first calendar due point is one interval later.",
    )
    triggers: list[TriggerSpec] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _one_target(self) -> PlanCreate:
        given = [x for x in (self.machine_id, self.equipment_class, self.asset_id) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of machine_id, equipment_class, asset_id")
        return self


class PlanUpdate(_Model):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    work_order_type: WorkOrderType | None = None
    priority: Priority | None = None
    tasks: list[PlanTask] | None = None
    estimated_hours: Annotated[float, Field(ge=0, le=10_000)] | None = None
    duration_s: Annotated[int, Field(ge=0, le=30 * 86_400)] | None = None
    combine: Literal["any", "all"] | None = None
    lead_time_s: Annotated[int, Field(ge=0, le=366 * 86_400)] | None = None
    holiday_rule: Literal["next_working_day", "ignore"] | None = None
    holidays: list[date] | None = None
    skip_every: Annotated[int, Field(ge=2)] | None = None
    active: bool | None = None
    triggers: list[TriggerSpec] | None = Field(default=None, min_length=1, max_length=10)


class PlanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    machine_id: int | None
    equipment_class: str | None
    asset_id: int | None
    work_order_type: str
    priority: str
    tasks: list[Any]
    estimated_hours: float
    duration_s: int
    combine: str
    lead_time_s: int
    holiday_rule: str
    holidays: list[Any]
    skip_every: int | None
    start_us: int
    active: bool
    triggers: list[TriggerRead]


class NextDueRead(BaseModel):
    """The next due point of a plan on one machine (None: not predictable, e.g. a condition)."""

    plan_id: int
    machine_id: int
    machine_key: str
    seq: int
    due_us: int | None
    nominal_us: int | None
    projected: bool
    triggers: list[dict[str, Any]]


class OccurrenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    plan_id: int
    machine_id: int
    key: str
    seq: int
    due_us: int
    nominal_us: int
    generated_us: int
    status: str
    work_order_id: int | None
    evidence: dict[str, Any]


class GenerationRead(BaseModel):
    generated: int
    skipped: int
    conflicts: int
    work_order_ids: list[int]


class ForecastJobRead(BaseModel):
    plan_id: int
    plan_name: str
    machine_id: int
    machine_key: str
    seq: int
    due_us: int
    projected: bool
    duration_s: int
    estimated_hours: float
    skipped: bool
    slot_start_us: int | None
    slot_end_us: int | None
    placement: str  # "planned stop" | "no fitting stop" | "skipped"
    trigger: str


class ForecastRead(BaseModel):
    start_us: int
    end_us: int
    weeks: int
    jobs: list[ForecastJobRead]


class MeterRead(BaseModel):
    machine_id: int
    machine_key: str
    meter: str
    unit: str
    value: float | None
    at_us: int
    rate_per_day: float | None
    source: str


class MeterReadingCreate(_Model):
    """A manual meter reading (e.g. the hour counter when the meter is first set up)."""

    machine_id: int
    meter: Literal["run_hours", "cycles", "energy"]
    value: float = Field(ge=0)
    at_us: int | None = None


class MeterReadingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    machine_id: int
    meter: str
    at_us: int
    value: float
    source: str
    entered_by: str | None


class KpiValue(BaseModel):
    """A KPI value, or None with the reason it is not applicable."""

    value: float | None
    reason: str | None


class ReliabilityRead(BaseModel):
    """MTBF, MTTR and availability of a machine (or of a component, `asset_id` set)."""

    machine_id: int
    machine_key: str
    asset_id: int | None
    asset_code: str | None = None
    start_us: int
    end_us: int
    operating_h: float
    failures: int
    ttr_h: float
    mtbf_h: KpiValue
    mttr_h: KpiValue
    availability: KpiValue
    ongoing_failure: bool
    tbf_h: list[float]
    failure_starts_us: list[int]
    unlinked_corrective_work_orders: int


class KpisRead(BaseModel):
    """Maintenance KPIs of a period (backlog and age: as of now)."""

    start_us: int
    end_us: int
    pm_due: int
    pm_on_time: int
    pm_compliance: KpiValue
    planned_h: float
    unplanned_h: float
    planned_ratio: KpiValue
    backlog_count: int
    backlog_estimated_h: float
    backlog_without_estimate: int
    mean_age_days: KpiValue
