"""analytics: anomaly alerts, per-minute machine anomaly scores, detector checkpoints

Revision ID: analytics_alerts
Revises: inventory (chained locally so the tree keeps one head; the lead re-chains it)
Create Date: 2026-11-25 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ifactory.core.db

revision = "analytics_alerts"
# The release's parallel revisions all start at "quality_order_fk"; this one is chained after
# "inventory" until the lead orders them, so `upgrade head` finds a single head meanwhile.
down_revision = "inventory"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "detector_checkpoint",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("points", ID, nullable=False),
        sa.Column("last_ts_us", sa.BigInteger(), nullable=False),
        sa.Column("saved_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_detector_checkpoint")),
    )
    op.create_table(
        "anomaly_alert",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("peak_ratio", sa.Float(), nullable=False),
        sa.Column("window_start_us", sa.BigInteger(), nullable=False),
        sa.Column("window_end_us", sa.BigInteger(), nullable=False),
        sa.Column("raised_at_us", sa.BigInteger(), nullable=False),
        sa.Column("cleared_at_us", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", ifactory.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["plant_node.id"],
            name=op.f("fk_anomaly_alert_machine_id_plant_node"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomaly_alert")),
    )
    op.create_index(
        "ix_anomaly_alert_machine_state", "anomaly_alert", ["machine_id", "state"], unique=False
    )
    op.create_index(
        op.f("ix_anomaly_alert_raised_at_us"), "anomaly_alert", ["raised_at_us"], unique=False
    )
    op.create_index(op.f("ix_anomaly_alert_state"), "anomaly_alert", ["state"], unique=False)
    op.create_table(
        "anomaly_score",
        sa.Column("machine_id", ID, nullable=False),
        sa.Column("minute_us", sa.BigInteger(), nullable=False),
        sa.Column("ratio", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["plant_node.id"],
            name=op.f("fk_anomaly_score_machine_id_plant_node"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("machine_id", "minute_us", name=op.f("pk_anomaly_score")),
    )


def downgrade() -> None:
    op.drop_table("anomaly_score")
    op.drop_index(op.f("ix_anomaly_alert_state"), table_name="anomaly_alert")
    op.drop_index(op.f("ix_anomaly_alert_raised_at_us"), table_name="anomaly_alert")
    op.drop_index("ix_anomaly_alert_machine_state", table_name="anomaly_alert")
    op.drop_table("anomaly_alert")
    op.drop_table("detector_checkpoint")
