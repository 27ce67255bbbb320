"""stream: index machine-state intervals by (machine, state, start, end) for time-in-state sums

Revision ID: state_interval_state_index
Revises: analytics_prognostics
Create Date: 2026-11-25 02:35:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "state_interval_state_index"
down_revision = "analytics_prognostics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_machine_state_interval_machine_state",
        "machine_state_interval",
        ["machine_id", "state", "start_us", "end_us"],
    )


def downgrade() -> None:
    op.drop_index("ix_machine_state_interval_machine_state", table_name="machine_state_interval")
