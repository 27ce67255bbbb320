"""The plant file (plant.yaml) as pydantic models: ISA-95 hierarchy, tags, calendars, reasons."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Identifier = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]


class Level(StrEnum):
    """ISA-95 (IEC 62264-1) equipment hierarchy levels, top to bottom."""

    enterprise = "enterprise"
    site = "site"
    area = "area"
    work_center = "work_center"  # production line, process cell, storage zone
    work_unit = "work_unit"  # machine, cell
    equipment_module = "equipment_module"
    control_module = "control_module"


LEVEL_DEPTH = {level: i for i, level in enumerate(Level)}


class DataType(StrEnum):
    float = "float"
    int = "int"
    bool = "bool"
    string = "string"
    enum = "enum"


class TagRole(StrEnum):
    """What a tag means to the platform, so trackers and OEE find the right signal."""

    measurement = "measurement"
    state = "state"  # machine condition, enum mapped to MachineState names
    cycle_counter = "cycle_counter"  # total parts made
    good_counter = "good_counter"
    scrap_counter = "scrap_counter"
    rework_counter = "rework_counter"
    energy = "energy"  # energy meter (counter of kWh)
    current = "current"  # motor current, for derived states
    product = "product"  # product code currently running
    downtime_reason = "downtime_reason"


class MachineState(StrEnum):
    """Machine condition after OPC UA for Machinery (OPC 40001-1) plus "unknown" (no data)."""

    executing = "executing"
    setup = "setup"
    idle = "idle"
    down = "down"
    maintenance = "maintenance"
    unknown = "unknown"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Limits(Model):
    """Engineering range (valid values) and alarm limits."""

    low: float | None = None
    high: float | None = None
    alarm_low: float | None = None
    alarm_high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class TagSpec(Model):
    """One signal of a machine."""

    name: Identifier
    data_type: DataType = DataType.float
    unit: str = ""
    role: TagRole = TagRole.measurement
    description: str = ""
    limits: Limits | None = None
    # enum tags: value -> label; for role=state the labels are MachineState names
    enum: dict[int, str] | None = None
    counter_max: int | None = Field(
        default=None,
        gt=0,
        description="largest value the counter shows before it wraps to 0 (65535 on a 16-bit "
        "PLC counter); a float meter wraps at this value",
    )
    sample_interval_s: float = Field(default=1.0, gt=0)
    # protocol addresses (mqtt topic, opcua node id, modbus register...), used by connectors
    sources: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> TagSpec:
        if self.data_type == DataType.enum and not self.enum:
            raise ValueError("an enum tag needs an 'enum' mapping of values to labels")
        if self.enum and self.data_type != DataType.enum:
            raise ValueError("'enum' is only allowed on tags with data_type enum")
        if self.role == TagRole.state:
            if self.data_type != DataType.enum or not self.enum:
                raise ValueError("a state tag must be an enum mapping values to machine states")
            bad = sorted(set(self.enum.values()) - {s.value for s in MachineState})
            if bad:
                raise ValueError(
                    f"state labels {bad} are not machine states {[s.value for s in MachineState]}"
                )
        if self.role in COUNTER_ROLES and self.data_type not in (DataType.int, DataType.float):
            raise ValueError(f"a {self.role.value} tag must be numeric")
        if self.role == TagRole.product and self.data_type != DataType.string:
            raise ValueError("a product tag must have data_type string")
        return self


COUNTER_ROLES = frozenset(
    {
        TagRole.cycle_counter,
        TagRole.good_counter,
        TagRole.scrap_counter,
        TagRole.rework_counter,
        TagRole.energy,
    }
)


class StateRule(Model):
    """One rule deriving a machine's state from other signals (for machines without a state tag).

    Rules are evaluated in order; the first that matches gives the state.
    """

    state: MachineState
    counter_active: str | None = Field(
        default=None, description="tag whose counter increased within window_s"
    )
    window_s: float = Field(default=60.0, gt=0)
    tag: str | None = None
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _has_condition(self) -> StateRule:
        if self.counter_active is None and self.tag is None:
            raise ValueError("a state rule needs 'counter_active' or 'tag' with 'above'/'below'")
        if self.tag is not None and self.above is None and self.below is None:
            raise ValueError("a state rule on a tag needs 'above' or 'below'")
        return self


class StateDerivation(Model):
    rules: list[StateRule]
    otherwise: MachineState = MachineState.idle


class NodeSpec(Model):
    """A node of the ISA-95 equipment hierarchy; children may be any deeper level."""

    id: Identifier
    name: str = ""
    level: Level
    equipment_class: str | None = Field(default=None, alias="class")
    kind: str | None = Field(
        default=None, description="e.g. production_line, process_cell, storage_zone, utility"
    )
    description: str = ""
    tags: list[TagSpec] = Field(default_factory=list)
    # product code -> ideal cycle time in seconds (ISO 22400-2 planned run time per item)
    ideal_cycle_times: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    state_derivation: StateDerivation | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    children: list[NodeSpec] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> NodeSpec:
        names = [t.name for t in self.tags]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tag names {dupes} appear more than once on node '{self.id}'")
        ids = [c.id for c in self.children]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"child ids {dupes} appear more than once under '{self.id}'")
        for child in self.children:
            if LEVEL_DEPTH[child.level] <= LEVEL_DEPTH[self.level]:
                raise ValueError(
                    f"'{child.id}' ({child.level.value}) cannot sit under '{self.id}' ({self.level.value}):"
                    " a child must be a lower ISA-95 level"
                )
        return self


HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class BreakSpec(Model):
    name: str = "break"
    start: time
    end: time


class ShiftSpec(Model):
    """A recurring shift in site time; it may cross midnight (end before start)."""

    name: str
    start: time
    end: time
    days: list[Weekday] = Field(default_factory=lambda: list(ALL_DAYS))
    breaks: list[BreakSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> ShiftSpec:
        if self.start == self.end:
            raise ValueError("a shift must not start and end at the same time")
        return self


class PlannedStopSpec(Model):
    """A one-off planned stop (planned maintenance, meeting, trial) in site time."""

    name: str
    start: datetime
    end: datetime
    nodes: list[str] = Field(
        default_factory=list, description="node ids it applies to; empty = whole site"
    )

    @model_validator(mode="after")
    def _ordered(self) -> PlannedStopSpec:
        if self.end <= self.start:
            raise ValueError("a planned stop must end after it starts")
        return self


class CalendarSpec(Model):
    shifts: list[ShiftSpec] = Field(default_factory=list)
    planned_stops: list[PlannedStopSpec] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)


class LossCategory(StrEnum):
    """The six big losses (Nakajima), which ISO 22400-2 time elements are grouped into."""

    breakdown = "breakdown"
    setup = "setup"
    minor_stop = "minor_stop"
    reduced_speed = "reduced_speed"
    process_defect = "process_defect"
    startup_reject = "startup_reject"
    planned = "planned"  # planned downtime: not a loss against PBT


class ReasonSpec(Model):
    """A node of the downtime reason tree; leaves inherit the loss category of their parent."""

    code: Identifier
    name: str
    loss: LossCategory | None = None
    children: list[ReasonSpec] = Field(default_factory=list)


class ProductSpec(Model):
    code: Identifier
    name: str = ""


class SiteSettings(Model):
    """Site-level settings: time zone, production-day start, calendar, reasons."""

    timezone: str = "UTC"
    production_day_start: time = time(6, 0)
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{value}'") from exc
        return value


class EquipmentClassSpec(Model):
    """An equipment class (CNC mill, press...): tags and cycle times its members inherit."""

    description: str = ""
    tags: list[TagSpec] = Field(default_factory=list)
    ideal_cycle_times: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    state_derivation: StateDerivation | None = None


class PlantSpec(Model):
    """The whole plant file."""

    version: Literal[1] = 1
    equipment_classes: dict[str, EquipmentClassSpec] = Field(default_factory=dict)
    enterprise: NodeSpec
    sites: dict[str, SiteSettings] = Field(default_factory=dict, description="site id -> settings")
    products: list[ProductSpec] = Field(default_factory=list)
    downtime_reasons: list[ReasonSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> PlantSpec:
        if self.enterprise.level != Level.enterprise:
            raise ValueError("the root node must have level 'enterprise'")
        site_ids = {n.id for n in self.enterprise.children if n.level == Level.site}
        unknown = sorted(set(self.sites) - site_ids)
        if unknown:
            raise ValueError(f"settings for unknown sites {unknown}; sites are {sorted(site_ids)}")
        return self
