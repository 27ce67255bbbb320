"""inventory: spare parts, storage locations, stock ledger, reservations, purchase requisitions

Quantity on hand has no column: it is the sum of `stock_movement.quantity`. `work_order_id`
columns are plain integers (inventory does not depend on maintenance).

Revision ID: inventory
Revises: quality_order_fk
Create Date: 2026-11-25 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ifactory.core.db

revision = "inventory"
down_revision = "quality_order_fk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storage_location",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("store", sa.String(length=100), nullable=False),
        sa.Column("bin", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_location")),
        sa.UniqueConstraint("code", name=op.f("uq_storage_location_code")),
    )
    op.create_table(
        "spare_part",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("part_number", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column("manufacturer", sa.String(length=100), nullable=False),
        sa.Column("manufacturer_part_number", sa.String(length=100), nullable=False),
        sa.Column("min_stock", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column(
            "reorder_point", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=True
        ),
        sa.Column("max_stock", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=True),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column(
            "default_location_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("ledger_version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("min_stock >= 0", name=op.f("ck_spare_part_min_stock_not_negative")),
        sa.CheckConstraint("unit_cost >= 0", name=op.f("ck_spare_part_unit_cost_not_negative")),
        sa.ForeignKeyConstraint(
            ["default_location_id"],
            ["storage_location.id"],
            name=op.f("fk_spare_part_default_location_id_storage_location"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spare_part")),
        sa.UniqueConstraint("part_number", name=op.f("uq_spare_part_part_number")),
    )
    op.create_table(
        "purchase_requisition",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("part_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "available_at_raise", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=True
        ),
        sa.Column(
            "reorder_point", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=True
        ),
        sa.Column("max_stock", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=True),
        sa.Column("needed_by", ifactory.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("erp_reference", sa.String(length=100), nullable=False),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_purchase_requisition_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["part_id"],
            ["spare_part.id"],
            name=op.f("fk_purchase_requisition_part_id_spare_part"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_requisition")),
    )
    op.create_index(
        "ix_purchase_requisition_part_state",
        "purchase_requisition",
        ["part_id", "state"],
        unique=False,
    )
    op.create_table(
        "stock_reservation",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("part_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("work_order_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column(
            "issued_quantity", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("needed_by", ifactory.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_stock_reservation_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["storage_location.id"],
            name=op.f("fk_stock_reservation_location_id_storage_location"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["part_id"],
            ["spare_part.id"],
            name=op.f("fk_stock_reservation_part_id_spare_part"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_reservation")),
    )
    op.create_index(
        "ix_stock_reservation_part_state", "stock_reservation", ["part_id", "state"], unique=False
    )
    op.create_index(
        "ix_stock_reservation_work_order", "stock_reservation", ["work_order_id"], unique=False
    )
    op.create_table(
        "stock_movement",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("part_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("movement_type", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column(
            "balance_after", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column(
            "location_balance_after",
            sa.Numeric(precision=18, scale=4, asdecimal=False),
            nullable=False,
        ),
        sa.Column("unit_cost", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column("occurred_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("work_order_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "reservation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "requisition_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "transfer_of_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("override_by", sa.String(length=64), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["storage_location.id"],
            name=op.f("fk_stock_movement_location_id_storage_location"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["part_id"],
            ["spare_part.id"],
            name=op.f("fk_stock_movement_part_id_spare_part"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requisition_id"],
            ["purchase_requisition.id"],
            name=op.f("fk_stock_movement_requisition_id_purchase_requisition"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["stock_reservation.id"],
            name=op.f("fk_stock_movement_reservation_id_stock_reservation"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["transfer_of_id"],
            ["stock_movement.id"],
            name=op.f("fk_stock_movement_transfer_of_id_stock_movement"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movement")),
    )
    op.create_index(
        op.f("ix_stock_movement_occurred_at"), "stock_movement", ["occurred_at"], unique=False
    )
    op.create_index(
        "ix_stock_movement_part_location",
        "stock_movement",
        ["part_id", "location_id"],
        unique=False,
    )
    op.create_index(
        "ix_stock_movement_work_order", "stock_movement", ["work_order_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_stock_movement_work_order", table_name="stock_movement")
    op.drop_index("ix_stock_movement_part_location", table_name="stock_movement")
    op.drop_index(op.f("ix_stock_movement_occurred_at"), table_name="stock_movement")
    op.drop_table("stock_movement")
    op.drop_index("ix_stock_reservation_work_order", table_name="stock_reservation")
    op.drop_index("ix_stock_reservation_part_state", table_name="stock_reservation")
    op.drop_table("stock_reservation")
    op.drop_index("ix_purchase_requisition_part_state", table_name="purchase_requisition")
    op.drop_table("purchase_requisition")
    op.drop_table("spare_part")
    op.drop_table("storage_location")
