"""Stored RUL estimates: recording the estimator's output, and reading the latest and the history."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ifactory.analytics.prognostics.estimator import Estimate
from ifactory.analytics.prognostics.events import FailurePredicted
from ifactory.analytics.prognostics.models import RulEstimate
from ifactory.core import outbox
from ifactory.core.errors import InvalidInput

MAX_HISTORY_ROWS = 100_000


class RulRead(BaseModel):
    """A machine's RUL estimate: median and 10-90 % band in hours at `ts_us` (data time)."""

    model_config = ConfigDict(from_attributes=True)

    machine_id: int
    ts_us: int
    rul_h: float
    low_h: float
    high_h: float
    alarm: bool
    model_id: int | None
    model_version: int
    signals: list[tuple[str, float]]


def record(
    session: Session, estimates: Sequence[Estimate], events: Sequence[FailurePredicted]
) -> int:
    """Store estimates (one already stored for that machine and time is skipped) and their events.

    Returns the number of estimates stored. An event goes to the outbox in the same
    transaction as its estimate, and only when that estimate is new, so a replay publishes
    nothing twice.
    """
    if not estimates and not events:
        return 0
    keys = {(e.machine_id, e.ts_us) for e in estimates}
    existing: set[tuple[int, int]] = set()
    if keys:
        lo = min(ts for _, ts in keys)
        hi = max(ts for _, ts in keys)
        existing = {
            (int(m), int(t))
            for m, t in session.execute(
                select(RulEstimate.machine_id, RulEstimate.ts_us).where(
                    RulEstimate.ts_us >= lo, RulEstimate.ts_us <= hi
                )
            )
        }
    stored: set[tuple[int, int]] = set()
    for e in estimates:
        if (e.machine_id, e.ts_us) in existing:
            continue
        session.add(
            RulEstimate(
                machine_id=e.machine_id,
                ts_us=e.ts_us,
                rul_h=e.rul_h,
                low_h=e.low_h,
                high_h=e.high_h,
                alarm=e.alarm,
                model_id=e.model_id,
                model_version=e.model_version,
                signals=[list(s) for s in e.signals],
            )
        )
        existing.add((e.machine_id, e.ts_us))
        stored.add((e.machine_id, e.ts_us))
    for event in events:
        # A replayed hour stores nothing and so publishes nothing a second time.
        if (event.machine_id, event.estimated_at_us) in stored:
            outbox.add(session, event)
    session.flush()
    return len(stored)


def latest_rul(session: Session) -> list[RulRead]:
    """The newest estimate of every machine that has one, lowest RUL first (risk ranking)."""
    newest = (
        select(RulEstimate.machine_id, func.max(RulEstimate.ts_us).label("ts_us"))
        .group_by(RulEstimate.machine_id)
        .subquery()
    )
    rows = session.scalars(
        select(RulEstimate)
        .join(
            newest,
            (RulEstimate.machine_id == newest.c.machine_id) & (RulEstimate.ts_us == newest.c.ts_us),
        )
        .order_by(RulEstimate.rul_h, RulEstimate.machine_id)
    )
    return [RulRead.model_validate(r) for r in rows]


def rul_history(session: Session, *, machine_id: int, start_us: int, end_us: int) -> list[RulRead]:
    """A machine's estimates with start_us <= ts < end_us, oldest first (the RUL trend and band)."""
    if end_us <= start_us:
        raise InvalidInput("need end_us > start_us", type="invalid_range")
    rows = session.scalars(
        select(RulEstimate)
        .where(
            RulEstimate.machine_id == machine_id,
            RulEstimate.ts_us >= start_us,
            RulEstimate.ts_us < end_us,
        )
        .order_by(RulEstimate.ts_us)
        .limit(MAX_HISTORY_ROWS)
    )
    return [RulRead.model_validate(r) for r in rows]


def alarm_states(session: Session) -> dict[int, tuple[bool, int | None]]:
    """Per machine: whether its newest estimate is in alarm, and since when (to resume after restart)."""
    out: dict[int, tuple[bool, int | None]] = {}
    for est in latest_rul(session):
        if not est.alarm:
            out[est.machine_id] = (False, None)
            continue
        last_clear = session.scalar(
            select(func.max(RulEstimate.ts_us)).where(
                RulEstimate.machine_id == est.machine_id, RulEstimate.alarm.is_(False)
            )
        )
        since = session.scalar(
            select(func.min(RulEstimate.ts_us)).where(
                RulEstimate.machine_id == est.machine_id,
                RulEstimate.alarm.is_(True),
                RulEstimate.ts_us > (last_clear if last_clear is not None else -1),
            )
        )
        out[est.machine_id] = (True, since)
    return out
