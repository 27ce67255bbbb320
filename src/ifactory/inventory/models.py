"""Spare parts, storage locations, the stock ledger, reservations and purchase requisitions.

The quantity on hand is never stored: it is the sum of a part's ledger entries
(`stock_movement.quantity`, signed). `spare_part.ledger_version` is no quantity; it is bumped by
every ledger write so that writers serialise on the part row (a row lock on PostgreSQL, the
database write lock on SQLite) before they read the balance they check.

`work_order_id` columns are plain integers, not foreign keys: inventory does not depend on
maintenance (maintenance calls inventory, not the other way round).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ifactory.core.db import Audited, Base, utcnow

# Quantities and costs: exact decimals on PostgreSQL, returned as floats to Python.
Quantity = Numeric(18, 4, asdecimal=False)
Money = Numeric(18, 4, asdecimal=False)


class MovementType(StrEnum):
    """Kinds of ledger entries."""

    RECEIPT = "receipt"  # goods received into a location (+)
    ISSUE = "issue"  # parts taken out, usually for a work order (-)
    ADJUSTMENT = "adjustment"  # stocktake correction to the counted quantity (+/-)
    RETURN = "return"  # unused parts brought back to stock (+)
    TRANSFER = "transfer"  # moved between locations: one entry out (-) and one in (+)


class ReservationState(StrEnum):
    """Lifecycle of a reservation."""

    OPEN = "open"
    CONSUMED = "consumed"  # fully issued
    RELEASED = "released"  # given back (work order cancelled or closed)


class RequisitionState(StrEnum):
    """Lifecycle of a purchase requisition."""

    OPEN = "open"
    ORDERED = "ordered"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class StorageLocation(Base, Audited):
    """A place parts are kept: a store (stores room, line-side cabinet) and a bin in it."""

    __tablename__ = "storage_location"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    store: Mapped[str] = mapped_column(String(100))
    bin: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SparePart(Base, Audited):
    """A stocked spare part with its planning parameters (min / reorder point / max, lead time)."""

    __tablename__ = "spare_part"
    __table_args__ = (
        CheckConstraint("min_stock >= 0", name="min_stock_not_negative"),
        CheckConstraint("unit_cost >= 0", name="unit_cost_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    part_number: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str] = mapped_column(String(16), default="pc")
    unit_cost: Mapped[float] = mapped_column(Money, default=0.0)
    manufacturer: Mapped[str] = mapped_column(String(100), default="")
    manufacturer_part_number: Mapped[str] = mapped_column(String(100), default="")
    min_stock: Mapped[float] = mapped_column(Quantity, default=0.0)
    # A requisition is raised when available stock falls below the reorder point.
    reorder_point: Mapped[float | None] = mapped_column(Quantity, default=None)
    max_stock: Mapped[float | None] = mapped_column(Quantity, default=None)
    lead_time_days: Mapped[int] = mapped_column(Integer, default=0)
    default_location_id: Mapped[int | None] = mapped_column(
        ForeignKey("storage_location.id", ondelete="SET NULL"), default=None
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped by every ledger write: the lock writers take before reading the balance.
    ledger_version: Mapped[int] = mapped_column(BigInteger, default=0)


class StockMovement(Base):
    """One ledger entry (append-only): a signed quantity of a part at a location."""

    __tablename__ = "stock_movement"
    __table_args__ = (
        Index("ix_stock_movement_part_location", "part_id", "location_id"),
        Index("ix_stock_movement_work_order", "work_order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("spare_part.id", ondelete="RESTRICT"))
    location_id: Mapped[int] = mapped_column(ForeignKey("storage_location.id", ondelete="RESTRICT"))
    movement_type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[float] = mapped_column(Quantity)  # signed: + into stock, - out of stock
    # The part's balances right after this entry (all locations / this location).
    balance_after: Mapped[float] = mapped_column(Quantity)
    location_balance_after: Mapped[float] = mapped_column(Quantity)
    unit_cost: Mapped[float] = mapped_column(Money, default=0.0)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    recorded_by: Mapped[str] = mapped_column(String(64))
    work_order_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("stock_reservation.id", ondelete="SET NULL"), default=None
    )
    requisition_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_requisition.id", ondelete="SET NULL"), default=None
    )
    # The other half of a transfer.
    transfer_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("stock_movement.id", ondelete="SET NULL"), default=None
    )
    reference: Mapped[str] = mapped_column(String(100), default="")  # delivery note, count sheet
    reason: Mapped[str] = mapped_column(Text, default="")
    # Set when stock was allowed to go below what was available: who allowed it and why.
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    override_by: Mapped[str | None] = mapped_column(String(64), default=None)
    override_reason: Mapped[str | None] = mapped_column(Text, default=None)


class Reservation(Base, Audited):
    """Parts held for a (scheduled) work order; they are not available to anybody else."""

    __tablename__ = "stock_reservation"
    __table_args__ = (
        Index("ix_stock_reservation_part_state", "part_id", "state"),
        Index("ix_stock_reservation_work_order", "work_order_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("spare_part.id", ondelete="CASCADE"))
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("storage_location.id", ondelete="SET NULL"), default=None
    )
    work_order_id: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[float] = mapped_column(Quantity)
    issued_quantity: Mapped[float] = mapped_column(Quantity, default=0.0)
    state: Mapped[str] = mapped_column(String(16), default=ReservationState.OPEN.value)
    needed_by: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def open_quantity(self) -> float:
        """What is still held: reserved minus already issued (0 unless open)."""
        if self.state != ReservationState.OPEN:
            return 0.0
        return max(0.0, float(self.quantity) - float(self.issued_quantity or 0.0))


class PurchaseRequisition(Base, Audited):
    """A request to buy a part (raised at the reorder point), picked up by ERP integration."""

    __tablename__ = "purchase_requisition"
    __table_args__ = (
        Index("ix_purchase_requisition_part_state", "part_id", "state"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("spare_part.id", ondelete="CASCADE"))
    quantity: Mapped[float] = mapped_column(Quantity)
    state: Mapped[str] = mapped_column(String(16), default=RequisitionState.OPEN.value)
    # The situation that raised it (for the buyer and the audit).
    available_at_raise: Mapped[float | None] = mapped_column(Quantity, default=None)
    reorder_point: Mapped[float | None] = mapped_column(Quantity, default=None)
    max_stock: Mapped[float | None] = mapped_column(Quantity, default=None)
    needed_by: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    erp_reference: Mapped[str] = mapped_column(String(100), default="")
