"""Pydantic schemas of the quality API (Create / Update / Read / Page)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ifactory.quality.rules import RULES, WESTERN_ELECTRIC

ChartType = Literal["xbar_r", "xbar_s", "imr"]
AttributeChartType = Literal["p", "np", "c", "u"]
LotKind = Literal["raw", "intermediate", "finished"]
HoldOutcome = Literal["released", "scrapped", "rework"]
Disposition = Literal["use_as_is", "rework", "repair", "scrap", "return_to_supplier"]
Severity = Literal["minor", "major", "critical"]
Direction = Literal["forward", "backward"]

Code = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- plans and characteristics ---------------------------------------------------------------


class PlanCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    product_code: str = Field(min_length=1, max_length=64)
    operation: str = Field(default="", max_length=100)
    active: bool = True


class PlanUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    operation: str | None = Field(default=None, max_length=100)
    active: bool | None = None


class PlanRead(_Read):
    id: int
    name: str
    product_code: str
    operation: str
    active: bool


def _rules(value: list[str]) -> list[str]:
    unknown = [r for r in value if r not in RULES]
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    return list(dict.fromkeys(value))


class CharacteristicCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    unit: str = Field(default="", max_length=32)
    nominal: float
    lsl: float | None = None
    usl: float | None = None
    sample_size: int = Field(default=1, ge=1, le=25)
    frequency_parts: int | None = Field(default=None, ge=1)
    frequency_s: float | None = Field(default=None, gt=0)
    chart: ChartType | None = None
    rules: list[str] = Field(default_factory=lambda: list(WESTERN_ELECTRIC))
    baseline_subgroups: int = Field(default=25, ge=2, le=1000)
    tag_id: int | None = None

    _check_rules = field_validator("rules")(_rules)

    @model_validator(mode="after")
    def _consistent(self) -> CharacteristicCreate:
        if self.lsl is not None and self.usl is not None and self.lsl >= self.usl:
            raise ValueError("lsl must be below usl")
        if self.chart is None:
            self.chart = "imr" if self.sample_size == 1 else "xbar_r"
        if (self.chart == "imr") != (self.sample_size == 1):
            raise ValueError("an I-MR chart needs sample_size 1; X̄-R and X̄-S need 2 to 25")
        return self


class CharacteristicUpdate(BaseModel):
    nominal: float | None = None
    lsl: float | None = None
    usl: float | None = None
    frequency_parts: int | None = Field(default=None, ge=1)
    frequency_s: float | None = Field(default=None, gt=0)
    rules: list[str] | None = None
    baseline_subgroups: int | None = Field(default=None, ge=2, le=1000)
    tag_id: int | None = None

    @field_validator("rules")
    @classmethod
    def _check(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _rules(value)


class CharacteristicRead(_Read):
    id: int
    plan_id: int
    name: str
    unit: str
    nominal: float
    lsl: float | None
    usl: float | None
    sample_size: int
    frequency_parts: int | None
    frequency_s: float | None
    chart: str
    rules: list[str]
    baseline_subgroups: int
    tag_id: int | None


# --- measurements and charts --------------------------------------------------------------------


class MeasurementIn(BaseModel):
    value: float = Field(allow_inf_nan=False)
    ts_us: int | None = Field(default=None, ge=0)
    lot_code: str | None = None
    order_id: int | None = None


class MeasurementsCreate(BaseModel):
    measurements: list[MeasurementIn] = Field(min_length=1, max_length=10_000)


class MeasurementRead(_Read):
    id: int
    characteristic_id: int
    ts_us: int
    value: float
    source: str
    lot_id: int | None
    order_id: int | None
    recorded_by: str | None


class ViolationRead(BaseModel):
    """A rule violation; on a chart `index` is the point's position and `points` positions, in
    stored violations `index` is the characteristic id and `points` the pattern's times (µs)."""

    rule: str
    description: str
    index: int
    ts_us: int
    points: list[int]


class LimitsRead(BaseModel):
    center: list[float]
    lcl: list[float]
    ucl: list[float]


class ChartRead(BaseModel):
    characteristic_id: int
    kind: str
    ts_us: list[int]
    values: list[float]
    limits: LimitsRead
    sigma_hat: float | None
    dispersion_kind: str | None
    dispersion: list[float | None]
    dispersion_limits: LimitsRead | None
    lsl: float | None
    usl: float | None
    rules: list[str]
    violations: list[ViolationRead]
    baseline_points: int


class MeasurementsRecorded(BaseModel):
    recorded: int
    violations: list[ViolationRead]


class CapabilityRead(BaseModel):
    characteristic_id: int
    start_us: int | None
    end_us: int | None
    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None


# --- defects, inspections, attribute charts -----------------------------------------------------


class DefectCodeCreate(BaseModel):
    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    category: str = Field(default="", max_length=64)


class DefectCodeRead(_Read):
    code: str
    name: str
    category: str


class InspectionCreate(BaseModel):
    product_code: str
    operation: str = ""
    ts_us: int | None = Field(default=None, ge=0)
    order_id: int | None = None
    lot_code: str | None = None
    inspected: int = Field(ge=1)
    passed_first_time: int = Field(ge=0)
    defects: dict[str, int] = Field(default_factory=dict)
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> InspectionCreate:
        if self.passed_first_time > self.inspected:
            raise ValueError("passed_first_time cannot exceed inspected")
        if any(v < 0 for v in self.defects.values()):
            raise ValueError("defect counts must be ≥ 0")
        return self


class InspectionRead(_Read):
    id: int
    ts_us: int
    product_code: str
    operation: str
    order_id: int | None
    lot_id: int | None
    inspected: int
    passed_first_time: int
    defects: dict[str, int] = Field(default_factory=dict)


class ParetoItem(BaseModel):
    code: str
    name: str
    count: int
    share: float
    cumulative_share: float


class FirstPassYield(BaseModel):
    inspected: int
    passed_first_time: int
    fpy: float | None  # None: nothing inspected ("not applicable", not 0 or 100 %)


class AttributeChartRead(BaseModel):
    kind: str
    ts_us: list[int]
    values: list[float]
    sizes: list[float]
    limits: LimitsRead
    violations: list[ViolationRead]


# --- lots, genealogy, holds, NCRs ---------------------------------------------------------------


class LotCreate(BaseModel):
    code: str = Code
    material: str = Field(min_length=1, max_length=100)
    kind: LotKind = "raw"
    quantity: float = Field(default=0.0, ge=0)
    unit: str = Field(default="", max_length=32)
    supplier: str = Field(default="", max_length=200)


class LotRead(_Read):
    id: int
    code: str
    material: str
    kind: str
    quantity: float
    unit: str
    status: str
    order_id: int | None
    machine_id: int | None
    operator: str | None
    start_us: int | None
    end_us: int | None
    supplier: str


class LotPage(BaseModel):
    items: list[LotRead]
    total: int
    offset: int
    limit: int


class SerialsCreate(BaseModel):
    serials: list[str] = Field(min_length=1, max_length=10_000)


class ConsumptionCreate(BaseModel):
    lot_code: str
    quantity: float = Field(gt=0)
    ts_us: int | None = Field(default=None, ge=0)


class ProductionCreate(BaseModel):
    lot: LotCreate
    machine_id: int | None = None
    start_us: int = Field(ge=0)
    end_us: int = Field(ge=0)

    @model_validator(mode="after")
    def _window(self) -> ProductionCreate:
        if self.end_us <= self.start_us:
            raise ValueError("end_us must be after start_us")
        return self


class TagCondition(BaseModel):
    tag_id: int
    name: str
    unit: str
    twa: float | None  # time-weighted average over the production window (None: no data)
    min: float | None
    max: float | None


class TraceNode(BaseModel):
    lot: LotRead
    depth: int
    machine: str | None
    conditions: list[TagCondition]
    repeated: bool = False  # already shown elsewhere in the tree (reached by another path)
    children: list[TraceNode]


class TraceRead(BaseModel):
    direction: Direction
    root: TraceNode
    lots: int
    max_depth_reached: int


class HoldCreate(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    ncr_id: int | None = None


class HoldClose(BaseModel):
    outcome: HoldOutcome
    note: str = Field(default="", max_length=2000)


class HoldRead(_Read):
    id: int
    lot_id: int
    reason: str
    status: str
    outcome_note: str
    ncr_id: int | None
    created_by: str | None
    closed_by: str | None
    closed_at_us: int | None


class NcrCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    severity: Severity = "minor"
    lot_code: str | None = None
    characteristic_id: int | None = None
    defect_code: str | None = None
    order_id: int | None = None
    quantity: float | None = Field(default=None, ge=0)


class NcrDisposition(BaseModel):
    disposition: Disposition
    note: str = Field(default="", max_length=10_000)


class NcrRead(_Read):
    id: int
    title: str
    description: str
    severity: str
    status: str
    lot_id: int | None
    characteristic_id: int | None
    defect_code: str | None
    order_id: int | None
    quantity: float | None
    disposition: str | None
    disposition_note: str
    created_by: str | None
    updated_by: str | None
