"""maintenance: serialised assets and installations, crafts, failure codes, work orders with
their transitions, checklists, lockout/tagout, labour, parts and downtime links

Revision ID: maintenance
Revises: analytics_alerts
Create Date: 2026-11-25 00:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ifactory.core.db

revision = "maintenance"
# Chained after the current head so that one head exists; the lead re-chains the release.
down_revision = "analytics_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "failure_code",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failure_code")),
        sa.UniqueConstraint("kind", "code", name=op.f("uq_failure_code_kind")),
    )
    op.create_table(
        "maintenance_craft",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "hourly_rate", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_maintenance_craft")),
    )
    op.create_table(
        "maintenance_asset",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("criticality", sa.String(length=1), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("manufacturer", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("serial_number", sa.String(length=200), nullable=False),
        sa.Column("manufactured_on", sa.String(length=10), nullable=True),
        sa.Column("purchased_on", sa.String(length=10), nullable=True),
        sa.Column("warranty_until", sa.String(length=10), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column(
            "machine_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("position", sa.String(length=100), nullable=False),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["plant_node.id"],
            name=op.f("fk_maintenance_asset_machine_id_plant_node"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_asset")),
        sa.UniqueConstraint("code", name=op.f("uq_maintenance_asset_code")),
    )
    op.create_index(
        op.f("ix_maintenance_asset_machine_id"), "maintenance_asset", ["machine_id"], unique=False
    )
    op.create_table(
        "asset_document",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("asset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["maintenance_asset.id"],
            name=op.f("fk_asset_document_asset_id_maintenance_asset"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_document")),
    )
    op.create_index(
        op.f("ix_asset_document_asset_id"), "asset_document", ["asset_id"], unique=False
    )
    op.create_table(
        "asset_spare_part",
        sa.Column("asset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("part_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["maintenance_asset.id"],
            name=op.f("fk_asset_spare_part_asset_id_maintenance_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["part_id"],
            ["spare_part.id"],
            name=op.f("fk_asset_spare_part_part_id_spare_part"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "part_id", name=op.f("pk_asset_spare_part")),
    )
    op.create_table(
        "work_order",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column(
            "machine_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("asset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("craft_code", sa.String(length=32), nullable=True),
        sa.Column("due_us", sa.BigInteger(), nullable=True),
        sa.Column("scheduled_start_us", sa.BigInteger(), nullable=True),
        sa.Column("scheduled_end_us", sa.BigInteger(), nullable=True),
        sa.Column("estimated_hours", sa.Float(), nullable=True),
        sa.Column("started_us", sa.BigInteger(), nullable=True),
        sa.Column("completed_us", sa.BigInteger(), nullable=True),
        sa.Column("closed_us", sa.BigInteger(), nullable=True),
        sa.Column("pm_plan_id", sa.BigInteger(), nullable=True),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "problem_code_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "cause_code_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "remedy_code_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["maintenance_asset.id"],
            name=op.f("fk_work_order_asset_id_maintenance_asset"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cause_code_id"],
            ["failure_code.id"],
            name=op.f("fk_work_order_cause_code_id_failure_code"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["craft_code"],
            ["maintenance_craft.code"],
            name=op.f("fk_work_order_craft_code_maintenance_craft"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["plant_node.id"],
            name=op.f("fk_work_order_machine_id_plant_node"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_parent_id_work_order"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["problem_code_id"],
            ["failure_code.id"],
            name=op.f("fk_work_order_problem_code_id_failure_code"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["remedy_code_id"],
            ["failure_code.id"],
            name=op.f("fk_work_order_remedy_code_id_failure_code"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order")),
        sa.UniqueConstraint("number", name=op.f("uq_work_order_number")),
        sa.UniqueConstraint("source_key", name=op.f("uq_work_order_source_key")),
    )
    op.create_index(op.f("ix_work_order_asset_id"), "work_order", ["asset_id"], unique=False)
    op.create_index(
        "ix_work_order_machine_state", "work_order", ["machine_id", "state"], unique=False
    )
    op.create_index(op.f("ix_work_order_parent_id"), "work_order", ["parent_id"], unique=False)
    op.create_index(op.f("ix_work_order_pm_plan_id"), "work_order", ["pm_plan_id"], unique=False)
    op.create_index(op.f("ix_work_order_state"), "work_order", ["state"], unique=False)
    op.create_index(op.f("ix_work_order_type"), "work_order", ["type"], unique=False)
    op.create_table(
        "asset_installation",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("asset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "machine_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.String(length=100), nullable=False),
        sa.Column("installed_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("installed_by", sa.String(length=64), nullable=False),
        sa.Column("install_note", sa.Text(), nullable=False),
        sa.Column("removed_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=64), nullable=True),
        sa.Column("remove_note", sa.Text(), nullable=False),
        sa.Column(
            "work_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["maintenance_asset.id"],
            name=op.f("fk_asset_installation_asset_id_maintenance_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["plant_node.id"],
            name=op.f("fk_asset_installation_machine_id_plant_node"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_asset_installation_work_order_id_work_order"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_installation")),
    )
    op.create_index(
        op.f("ix_asset_installation_asset_id"), "asset_installation", ["asset_id"], unique=False
    )
    op.create_index(
        "ix_asset_installation_machine",
        "asset_installation",
        ["machine_id", "installed_at"],
        unique=False,
    )
    op.create_table(
        "labour_entry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "work_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("craft_code", sa.String(length=32), nullable=True),
        sa.Column("hours", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column("rate", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column("work_date", sa.String(length=10), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("entered_by", sa.String(length=64), nullable=False),
        sa.Column("entered_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["craft_code"],
            ["maintenance_craft.code"],
            name=op.f("fk_labour_entry_craft_code_maintenance_craft"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_labour_entry_work_order_id_work_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labour_entry")),
    )
    op.create_index(
        op.f("ix_labour_entry_work_order_id"), "labour_entry", ["work_order_id"], unique=False
    )
    op.create_table(
        "loto_step",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "work_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("energy_source", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lock_number", sa.String(length=64), nullable=False),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.Column("released_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_loto_step_work_order_id_work_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loto_step")),
        sa.UniqueConstraint("work_order_id", "position", name=op.f("uq_loto_step_work_order_id")),
    )
    op.create_index(
        op.f("ix_loto_step_work_order_id"), "loto_step", ["work_order_id"], unique=False
    )
    op.create_table(
        "work_order_assignment",
        sa.Column(
            "work_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("craft_code", sa.String(length=32), nullable=True),
        sa.Column("assigned_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["craft_code"],
            ["maintenance_craft.code"],
            name=op.f("fk_work_order_assignment_craft_code_maintenance_craft"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_assignment_work_order_id_work_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("work_order_id", "username", name=op.f("pk_work_order_assignment")),
    )
    op.create_table(
        "work_order_downtime",
        sa.Column(
            "work_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "downtime_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("linked_by", sa.String(length=64), nullable=False),
        sa.Column("linked_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["downtime_id"],
            ["downtime_event.id"],
            name=op.f("fk_work_order_downtime_downtime_id_downtime_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_downtime_work_order_id_work_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "work_order_id", "downtime_id", name=op.f("pk_work_order_downtime")
        ),
    )
    op.create_table(
        "work_order_part",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "work_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("part_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=18, scale=4, asdecimal=False), nullable=False),
        sa.Column(
            "location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "movement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("issued_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["storage_location.id"],
            name=op.f("fk_work_order_part_location_id_storage_location"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["stock_movement.id"],
            name=op.f("fk_work_order_part_movement_id_stock_movement"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["part_id"],
            ["spare_part.id"],
            name=op.f("fk_work_order_part_part_id_spare_part"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_part_work_order_id_work_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_part")),
    )
    op.create_index(
        op.f("ix_work_order_part_part_id"), "work_order_part", ["part_id"], unique=False
    )
    op.create_index(
        op.f("ix_work_order_part_work_order_id"), "work_order_part", ["work_order_id"], unique=False
    )
    op.create_table(
        "work_order_task",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "work_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("lower", sa.Float(), nullable=True),
        sa.Column("upper", sa.Float(), nullable=True),
        sa.Column("result", sa.String(length=8), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("done_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "follow_up_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["follow_up_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_task_follow_up_id_work_order"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_task_work_order_id_work_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_task")),
        sa.UniqueConstraint(
            "work_order_id", "position", name=op.f("uq_work_order_task_work_order_id")
        ),
    )
    op.create_index(
        op.f("ix_work_order_task_work_order_id"), "work_order_task", ["work_order_id"], unique=False
    )
    op.create_table(
        "work_order_transition",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "work_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_transition_work_order_id_work_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_transition")),
    )
    op.create_index(
        op.f("ix_work_order_transition_work_order_id"),
        "work_order_transition",
        ["work_order_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_work_order_transition_work_order_id"), table_name="work_order_transition"
    )
    op.drop_table("work_order_transition")
    op.drop_index(op.f("ix_work_order_task_work_order_id"), table_name="work_order_task")
    op.drop_table("work_order_task")
    op.drop_index(op.f("ix_work_order_part_work_order_id"), table_name="work_order_part")
    op.drop_index(op.f("ix_work_order_part_part_id"), table_name="work_order_part")
    op.drop_table("work_order_part")
    op.drop_table("work_order_downtime")
    op.drop_table("work_order_assignment")
    op.drop_index(op.f("ix_loto_step_work_order_id"), table_name="loto_step")
    op.drop_table("loto_step")
    op.drop_index(op.f("ix_labour_entry_work_order_id"), table_name="labour_entry")
    op.drop_table("labour_entry")
    op.drop_index("ix_asset_installation_machine", table_name="asset_installation")
    op.drop_index(op.f("ix_asset_installation_asset_id"), table_name="asset_installation")
    op.drop_table("asset_installation")
    op.drop_index(op.f("ix_work_order_type"), table_name="work_order")
    op.drop_index(op.f("ix_work_order_state"), table_name="work_order")
    op.drop_index(op.f("ix_work_order_pm_plan_id"), table_name="work_order")
    op.drop_index(op.f("ix_work_order_parent_id"), table_name="work_order")
    op.drop_index("ix_work_order_machine_state", table_name="work_order")
    op.drop_index(op.f("ix_work_order_asset_id"), table_name="work_order")
    op.drop_table("work_order")
    op.drop_table("asset_spare_part")
    op.drop_index(op.f("ix_asset_document_asset_id"), table_name="asset_document")
    op.drop_table("asset_document")
    op.drop_index(op.f("ix_maintenance_asset_machine_id"), table_name="maintenance_asset")
    op.drop_table("maintenance_asset")
    op.drop_table("maintenance_craft")
    op.drop_table("failure_code")
