"""analytics: failure prediction - RUL model registry and RUL estimates per machine

Revision ID: analytics_prognostics
Revises: maintenance_pm
Create Date: 2026-11-25 00:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ifactory.core.db

revision = "analytics_prognostics"
down_revision = "maintenance_pm"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "prognostic_model",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("machine_class", sa.String(length=100), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("train_start_us", sa.BigInteger(), nullable=False),
        sa.Column("train_end_us", sa.BigInteger(), nullable=False),
        sa.Column("training_data", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("artifact_format", sa.String(length=100), nullable=False),
        sa.Column("artifact", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prognostic_model")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_prognostic_model_name")),
    )
    with op.batch_alter_table("prognostic_model", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prognostic_model_machine_class"), ["machine_class"], unique=False
        )
    op.create_table(
        "rul_estimate",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("rul_h", sa.Float(), nullable=False),
        sa.Column("low_h", sa.Float(), nullable=False),
        sa.Column("high_h", sa.Float(), nullable=False),
        sa.Column("alarm", sa.Boolean(), nullable=False),
        sa.Column("model_id", ID, nullable=True),
        sa.Column("model_version", sa.BigInteger(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["plant_node.id"],
            name=op.f("fk_rul_estimate_machine_id_plant_node"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["prognostic_model.id"],
            name=op.f("fk_rul_estimate_model_id_prognostic_model"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rul_estimate")),
        sa.UniqueConstraint("machine_id", "ts_us", name=op.f("uq_rul_estimate_machine_id")),
    )
    with op.batch_alter_table("rul_estimate", schema=None) as batch_op:
        batch_op.create_index("ix_rul_estimate_ts_us", ["ts_us"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rul_estimate", schema=None) as batch_op:
        batch_op.drop_index("ix_rul_estimate_ts_us")
    op.drop_table("rul_estimate")
    with op.batch_alter_table("prognostic_model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prognostic_model_machine_class"))
    op.drop_table("prognostic_model")
