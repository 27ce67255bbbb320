"""The plant model in the database: ISA-95 nodes, tags, classes, products, sites, reasons."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ifactory.core.db import Audited, Base


class EquipmentClass(Base, Audited):
    """A class of equipment (CNC mill, press...) with the template its members inherit."""

    __tablename__ = "equipment_class"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    template: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PlantNode(Base, Audited):
    """A node of the equipment hierarchy; `key` (ids joined by '/') is its stable identity."""

    __tablename__ = "plant_node"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("plant_node.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    equipment_class: Mapped[str | None] = mapped_column(
        ForeignKey("equipment_class.name"), default=None
    )
    kind: Mapped[str | None] = mapped_column(String(64), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    uns_path: Mapped[str] = mapped_column(String(512))
    state_derivation: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    tags: Mapped[list[Tag]] = relationship(
        back_populates="node", order_by="Tag.position", cascade="all, delete-orphan"
    )
    cycle_times: Mapped[list[IdealCycleTime]] = relationship(cascade="all, delete-orphan")

    @property
    def node_id(self) -> str:
        """The node's own id (last part of the key)."""
        return self.key.rsplit("/", 1)[-1]


class Tag(Base, Audited):
    """A signal of a node, with its type, unit, role and protocol addresses."""

    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("node_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    node_id: Mapped[int] = mapped_column(
        ForeignKey("plant_node.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(600), unique=True)
    data_type: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(32), default="")
    role: Mapped[str] = mapped_column(String(32), default="measurement")
    description: Mapped[str] = mapped_column(Text, default="")
    limits: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    enum: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    counter_max: Mapped[int | None] = mapped_column(default=None)
    sample_interval_s: Mapped[float] = mapped_column(Float, default=1.0)
    sources: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    node: Mapped[PlantNode] = relationship(back_populates="tags")


class IdealCycleTime(Base):
    """Ideal cycle time of a product on a machine (ISO 22400-2 planned run time per item)."""

    __tablename__ = "ideal_cycle_time"

    node_id: Mapped[int] = mapped_column(
        ForeignKey("plant_node.id", ondelete="CASCADE"), primary_key=True
    )
    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    seconds: Mapped[float] = mapped_column(Float)


class Product(Base, Audited):
    __tablename__ = "product"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class Site(Base, Audited):
    """Site settings: time zone, production-day start and calendar (validated as SiteSettings)."""

    __tablename__ = "site"

    node_id: Mapped[int] = mapped_column(
        ForeignKey("plant_node.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DowntimeReason(Base, Audited):
    """A node of the downtime reason tree; its loss category is inherited by children."""

    __tablename__ = "downtime_reason"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("downtime_reason.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    loss: Mapped[str | None] = mapped_column(String(32), default=None)
