"""Quality and traceability tables: inspection plans, measurements, defects, lots, holds, NCRs.

`order_id` columns are foreign keys to production orders (`production_order.id`, by table name
only: the quality package never imports the production package).
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
from sqlalchemy.orm import Mapped, mapped_column

from ifactory.core.db import Audited, Base


class InspectionPlan(Base, Audited):
    """What to inspect for a product at an operation."""

    __tablename__ = "inspection_plan"
    __table_args__ = (UniqueConstraint("product_code", "operation", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    product_code: Mapped[str] = mapped_column(
        ForeignKey("product.code", ondelete="CASCADE"), index=True
    )
    operation: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(default=True)


class Characteristic(Base, Audited):
    """A measured characteristic: nominal, tolerances, subgroup size, frequency, chart and rules."""

    __tablename__ = "quality_characteristic"
    __table_args__ = (UniqueConstraint("plan_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("inspection_plan.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(32), default="")
    nominal: Mapped[float] = mapped_column(Float)
    lsl: Mapped[float | None] = mapped_column(Float, default=None)
    usl: Mapped[float | None] = mapped_column(Float, default=None)
    sample_size: Mapped[int] = mapped_column(Integer, default=1)
    # How often a subgroup is taken: every `frequency_parts` parts or `frequency_s` seconds.
    frequency_parts: Mapped[int | None] = mapped_column(Integer, default=None)
    frequency_s: Mapped[float | None] = mapped_column(Float, default=None)
    chart: Mapped[str] = mapped_column(String(16), default="imr")
    rules: Mapped[list[Any]] = mapped_column(default=list)
    baseline_subgroups: Mapped[int] = mapped_column(Integer, default=25)
    # A tag whose samples are measurements of this characteristic (e.g. a CNC `dimension`).
    tag_id: Mapped[int | None] = mapped_column(
        ForeignKey("tag.id", ondelete="SET NULL"), default=None, index=True
    )


class Measurement(Base):
    """One measured value of a characteristic (from the API or from a tag)."""

    __tablename__ = "quality_measurement"
    __table_args__ = (Index("ix_quality_measurement_char_ts", "characteristic_id", "ts_us"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    characteristic_id: Mapped[int] = mapped_column(
        ForeignKey("quality_characteristic.id", ondelete="CASCADE")
    )
    ts_us: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="api")
    lot_id: Mapped[int | None] = mapped_column(
        ForeignKey("material_lot.id", ondelete="SET NULL"), default=None
    )
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_order.id", ondelete="SET NULL"), default=None
    )
    recorded_by: Mapped[str | None] = mapped_column(String(64), default=None)


class SpcViolation(Base):
    """A rule violation already signalled (so each one is published once)."""

    __tablename__ = "spc_violation"
    __table_args__ = (UniqueConstraint("characteristic_id", "rule", "ts_us"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    characteristic_id: Mapped[int] = mapped_column(
        ForeignKey("quality_characteristic.id", ondelete="CASCADE"), index=True
    )
    rule: Mapped[str] = mapped_column(String(16))
    ts_us: Mapped[int] = mapped_column(BigInteger)  # time of the point where the rule fired
    points_ts_us: Mapped[list[Any]] = mapped_column(default=list)
    value: Mapped[float] = mapped_column(Float)
    detected_at_us: Mapped[int] = mapped_column(BigInteger)


class DefectCode(Base, Audited):
    """A kind of defect (scratch, porosity...), for the Pareto."""

    __tablename__ = "defect_code"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64), default="")


class InspectionRecord(Base, Audited):
    """An attribute inspection: how many parts were inspected and passed the first time."""

    __tablename__ = "inspection_record"
    __table_args__ = (Index("ix_inspection_record_product_ts", "product_code", "ts_us"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ts_us: Mapped[int] = mapped_column(BigInteger)
    product_code: Mapped[str] = mapped_column(ForeignKey("product.code", ondelete="CASCADE"))
    operation: Mapped[str] = mapped_column(String(100), default="")
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_order.id", ondelete="SET NULL"), default=None
    )
    lot_id: Mapped[int | None] = mapped_column(
        ForeignKey("material_lot.id", ondelete="SET NULL"), default=None
    )
    inspected: Mapped[int] = mapped_column(Integer)
    passed_first_time: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")


class DefectCount(Base):
    """Defects of one code found in one inspection."""

    __tablename__ = "defect_count"

    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("inspection_record.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(ForeignKey("defect_code.code"), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class MaterialLot(Base, Audited):
    """A lot of material: raw, intermediate or finished; produced by an order or received."""

    __tablename__ = "material_lot"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    material: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="raw")
    quantity: Mapped[float] = mapped_column(Float, default=0.0)
    unit: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16), default="available")
    # How it was made (None for received material).
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_order.id", ondelete="SET NULL"), default=None, index=True
    )
    machine_id: Mapped[int | None] = mapped_column(
        ForeignKey("plant_node.id", ondelete="SET NULL"), default=None
    )
    operator: Mapped[str | None] = mapped_column(String(64), default=None)
    start_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    end_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    supplier: Mapped[str] = mapped_column(String(200), default="")


class SerialNumber(Base, Audited):
    """A serialised unit and the lot it belongs to."""

    __tablename__ = "serial_number"

    serial: Mapped[str] = mapped_column(String(100), primary_key=True)
    lot_id: Mapped[int] = mapped_column(
        ForeignKey("material_lot.id", ondelete="CASCADE"), index=True
    )


class LotConsumption(Base, Audited):
    """An order consumed (some of) a lot."""

    __tablename__ = "lot_consumption"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("production_order.id", ondelete="CASCADE"), index=True
    )
    lot_id: Mapped[int] = mapped_column(ForeignKey("material_lot.id", ondelete="CASCADE"))
    quantity: Mapped[float] = mapped_column(Float)
    ts_us: Mapped[int] = mapped_column(BigInteger)


class LotLink(Base):
    """A genealogy edge: `input_lot_id` went into `output_lot_id` (through `order_id`)."""

    __tablename__ = "lot_link"
    __table_args__ = (
        UniqueConstraint("input_lot_id", "output_lot_id"),
        Index("ix_lot_link_output", "output_lot_id", "input_lot_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    input_lot_id: Mapped[int] = mapped_column(ForeignKey("material_lot.id", ondelete="CASCADE"))
    output_lot_id: Mapped[int] = mapped_column(ForeignKey("material_lot.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_order.id", ondelete="SET NULL"), default=None
    )
    quantity: Mapped[float | None] = mapped_column(Float, default=None)


class QualityHold(Base, Audited):
    """A hold on a lot: open until released, scrapped or sent to rework."""

    __tablename__ = "quality_hold"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(
        ForeignKey("material_lot.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    ncr_id: Mapped[int | None] = mapped_column(
        ForeignKey("non_conformance.id", ondelete="SET NULL"), default=None
    )
    closed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    closed_at_us: Mapped[int | None] = mapped_column(BigInteger, default=None)


class NonConformance(Base, Audited):
    """A non-conformance report: what is wrong, and what is decided (disposition)."""

    __tablename__ = "non_conformance"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16), default="minor")
    status: Mapped[str] = mapped_column(String(16), default="open")
    lot_id: Mapped[int | None] = mapped_column(
        ForeignKey("material_lot.id", ondelete="SET NULL"), default=None, index=True
    )
    characteristic_id: Mapped[int | None] = mapped_column(
        ForeignKey("quality_characteristic.id", ondelete="SET NULL"), default=None
    )
    defect_code: Mapped[str | None] = mapped_column(ForeignKey("defect_code.code"), default=None)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_order.id", ondelete="SET NULL"), default=None
    )
    quantity: Mapped[float | None] = mapped_column(Float, default=None)
    disposition: Mapped[str | None] = mapped_column(String(32), default=None)
    disposition_note: Mapped[str] = mapped_column(Text, default="")
