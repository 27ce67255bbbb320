"""Production ORM models: routings, production orders, order-on-machine intervals, downtime."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ifactory.core.db import Audited, Base, utcnow


class Routing(Base, Audited):
    """The ordered operations that make a product."""

    __tablename__ = "routing"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    product_code: Mapped[str] = mapped_column(
        ForeignKey("product.code", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    operations: Mapped[list[RoutingOperation]] = relationship(
        order_by="RoutingOperation.seq", cascade="all, delete-orphan"
    )


class RoutingOperation(Base):
    """One step of a routing, on a machine or on any machine of a group (a line / work center)."""

    __tablename__ = "routing_operation"
    __table_args__ = (UniqueConstraint("routing_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    routing_id: Mapped[int] = mapped_column(ForeignKey("routing.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    machine_id: Mapped[int | None] = mapped_column(ForeignKey("plant_node.id"), default=None)
    machine_group_id: Mapped[int | None] = mapped_column(ForeignKey("plant_node.id"), default=None)
    # ISO 22400-2 PRI, planned run time per item; None = the machine's ideal cycle time
    ideal_cycle_s: Mapped[float | None] = mapped_column(Float, default=None)
    setup_s: Mapped[float] = mapped_column(Float, default=0.0)


class ProductionOrder(Base, Audited):
    """A production order: quantity of a product by a due date, moving through its states."""

    __tablename__ = "production_order"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("product.code"), index=True)
    routing_id: Mapped[int | None] = mapped_column(ForeignKey("routing.id"), default=None)
    quantity: Mapped[float] = mapped_column(Float)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="planned", index=True)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)

    operations: Mapped[list[OrderOperation]] = relationship(
        order_by="OrderOperation.seq", cascade="all, delete-orphan"
    )
    transitions: Mapped[list[OrderTransition]] = relationship(
        order_by="OrderTransition.id", cascade="all, delete-orphan"
    )


class OrderOperation(Base):
    """An operation of an order, dispatched to one machine."""

    __tablename__ = "order_operation"
    __table_args__ = (UniqueConstraint("order_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("production_order.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    machine_id: Mapped[int | None] = mapped_column(ForeignKey("plant_node.id"), default=None)
    machine_group_id: Mapped[int | None] = mapped_column(ForeignKey("plant_node.id"), default=None)
    ideal_cycle_s: Mapped[float | None] = mapped_column(Float, default=None)
    setup_s: Mapped[float] = mapped_column(Float, default=0.0)


class OrderTransition(Base):
    """Who moved an order from one state to another, and when."""

    __tablename__ = "order_transition"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("production_order.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    at_us: Mapped[int] = mapped_column(BigInteger)
    username: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")


class OrderMachineInterval(Base):
    """[start_us, end_us) during which an order's operation ran on a machine (end NULL: running)."""

    __tablename__ = "order_machine_interval"
    __table_args__ = (Index("ix_order_machine_interval_machine_start", "machine_id", "start_us"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("production_order.id", ondelete="CASCADE"), index=True
    )
    operation_id: Mapped[int] = mapped_column(ForeignKey("order_operation.id", ondelete="CASCADE"))
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    start_us: Mapped[int] = mapped_column(BigInteger)
    end_us: Mapped[int | None] = mapped_column(BigInteger, default=None)


class DowntimeEvent(Base, Audited):
    """A stop of a machine derived from its state history, with the reason given to it."""

    __tablename__ = "downtime_event"
    __table_args__ = (
        UniqueConstraint("machine_id", "start_us"),
        Index("ix_downtime_event_start", "start_us"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    start_us: Mapped[int] = mapped_column(BigInteger)
    end_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    states: Mapped[str] = mapped_column(String(64), default="")  # e.g. "down" or "idle,down"
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_order.id", ondelete="SET NULL"), default=None
    )
    reason_code: Mapped[str | None] = mapped_column(
        ForeignKey("downtime_reason.code", ondelete="SET NULL"), default=None
    )
    reason_source: Mapped[str | None] = mapped_column(String(16), default=None)  # operator|tag
    comment: Mapped[str] = mapped_column(Text, default="")
