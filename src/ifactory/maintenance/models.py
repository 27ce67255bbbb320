"""CMMS tables: serialised assets and their installations, work orders and everything on them.

Functional locations are the machines of the plant model (`plant_node.id`); a serialised asset
(a spindle, a bearing, a pump) is installed in one, and every install/remove is kept in
`asset_installation`, so an asset's history follows it from machine to machine. Inventory part
ids are foreign keys to inventory's `spare_part` (maintenance may depend on inventory).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ifactory.core.db import Audited, Base, utcnow

# Quantities, hours and money: exact decimals in the database, floats in Python (as inventory).
Quantity = Numeric(18, 4, asdecimal=False)
Money = Numeric(18, 4, asdecimal=False)


class Asset(Base, Audited):
    """A serialised asset with its manufacturer data and the machine it is installed in now."""

    __tablename__ = "maintenance_asset"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    # The plant's asset number (e.g. "SP-1001"), printed on the asset label.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64), default="")  # spindle, bearing, pump...
    criticality: Mapped[str] = mapped_column(String(1), default="B")  # A (critical) .. C
    status: Mapped[str] = mapped_column(String(16), default="in_store")
    manufacturer: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    serial_number: Mapped[str] = mapped_column(String(200), default="")
    manufactured_on: Mapped[str | None] = mapped_column(String(10), default=None)  # ISO date
    purchased_on: Mapped[str | None] = mapped_column(String(10), default=None)
    warranty_until: Mapped[str | None] = mapped_column(String(10), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Current functional location (the open installation's machine), None when in store.
    machine_id: Mapped[int | None] = mapped_column(
        ForeignKey("plant_node.id", ondelete="SET NULL"), default=None, index=True
    )
    position: Mapped[str] = mapped_column(String(100), default="")


class AssetInstallation(Base):
    """One stay of an asset in a machine: who installed it when, and who removed it when."""

    __tablename__ = "asset_installation"
    __table_args__ = (Index("ix_asset_installation_machine", "machine_id", "installed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    asset_id: Mapped[int] = mapped_column(
        ForeignKey("maintenance_asset.id", ondelete="CASCADE"), index=True
    )
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    position: Mapped[str] = mapped_column(String(100), default="")
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    installed_by: Mapped[str] = mapped_column(String(64))
    install_note: Mapped[str] = mapped_column(Text, default="")
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    remove_note: Mapped[str] = mapped_column(Text, default="")
    work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_order.id", ondelete="SET NULL"), default=None
    )


class AssetDocument(Base, Audited):
    """A document of an asset (manual, drawing, certificate), as a link."""

    __tablename__ = "asset_document"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    asset_id: Mapped[int] = mapped_column(
        ForeignKey("maintenance_asset.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    kind: Mapped[str] = mapped_column(String(32), default="manual")


class AssetSparePart(Base, Audited):
    """A spare part an asset needs (bill of materials for maintenance), with the quantity fitted."""

    __tablename__ = "asset_spare_part"

    asset_id: Mapped[int] = mapped_column(
        ForeignKey("maintenance_asset.id", ondelete="CASCADE"), primary_key=True
    )
    part_id: Mapped[int] = mapped_column(
        ForeignKey("spare_part.id", ondelete="CASCADE"), primary_key=True
    )
    quantity: Mapped[float] = mapped_column(Quantity, default=1.0)
    note: Mapped[str] = mapped_column(Text, default="")


class Craft(Base, Audited):
    """A trade (mechanic, electrician...) with its standard hourly rate."""

    __tablename__ = "maintenance_craft"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    hourly_rate: Mapped[float] = mapped_column(Money, default=0.0)


class FailureCode(Base, Audited):
    """An entry of the failure code catalogue: a problem, a cause or a remedy."""

    __tablename__ = "failure_code"
    __table_args__ = (UniqueConstraint("kind", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # problem | cause | remedy
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)


class WorkOrder(Base, Audited):
    """A maintenance job on a machine (and optionally one of its assets), through its lifecycle."""

    __tablename__ = "work_order"
    __table_args__ = (Index("ix_work_order_machine_state", "machine_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("maintenance_asset.id", ondelete="SET NULL"), default=None, index=True
    )
    type: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(8), default="medium")
    state: Mapped[str] = mapped_column(String(16), index=True)
    requested_by: Mapped[str | None] = mapped_column(String(64), default=None)
    craft_code: Mapped[str | None] = mapped_column(
        ForeignKey("maintenance_craft.code", ondelete="SET NULL"), default=None
    )
    due_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    scheduled_start_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    scheduled_end_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    estimated_hours: Mapped[float | None] = mapped_column(Float, default=None)
    started_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    completed_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    closed_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The PM plan that generated it (maintenance.pm owns the plan table).
    pm_plan_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    # Idempotency key of automatic creation ("downtime:42", "pm:7:1717200000000000"...).
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    # The triggering event and a link to the historian window it refers to.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # A follow-up work order points at the work order (and checklist item) that raised it.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_order.id", ondelete="SET NULL"), default=None, index=True
    )
    problem_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("failure_code.id", ondelete="SET NULL"), default=None
    )
    cause_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("failure_code.id", ondelete="SET NULL"), default=None
    )
    remedy_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("failure_code.id", ondelete="SET NULL"), default=None
    )
    resolution: Mapped[str] = mapped_column(Text, default="")


class WorkOrderTransition(Base):
    """Who moved a work order from one state to another, and when."""

    __tablename__ = "work_order_transition"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_order.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(16), default=None)
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    at_us: Mapped[int] = mapped_column(BigInteger)
    username: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")


class WorkOrderAssignment(Base):
    """A technician assigned to a work order, in a craft."""

    __tablename__ = "work_order_assignment"

    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_order.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    craft_code: Mapped[str | None] = mapped_column(
        ForeignKey("maintenance_craft.code", ondelete="SET NULL"), default=None
    )
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    assigned_by: Mapped[str] = mapped_column(String(64))


class WorkOrderTask(Base):
    """A checklist item of a work order and its result (pass / fail / a value / a note)."""

    __tablename__ = "work_order_task"
    __table_args__ = (UniqueConstraint("work_order_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_order.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    # check: pass/fail; measurement: a value checked against [lower, upper]; note: free text.
    kind: Mapped[str] = mapped_column(String(16), default="check")
    unit: Mapped[str] = mapped_column(String(32), default="")
    lower: Mapped[float | None] = mapped_column(Float, default=None)
    upper: Mapped[float | None] = mapped_column(Float, default=None)
    result: Mapped[str | None] = mapped_column(String(8), default=None)  # pass | fail | na
    value: Mapped[float | None] = mapped_column(Float, default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    done_by: Mapped[str | None] = mapped_column(String(64), default=None)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    follow_up_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_order.id", ondelete="SET NULL"), default=None
    )


class LotoStep(Base):
    """A lockout/tagout step: an energy source isolated (confirmed) before work, released after."""

    __tablename__ = "loto_step"
    __table_args__ = (UniqueConstraint("work_order_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_order.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    energy_source: Mapped[str] = mapped_column(String(32), default="electrical")
    description: Mapped[str] = mapped_column(Text)
    lock_number: Mapped[str] = mapped_column(String(64), default="")
    confirmed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    released_by: Mapped[str | None] = mapped_column(String(64), default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)


class LabourEntry(Base):
    """Hours a technician worked on a work order, at a rate (cost = hours x rate)."""

    __tablename__ = "labour_entry"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_order.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(64))
    craft_code: Mapped[str | None] = mapped_column(
        ForeignKey("maintenance_craft.code", ondelete="SET NULL"), default=None
    )
    hours: Mapped[float] = mapped_column(Quantity)
    rate: Mapped[float] = mapped_column(Money)
    work_date: Mapped[str | None] = mapped_column(String(10), default=None)  # ISO date
    note: Mapped[str] = mapped_column(Text, default="")
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkOrderPart(Base):
    """A spare part issued from inventory to a work order, at the unit cost of the issue."""

    __tablename__ = "work_order_part"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_order.id", ondelete="CASCADE"), index=True
    )
    part_id: Mapped[int] = mapped_column(
        ForeignKey("spare_part.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[float] = mapped_column(Quantity)
    unit_cost: Mapped[float] = mapped_column(Money, default=0.0)
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("storage_location.id", ondelete="SET NULL"), default=None
    )
    # The inventory ledger entry of the issue (the stock movement this line stands for).
    movement_id: Mapped[int | None] = mapped_column(
        ForeignKey("stock_movement.id", ondelete="SET NULL"), default=None
    )
    override: Mapped[bool] = mapped_column(default=False)
    override_reason: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkOrderDowntime(Base):
    """A downtime event of the machine (production's record) that this work order concerns."""

    __tablename__ = "work_order_downtime"

    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("work_order.id", ondelete="CASCADE"), primary_key=True
    )
    downtime_id: Mapped[int] = mapped_column(
        ForeignKey("downtime_event.id", ondelete="CASCADE"), primary_key=True
    )
    linked_by: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
