"""Pydantic schemas of the anomaly alerts and machine health (what the API reads and writes)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

AlertState = Literal["active", "acknowledged", "cleared"]


class AlertTag(BaseModel):
    """A tag in an alert's evidence."""

    id: int
    key: str
    name: str
    unit: str


class AlertRead(BaseModel):
    """An anomaly alert with its evidence window (UTC µs, data time)."""

    id: int
    machine_id: int
    machine_key: str
    machine_name: str
    state: AlertState
    detector: str
    tags: list[AlertTag]
    score: float
    threshold: float
    peak_ratio: float
    window_start_us: int
    window_end_us: int
    raised_at_us: int
    cleared_at_us: int | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_comment: str


class AlertPage(BaseModel):
    """A page of alerts and the number matching the filter."""

    items: list[AlertRead]
    total: int


class AlertAcknowledge(BaseModel):
    """What the person acknowledging says (optional)."""

    comment: str = Field(default="", max_length=2000)


class ScorePoint(BaseModel):
    """The largest anomaly score ratio of a machine in one minute (1.0 = alert threshold)."""

    minute_us: int
    ratio: float


class RulPointRead(BaseModel):
    """A remaining-useful-life estimate: median and band in hours from `at_us`."""

    at_us: int
    rul_h: float
    lo_h: float
    hi_h: float
    alarm: bool


class MachineHealth(BaseModel):
    """A machine's health over a window: score trend, RUL trend (None: no prediction), alerts."""

    machine_id: int
    machine_key: str
    machine_name: str
    start_us: int
    end_us: int
    scores: list[ScorePoint]
    rul: list[RulPointRead] | None
    open_alerts: list[AlertRead]


class MachineRiskRead(BaseModel):
    """A machine in the plant-wide risk ranking."""

    machine_id: int
    key: str
    name: str
    equipment_class: str | None
    open_alerts: int
    unacknowledged: int
    score_ratio: float | None
    rul: RulPointRead | None
    risk: float


class RiskRanking(BaseModel):
    """Machines by decreasing risk; `rul_available` is False when no RUL prediction runs."""

    now_us: int
    rul_available: bool
    machines: list[MachineRiskRead]
