"""Machine state history: one row per interval a machine spent in a state."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ifactory.core.db import Base


class MachineStateInterval(Base):
    """[start_us, end_us) in one state; the open interval (end_us NULL) is the current state."""

    __tablename__ = "machine_state_interval"
    __table_args__ = (
        Index("ix_machine_state_interval_machine_start", "machine_id", "start_us"),
        # Covers "time in state X over a period" (operating time, down spans for MTBF/MTTR)
        # as an index-only range scan; states change rarely, so the write cost is small.
        Index(
            "ix_machine_state_interval_machine_state",
            "machine_id",
            "state",
            "start_us",
            "end_us",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    start_us: Mapped[int] = mapped_column(BigInteger)
    end_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    source: Mapped[str] = mapped_column(String(16), default="tag")  # tag | derived | silence
