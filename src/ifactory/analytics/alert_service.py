"""Anomaly alerts, machine score trends and detector checkpoints: plain functions on a session.

Alert changes and the events describing them are written in the caller's transaction (the
outbox), so an `AnomalyDetected` exists exactly when its alert was committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ifactory.analytics.alert_models import (
    ALERT_STATES,
    AnomalyAlert,
    AnomalyScore,
    DetectorCheckpoint,
)
from ifactory.analytics.events import AlertAcknowledged, AlertCleared, AnomalyDetected
from ifactory.core import audit, outbox
from ifactory.core.db import get_or_not_found, utcnow
from ifactory.core.errors import Conflict, InvalidInput

MAX_COMMENT = 2000
MINUTE_US = 60_000_000


# --- alerts ------------------------------------------------------------------------------------


def get(session: Session, *, alert_id: int) -> AnomalyAlert:
    """One alert (NotFound otherwise)."""
    return get_or_not_found(
        session, AnomalyAlert, alert_id, f"no anomaly alert {alert_id}", loc=["path", "alert_id"]
    )


def get_all(
    session: Session,
    *,
    machine_ids: Sequence[int] | None = None,
    states: Sequence[str] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[Sequence[AnomalyAlert], int]:
    """Alerts, newest raise first, filtered by machine, state and raise time; and the total."""
    for s in states or ():
        if s not in ALERT_STATES:
            raise InvalidInput(
                f"unknown alert state '{s}'; expected one of {list(ALERT_STATES)}",
                loc=["query", "state"],
            )
    if since_us is not None and until_us is not None and until_us <= since_us:
        raise InvalidInput("until_us must be after since_us", loc=["query", "until_us"])
    query = select(AnomalyAlert)
    if machine_ids is not None:
        query = query.where(AnomalyAlert.machine_id.in_(list(machine_ids)))
    if states:
        query = query.where(AnomalyAlert.state.in_(list(states)))
    if since_us is not None:
        query = query.where(AnomalyAlert.raised_at_us >= since_us)
    if until_us is not None:
        query = query.where(AnomalyAlert.raised_at_us < until_us)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(
        query.order_by(AnomalyAlert.raised_at_us.desc(), AnomalyAlert.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return rows, total


def get_open(session: Session) -> Sequence[AnomalyAlert]:
    """Every alert not yet cleared (active or acknowledged)."""
    return session.scalars(
        select(AnomalyAlert)
        .where(AnomalyAlert.state != "cleared")
        .order_by(AnomalyAlert.raised_at_us)
    ).all()


def last_cleared(session: Session) -> dict[int, int]:
    """Machine id -> data time of its most recent alert clear (to restore cooldowns)."""
    rows = session.execute(
        select(AnomalyAlert.machine_id, func.max(AnomalyAlert.cleared_at_us))
        .where(AnomalyAlert.cleared_at_us.is_not(None))
        .group_by(AnomalyAlert.machine_id)
    ).all()
    return {int(m): int(t) for m, t in rows if t is not None}


def acknowledge(
    session: Session, *, alert: AnomalyAlert, comment: str, user: audit.UserRef
) -> AnomalyAlert:
    """Record that `user` took note of an open alert (Conflict when acknowledged or cleared)."""
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment is longer than {MAX_COMMENT} characters", loc=["body"])
    if alert.state == "acknowledged":
        raise Conflict(
            f"alert {alert.id} was already acknowledged by {alert.acknowledged_by}",
            loc=["path", "alert_id"],
        )
    if alert.state == "cleared":
        raise Conflict(f"alert {alert.id} has cleared", loc=["path", "alert_id"])
    name = audit.username_of(user)
    alert.state = "acknowledged"
    alert.acknowledged_by = name
    alert.acknowledged_at = utcnow()
    alert.ack_comment = comment
    audit.record(
        session,
        user=user,
        action="acknowledge",
        entity="anomaly_alert",
        entity_id=alert.id,
        details={"comment": comment} if comment else None,
    )
    outbox.add(
        session,
        AlertAcknowledged(alert_id=alert.id, machine_id=alert.machine_id, by=name, comment=comment),
    )
    return alert


def raise_alert(
    session: Session,
    *,
    machine_id: int,
    machine_key: str,
    detector: str,
    tag_ids: Sequence[int],
    tag_keys: Sequence[str],
    score: float,
    threshold: float,
    ratio: float,
    window_start_us: int,
    at_us: int,
) -> AnomalyAlert:
    """Open an alert and publish `AnomalyDetected` in the same transaction."""
    alert = AnomalyAlert(
        machine_id=machine_id,
        state="active",
        detector=detector,
        tag_ids=list(tag_ids),
        score=score,
        threshold=threshold,
        peak_ratio=ratio,
        window_start_us=window_start_us,
        window_end_us=at_us,
        raised_at_us=at_us,
    )
    session.add(alert)
    session.flush()
    outbox.add(
        session,
        AnomalyDetected(
            alert_id=alert.id,
            machine_id=machine_id,
            machine_key=machine_key,
            tag_ids=list(tag_ids),
            tags=list(tag_keys),
            detector=detector,
            score=score,
            threshold=threshold,
            window_start_us=window_start_us,
            window_end_us=at_us,
            detected_at_us=at_us,
        ),
    )
    return alert


def extend_alert(
    session: Session,
    *,
    alert: AnomalyAlert,
    detector: str,
    tag_ids: Sequence[int],
    score: float,
    threshold: float,
    ratio: float,
    at_us: int,
) -> AnomalyAlert:
    """Add the tags of another crossing detector to an open alert; keep the strongest score."""
    alert.tag_ids = sorted({*alert.tag_ids, *tag_ids})
    if ratio > alert.peak_ratio:
        # Score, threshold and detector always describe the same (strongest) crossing.
        alert.peak_ratio = ratio
        alert.detector = detector
        alert.score = score
        alert.threshold = threshold
    alert.window_end_us = max(alert.window_end_us, at_us)
    return alert


def clear_alert(
    session: Session, *, alert: AnomalyAlert, at_us: int, window_end_us: int, peak_ratio: float
) -> AnomalyAlert:
    """Close an open alert and publish `AlertCleared` in the same transaction."""
    alert.state = "cleared"
    alert.cleared_at_us = at_us
    alert.window_end_us = max(alert.window_end_us, window_end_us)
    alert.peak_ratio = max(alert.peak_ratio, peak_ratio)
    outbox.add(
        session,
        AlertCleared(
            alert_id=alert.id,
            machine_id=alert.machine_id,
            cleared_at_us=at_us,
            peak_score=alert.score,
        ),
    )
    return alert


# --- machine score trend ----------------------------------------------------------------------


def _insert(session: Session, table: type) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO UPDATE on SQLite and PostgreSQL."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for {name}")


def record_scores(session: Session, *, scores: Mapping[tuple[int, int], float]) -> None:
    """Merge per-minute maxima ((machine id, minute start µs) -> ratio) into the trend table."""
    if not scores:
        return
    rows: list[dict[str, object]] = [
        {"machine_id": m, "minute_us": minute, "ratio": float(r)}
        for (m, minute), r in sorted(scores.items())
    ]
    stmt = _insert(session, AnomalyScore)
    table = AnomalyScore.__table__
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["machine_id", "minute_us"],
        set_={"ratio": case((excluded.ratio > table.c.ratio, excluded.ratio), else_=table.c.ratio)},
    )
    session.execute(stmt, rows)


def get_scores(
    session: Session, *, machine_id: int, start_us: int, end_us: int
) -> list[tuple[int, float]]:
    """The machine's per-minute maximum score ratio in [start_us, end_us), oldest first."""
    if end_us <= start_us:
        raise InvalidInput("end must be after start", loc=["query", "end_us"])
    rows = session.execute(
        select(AnomalyScore.minute_us, AnomalyScore.ratio)
        .where(
            AnomalyScore.machine_id == machine_id,
            AnomalyScore.minute_us >= start_us - start_us % MINUTE_US,
            AnomalyScore.minute_us < end_us,
        )
        .order_by(AnomalyScore.minute_us)
    ).all()
    return [(int(t), float(r)) for t, r in rows]


def recent_scores(session: Session, *, since_us: int) -> dict[int, float]:
    """Machine id -> largest score ratio since `since_us` (for the plant-wide risk ranking)."""
    rows = session.execute(
        select(AnomalyScore.machine_id, func.max(AnomalyScore.ratio))
        .where(AnomalyScore.minute_us >= since_us - since_us % MINUTE_US)
        .group_by(AnomalyScore.machine_id)
    ).all()
    return {int(m): float(r) for m, r in rows}


# --- detector checkpoints -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A detector's saved state, as stored."""

    key: str
    detector: str
    data: bytes
    points: int
    last_ts_us: int
    saved_at: datetime | None = None


def save_checkpoints(session: Session, *, checkpoints: Iterable[Checkpoint]) -> int:
    """Insert or replace checkpoints by key; returns how many were written."""
    rows: list[dict[str, object]] = [
        {
            "key": c.key,
            "detector": c.detector,
            "data": c.data,
            "points": c.points,
            "last_ts_us": c.last_ts_us,
            "saved_at": utcnow(),
        }
        for c in checkpoints
    ]
    if not rows:
        return 0
    stmt = _insert(session, DetectorCheckpoint)
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "detector": excluded.detector,
            "data": excluded.data,
            "points": excluded.points,
            "last_ts_us": excluded.last_ts_us,
            "saved_at": excluded.saved_at,
        },
    )
    session.execute(stmt, rows)
    return len(rows)


def load_checkpoints(session: Session) -> dict[str, Checkpoint]:
    """Every stored checkpoint by key."""
    return {
        row.key: Checkpoint(
            row.key, row.detector, bytes(row.data), row.points, row.last_ts_us, row.saved_at
        )
        for row in session.scalars(select(DetectorCheckpoint))
    }
