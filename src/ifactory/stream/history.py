"""Reads of the machine-state history: intervals in a range and time in state (with calendar split)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ifactory.plant.calendar import Interval
from ifactory.stream.models import MachineStateInterval


@dataclass
class StateSummary:
    """Seconds and entries per state in a range; `planned_seconds` is the part in planned time."""

    seconds: dict[str, float] = field(default_factory=dict)
    planned_seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def intervals(
    session: Session, *, machine_id: int, start_us: int, end_us: int, now_us: int
) -> list[tuple[str, int, int, str]]:
    """(state, start, end, source) clipped to [start_us, end_us); the open interval ends at now."""
    rows = session.scalars(
        select(MachineStateInterval)
        .where(
            MachineStateInterval.machine_id == machine_id,
            MachineStateInterval.start_us < end_us,
            or_(MachineStateInterval.end_us.is_(None), MachineStateInterval.end_us > start_us),
        )
        .order_by(MachineStateInterval.start_us)
    ).all()
    out = []
    for r in rows:
        s = max(r.start_us, start_us)
        e = min(r.end_us if r.end_us is not None else now_us, end_us)
        if e > s:
            out.append((r.state, s, e, r.source))
    return out


def _overlap(s: int, e: int, planned: list[Interval]) -> int:
    return sum(max(0, min(e, pe) - max(s, ps)) for ps, pe in planned)


def summarize(
    spans: list[tuple[str, int, int, str]], planned: list[Interval] | None = None
) -> StateSummary:
    """Time in state and number of entries; with `planned`, also the time inside planned intervals."""
    out = StateSummary()
    for state, s, e, _ in spans:
        out.seconds[state] = out.seconds.get(state, 0.0) + (e - s) / 1e6
        out.counts[state] = out.counts.get(state, 0) + 1
        if planned is not None:
            out.planned_seconds[state] = (
                out.planned_seconds.get(state, 0.0) + _overlap(s, e, planned) / 1e6
            )
    return out
