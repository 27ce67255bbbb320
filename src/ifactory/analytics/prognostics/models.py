"""Tables of the failure prediction: the model registry and the RUL estimates per machine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ifactory.core.db import Base, utcnow


class PrognosticModel(Base):
    """A trained RUL model of a machine class, with its metrics and what it was trained on.

    `artifact` is the model in a non-executable format named by `artifact_format` (LightGBM
    model text in JSON); `training_data` says where the run-to-failure histories came from
    (e.g. simulator seeds) and `train_start_us`/`train_end_us` the data window.
    """

    __tablename__ = "prognostic_model"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    machine_class: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    train_start_us: Mapped[int] = mapped_column(BigInteger)
    train_end_us: Mapped[int] = mapped_column(BigInteger)
    training_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    features: Mapped[list[Any]] = mapped_column(default=list)
    artifact_format: Mapped[str] = mapped_column(String(100))
    artifact: Mapped[str] = mapped_column(Text)


class RulEstimate(Base):
    """A machine's remaining useful life at `ts_us` (data time): median and band, in hours."""

    __tablename__ = "rul_estimate"
    __table_args__ = (
        UniqueConstraint("machine_id", "ts_us"),
        Index("ix_rul_estimate_ts_us", "ts_us"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("plant_node.id", ondelete="CASCADE"))
    ts_us: Mapped[int] = mapped_column(BigInteger)
    rul_h: Mapped[float] = mapped_column(Float)
    low_h: Mapped[float] = mapped_column(Float)
    high_h: Mapped[float] = mapped_column(Float)
    alarm: Mapped[bool] = mapped_column(default=False)
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("prognostic_model.id", ondelete="SET NULL"), default=None
    )
    model_version: Mapped[int] = mapped_column(BigInteger)
    signals: Mapped[list[Any]] = mapped_column(default=list)
