"""quality: foreign keys from every quality `order_id` column to production_order.id

Batch mode, so SQLite (which cannot ALTER a constraint in place) recreates the tables and
PostgreSQL adds the constraints directly.

Revision ID: quality_order_fk
Revises: quality_lots_spc
Create Date: 2026-11-24 23:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "quality_order_fk"
down_revision = "quality_lots_spc"
branch_labels = None
depends_on = None

# (table, ON DELETE): consumptions belong to their order; the other rows outlive it.
_TABLES = (
    ("quality_measurement", "SET NULL"),
    ("inspection_record", "SET NULL"),
    ("material_lot", "SET NULL"),
    ("lot_consumption", "CASCADE"),
    ("lot_link", "SET NULL"),
    ("non_conformance", "SET NULL"),
)


def upgrade() -> None:
    for table, ondelete in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_order_id_production_order"),
                "production_order",
                ["order_id"],
                ["id"],
                ondelete=ondelete,
            )


def downgrade() -> None:
    for table, _ in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f(f"fk_{table}_order_id_production_order"), type_="foreignkey"
            )
