"""Downtime: every stop in the state history becomes a downtime event; reasons; Pareto.

A stop is a maximal run of consecutive known, non-executing states (setup, idle, down,
maintenance), as `oee.find_stops` defines it, so the events and the OEE time elements always
agree. Events are derived from the state history (idempotent: unique on machine and start),
attributed to the order running on the machine at the stop's start, and get their reason
from an operator through the API or automatically from a tag with role `downtime_reason`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ifactory.core import outbox
from ifactory.core.audit import UserRef, record, stamp, username_of
from ifactory.core.db import Database, get_or_not_found
from ifactory.core.errors import InvalidInput
from ifactory.plant.models import DowntimeReason
from ifactory.plant.registry import PlantRegistry
from ifactory.plant.spec import TagRole
from ifactory.production import oee
from ifactory.production import service as production
from ifactory.production.events import DowntimeReasonAssigned, DowntimeRecorded
from ifactory.production.models import DowntimeEvent
from ifactory.stream.models import MachineStateInterval

log = logging.getLogger(__name__)
US = 1_000_000
DEFAULT_LOOKBACK_US = 7 * 86_400 * US
UNASSIGNED = "Unassigned"
_SYNC_LOCK = threading.Lock()


@dataclass(frozen=True)
class Reason:
    """A node of the reason tree with the loss category it rolls up to (inherited)."""

    code: str
    name: str
    loss: str | None
    parent: str | None
    leaf: bool


def reason_tree(session: Session) -> dict[str, Reason]:
    """code -> reason, each with its effective loss category (a child inherits its parent's)."""
    rows = session.scalars(select(DowntimeReason).order_by(DowntimeReason.position)).all()
    by_id = {r.id: r for r in rows}
    parents = {r.parent_id for r in rows if r.parent_id is not None}

    def loss_of(r: DowntimeReason) -> str | None:
        cur: DowntimeReason | None = r
        while cur is not None:
            if cur.loss:
                return cur.loss
            cur = by_id.get(cur.parent_id) if cur.parent_id is not None else None
        return None

    return {
        r.code: Reason(
            r.code,
            r.name,
            loss_of(r),
            by_id[r.parent_id].code if r.parent_id in by_id else None,
            r.id not in parents,
        )
        for r in rows
    }


def _state_rows(
    session: Session, machine_id: int, start_us: int, now_us: int
) -> list[tuple[str, int, int, bool]]:
    rows = session.scalars(
        select(MachineStateInterval)
        .where(
            MachineStateInterval.machine_id == machine_id,
            or_(MachineStateInterval.end_us.is_(None), MachineStateInterval.end_us > start_us),
        )
        .order_by(MachineStateInterval.start_us)
    ).all()
    out = []
    for r in rows:
        end = r.end_us if r.end_us is not None else max(now_us, r.start_us)
        out.append((r.state, max(r.start_us, start_us), end, r.end_us is None))
    return out


def sync_machine(
    session: Session,
    *,
    machine_id: int,
    now_us: int,
    registry: PlantRegistry | None = None,
    store: Any = None,
    lookback_us: int = DEFAULT_LOOKBACK_US,
) -> int:
    """Create or extend the machine's downtime events from its state history; returns changes.

    The scan starts at the machine's last open event (or the end of its last closed one), so a
    repeated call is cheap and idempotent.
    """
    last = session.scalars(
        select(DowntimeEvent)
        .where(DowntimeEvent.machine_id == machine_id)
        .order_by(DowntimeEvent.start_us.desc())
        .limit(1)
    ).first()
    if last is None:
        since = now_us - lookback_us
    elif last.end_us is None:
        since = last.start_us
    else:
        since = last.end_us
    rows = _state_rows(session, machine_id, since, now_us)
    if not rows:
        return 0
    spans = oee.Spans.of((s, a, b) for s, a, b, _ in rows)
    stops = oee.find_stops(spans)
    reasons: dict[str, Reason] | None = None
    changed = 0
    for g in range(len(stops.start)):
        members = np.flatnonzero(stops.group == g)
        is_open = bool(rows[int(members[-1])][3])
        start = int(stops.start[g])
        end = None if is_open else int(stops.end[g])
        states = ",".join(dict.fromkeys(rows[int(i)][0] for i in members))
        event = session.scalar(
            select(DowntimeEvent).where(
                DowntimeEvent.machine_id == machine_id, DowntimeEvent.start_us == start
            )
        )
        if event is None:
            # A stop that began before the scan window continues an existing event.
            if last is not None and last.end_us is None and start == since:
                event = last
            else:
                running = production.order_at(session, machine_id=machine_id, at_us=start)
                event = DowntimeEvent(
                    machine_id=machine_id,
                    start_us=start,
                    order_id=running[0] if running else None,
                    created_by="system",
                )
                session.add(event)
        if event.end_us == end and event.states == states and event.id is not None:
            continue
        was_open = event.end_us is None
        event.end_us = end
        event.states = states[:64]
        if event.reason_code is None and registry is not None and store is not None:
            if reasons is None:
                reasons = reason_tree(session)
            code = _reason_from_tag(registry, store, machine_id, start, end or now_us, reasons)
            if code is not None:
                event.reason_code = code
                event.reason_source = "tag"
        session.flush()
        changed += 1
        if end is not None and (was_open or event.id is not None):
            outbox.add(
                session,
                DowntimeRecorded(
                    downtime_id=event.id,
                    machine_id=machine_id,
                    start_us=start,
                    end_us=end,
                    states=event.states,
                    order_id=event.order_id,
                    reason_code=event.reason_code,
                ),
            )
    return changed


def sync(
    db: Database,
    *,
    machine_ids: Sequence[int],
    now_us: int,
    registry: PlantRegistry | None = None,
    store: Any = None,
) -> int:
    """Sync the machines' downtime events, each in its own committed transaction.

    Serialised in this process so two requests never derive the same stop twice; a stop
    derived concurrently by another process is left to it (the unique key refuses the copy).
    """
    changed = 0
    with _SYNC_LOCK:
        for machine_id in machine_ids:
            try:
                with db.session() as session:
                    changed += sync_machine(
                        session,
                        machine_id=machine_id,
                        now_us=now_us,
                        registry=registry,
                        store=store,
                    )
            except IntegrityError:
                log.info("downtime of machine %s was synced concurrently", machine_id)
    return changed


def _reason_from_tag(
    registry: PlantRegistry,
    store: Any,
    machine_id: int,
    start_us: int,
    end_us: int,
    reasons: dict[str, Reason],
) -> str | None:
    """The reason code a machine reported on its `downtime_reason` tag during the stop."""
    tag = registry.tag_by_role(machine_id, TagRole.downtime_reason.value)
    if tag is None:
        return None
    points = store.raw([tag.id], start_us, max(end_us, start_us + 1))
    candidates: list[str] = []
    if points.text is not None:
        candidates += [str(t) for t in points.text if t]
    if tag.enum:
        candidates += [str(tag.enum.get(int(v), "")) for v in points.values if np.isfinite(v)]
    for code in candidates:
        if code in reasons:
            return code
    return None


def assign_reason(
    session: Session,
    *,
    downtime_id: int,
    reason_code: str | None,
    user: UserRef,
    comment: str = "",
    source: str = "operator",
) -> DowntimeEvent:
    """Give (or correct, or clear) the reason of a downtime event; audited with the previous one."""
    event = get_or_not_found(
        session,
        DowntimeEvent,
        downtime_id,
        f"no downtime event {downtime_id}",
        loc=["path", "downtime_id"],
    )
    reasons = reason_tree(session)
    if reason_code is not None and reason_code not in reasons:
        raise InvalidInput(
            f"unknown reason '{reason_code}'", loc=["body", "reason_code"], type="unknown_reason"
        )
    previous = event.reason_code
    event.reason_code = reason_code
    event.reason_source = source if reason_code is not None else None
    if comment:
        event.comment = comment
    stamp(event, user=user)
    record(
        session,
        user=user,
        action="assign_reason",
        entity="downtime_event",
        entity_id=event.id,
        details={"from": previous, "to": reason_code, "comment": comment},
    )
    outbox.add(
        session,
        DowntimeReasonAssigned(
            downtime_id=event.id,
            machine_id=event.machine_id,
            reason_code=reason_code,
            previous_code=previous,
            loss=reasons[reason_code].loss if reason_code else None,
            source=source,
            username=username_of(user),
        ),
    )
    session.flush()
    return event


def get_all(
    session: Session,
    *,
    machine_ids: Sequence[int] | None,
    start_us: int,
    end_us: int,
    unassigned_only: bool = False,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[DowntimeEvent], int]:
    """Downtime events overlapping [start, end), newest first, with the total count."""
    query = select(DowntimeEvent).where(
        DowntimeEvent.start_us < end_us,
        or_(DowntimeEvent.end_us.is_(None), DowntimeEvent.end_us > start_us),
    )
    if machine_ids is not None:
        query = query.where(DowntimeEvent.machine_id.in_(list(machine_ids)))
    if unassigned_only:
        query = query.where(DowntimeEvent.reason_code.is_(None))
    rows = list(session.scalars(query.order_by(DowntimeEvent.start_us.desc())).all())
    return rows[offset : offset + limit], len(rows)


def stop_losses(session: Session, *, machine_id: int, start_us: int, end_us: int) -> dict[int, str]:
    """Stop start -> loss category of its reason, for the OEE time elements."""
    reasons = reason_tree(session)
    out = {}
    for e in session.scalars(
        select(DowntimeEvent).where(
            DowntimeEvent.machine_id == machine_id,
            DowntimeEvent.reason_code.is_not(None),
            DowntimeEvent.start_us < end_us,
            or_(DowntimeEvent.end_us.is_(None), DowntimeEvent.end_us > start_us),
        )
    ):
        reason = reasons.get(e.reason_code or "")
        if reason is not None and reason.loss is not None:
            out[e.start_us] = reason.loss
    return out


def pareto(
    session: Session,
    *,
    machine_ids: Sequence[int] | None,
    start_us: int,
    end_us: int,
    now_us: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Reasons by total stop time and by count (clipped to the range), with cumulative %."""
    reasons = reason_tree(session)
    events, _ = get_all(
        session, machine_ids=machine_ids, start_us=start_us, end_us=end_us, limit=1 << 30
    )
    acc: dict[str | None, list[float]] = {}
    for e in events:
        s = max(e.start_us, start_us)
        t = min(e.end_us if e.end_us is not None else now_us, end_us)
        row = acc.setdefault(e.reason_code, [0.0, 0])
        row[0] += max(0, t - s) / US
        row[1] += 1

    def rows(key: int) -> list[dict[str, Any]]:
        items = sorted(acc.items(), key=lambda kv: (-kv[1][key], str(kv[0])))
        total = sum(v[key] for _, v in items) or 1.0
        out, cum = [], 0.0
        for code, (secs, count) in items:
            cum += (secs, count)[key]
            reason = reasons.get(code) if code else None
            out.append(
                {
                    "reason_code": code,
                    "reason_name": reason.name if reason else UNASSIGNED,
                    "loss": reason.loss if reason else None,
                    "seconds": secs,
                    "count": int(count),
                    "cumulative_pct": 100.0 * cum / total,
                }
            )
        return out

    return rows(0), rows(1)
