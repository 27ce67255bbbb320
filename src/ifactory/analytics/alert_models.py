"""Tables of the online anomaly detection: alerts, per-minute machine scores, detector checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ifactory.core.db import Base

ALERT_STATES = ("active", "acknowledged", "cleared")


class AnomalyAlert(Base):
    """One anomaly alert of a machine, from its raise to its clear (ISA-18.2 style life cycle).

    `state` is "active" (raised, nobody has taken note), "acknowledged" (still open, someone
    took note) or "cleared" (the behaviour returned to normal; acknowledgement data is kept).
    `score` is the peak raw score, `threshold` the crossing detector's threshold; `peak_ratio`
    the peak of score / threshold over every detector of the alert (1.0 = at threshold).
    """

    __tablename__ = "anomaly_alert"
    __table_args__ = (Index("ix_anomaly_alert_machine_state", "machine_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)
    detector: Mapped[str] = mapped_column(String(64))
    tag_ids: Mapped[list[Any]] = mapped_column(default=list)
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    peak_ratio: Mapped[float] = mapped_column(Float)
    window_start_us: Mapped[int] = mapped_column(BigInteger)
    window_end_us: Mapped[int] = mapped_column(BigInteger)
    raised_at_us: Mapped[int] = mapped_column(BigInteger, index=True)
    cleared_at_us: Mapped[int | None] = mapped_column(BigInteger, default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    ack_comment: Mapped[str] = mapped_column(Text, default="")


class AnomalyScore(Base):
    """The largest anomaly score ratio of a machine in one minute of data time (the trend)."""

    __tablename__ = "anomaly_score"

    machine_id: Mapped[int] = mapped_column(
        ForeignKey("plant_node.id", ondelete="CASCADE"), primary_key=True
    )
    minute_us: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ratio: Mapped[float] = mapped_column(Float)


class DetectorCheckpoint(Base):
    """A detector's learnt state (versioned msgpack from `Detector.checkpoint`, never pickle).

    `key` names the stream the detector watches ("tag:<id>" or "machine:<id>");
    `last_ts_us` is the newest sample it has learnt, so a restart continues after it.
    """

    __tablename__ = "detector_checkpoint"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    detector: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    points: Mapped[int] = mapped_column(default=0)
    last_ts_us: Mapped[int] = mapped_column(BigInteger, default=0)
    saved_at: Mapped[datetime]
