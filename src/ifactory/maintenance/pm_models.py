"""Preventive maintenance tables: plans, their triggers, generated occurrences, meters, signals.

A plan targets one machine, every machine of an equipment class, or one serialised asset (in
the machine it is installed in). Each generated (or skipped) occurrence is one row, unique on
(plan, key): that row is written in the same transaction as its work order, which is what
makes generation idempotent across restarts and concurrent generators.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ifactory.core.db import Audited, Base


class PMPlan(Base, Audited):
    """A preventive maintenance plan: what to do (tasks), on what, and when (its triggers)."""

    __tablename__ = "pm_plan"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Target: exactly one of machine, equipment class (all its machines) or asset.
    machine_id: Mapped[int | None] = mapped_column(
        ForeignKey("plant_node.id", ondelete="CASCADE"), default=None, index=True
    )
    equipment_class: Mapped[str | None] = mapped_column(String(64), default=None)
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("maintenance_asset.id", ondelete="CASCADE"), default=None
    )
    work_order_type: Mapped[str] = mapped_column(String(16), default="preventive")
    priority: Mapped[str] = mapped_column(String(8), default="medium")
    tasks: Mapped[list[Any]] = mapped_column(default=list)
    estimated_hours: Mapped[float] = mapped_column(Float, default=1.0)
    # Machine stop the job needs (for placing it into planned stops).
    duration_s: Mapped[int] = mapped_column(BigInteger, default=3600)
    combine: Mapped[str] = mapped_column(String(3), default="any")  # any | all
    lead_time_s: Mapped[int] = mapped_column(BigInteger, default=0)
    holiday_rule: Mapped[str] = mapped_column(String(16), default="next_working_day")
    holidays: Mapped[list[Any]] = mapped_column(default=list)  # extra ISO dates of the plan
    skip_every: Mapped[int | None] = mapped_column(Integer, default=None)
    start_us: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(default=True)

    triggers: Mapped[list[PMTrigger]] = relationship(
        back_populates="plan",
        cascade="all, delete-orphan",
        order_by="PMTrigger.position",
        lazy="selectin",
    )


class PMTrigger(Base):
    """One trigger of a plan (calendar, meter or condition); its settings are in `params`."""

    __tablename__ = "pm_trigger"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("pm_plan.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)

    plan: Mapped[PMPlan] = relationship(back_populates="triggers")


class PMOccurrence(Base):
    """One due point of a plan on one machine: generated as a work order, or skipped by rule."""

    __tablename__ = "pm_occurrence"
    __table_args__ = (
        UniqueConstraint("plan_id", "key"),
        Index("ix_pm_occurrence_plan_machine_seq", "plan_id", "machine_id", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("pm_plan.id", ondelete="CASCADE"))
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    # The due point after the holiday rule, and the nominal one (the fixed grid's point).
    due_us: Mapped[int] = mapped_column(BigInteger)
    nominal_us: Mapped[int] = mapped_column(BigInteger)
    generated_us: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # generated | skipped
    work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_order.id", ondelete="SET NULL"), default=None, index=True
    )
    # Which triggers fired, with their meter values / condition windows.
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Per trigger id: the meter reading the next cycle counts from (and threshold arming).
    baselines: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PMMeterReading(Base):
    """A checkpoint of a machine's meter (run hours, cycles, energy): cumulative value at a time."""

    __tablename__ = "pm_meter_reading"
    __table_args__ = (
        UniqueConstraint("machine_id", "meter", "at_us"),
        Index("ix_pm_meter_reading_machine_meter", "machine_id", "meter", "at_us"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    meter: Mapped[str] = mapped_column(String(16))
    at_us: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="historian")  # historian | manual
    entered_by: Mapped[str | None] = mapped_column(String(64), default=None)


class PMSignal(Base):
    """A bus event about a machine (e.g. an anomaly) kept for condition triggers to match."""

    __tablename__ = "pm_signal"
    __table_args__ = (
        UniqueConstraint("event_id", "machine_id"),
        Index("ix_pm_signal_machine_type_at", "machine_id", "event_type", "at_us"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36))
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(100))
    at_us: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
