"""Machine meters for usage-based maintenance, fed from the machine-state stream and the historian.

- run hours: time the machine spent *executing* (OPC 40001-1 condition), from the state
  history (`machine_state_interval`); idle, setup, down and unknown time does not wear the
  machine the way producing does;
- cycles: the increase of the machine's `cycle_counter` tag, from the historian's 1-minute
  rollups (counter deltas with reset and rollover handling);
- energy: the increase of the `energy` counter (kWh), or the time integral of a `power` tag
  (kW) when the machine has no energy meter;
- tag: the value of a named tag of the machine (an hour meter, a filter's differential
  pressure), read as it is.

A cumulative meter is read as the last checkpoint (`pm_meter_reading`: a value at a time,
written by the generator or entered by hand) plus the increase since then. Without any
checkpoint it counts from the start of the machine's state history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ifactory.historian.store import MINUTE_US
from ifactory.maintenance.pm_models import PMMeterReading
from ifactory.plant.registry import PlantRegistry, TagInfo
from ifactory.plant.spec import TagRole
from ifactory.stream.models import MachineStateInterval

US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 86_400 * US
METERS = ("run_hours", "cycles", "energy")
UNITS = {"run_hours": "h", "cycles": "cycles", "energy": "kWh"}
RATE_WINDOW_US = 14 * DAY_US
CHECKPOINT_EVERY_US = HOUR_US


def floor_minute(ts_us: int) -> int:
    """`ts_us` rounded down to a whole minute (the historian's rollup grid)."""
    return ts_us - ts_us % MINUTE_US


def executing_hours(
    session: Session, *, machine_ids: list[int], start_us: int, end_us: int, now_us: int
) -> dict[int, float]:
    """Hours each machine spent executing in [start_us, end_us) (open interval ends at now)."""
    out = dict.fromkeys(machine_ids, 0.0)
    if end_us <= start_us or not machine_ids:
        return out
    rows = session.execute(
        select(
            MachineStateInterval.machine_id,
            MachineStateInterval.start_us,
            MachineStateInterval.end_us,
        ).where(
            MachineStateInterval.machine_id.in_(machine_ids),
            MachineStateInterval.state == "executing",
            MachineStateInterval.start_us < end_us,
            or_(MachineStateInterval.end_us.is_(None), MachineStateInterval.end_us > start_us),
        )
    ).all()
    if not rows:
        return out
    mid = np.array([r[0] for r in rows], dtype=np.int64)
    s = np.array([r[1] for r in rows], dtype=np.int64)
    e = np.array([r[2] if r[2] is not None else max(now_us, r[1]) for r in rows], dtype=np.int64)
    dur = np.clip(np.minimum(e, end_us) - np.maximum(s, start_us), 0, None)
    ids, inv = np.unique(mid, return_inverse=True)
    sums = np.bincount(inv, weights=dur.astype(np.float64))
    for m, total in zip(ids.tolist(), sums.tolist(), strict=True):
        out[int(m)] = total / HOUR_US
    return out


def history_start(session: Session, machine_id: int) -> int | None:
    """Start of the machine's state history (the origin of a meter without checkpoints)."""
    value = session.scalar(
        select(func.min(MachineStateInterval.start_us)).where(
            MachineStateInterval.machine_id == machine_id
        )
    )
    return int(value) if value is not None else None


@dataclass(frozen=True)
class MeterValue:
    """A meter's value at a time, with its unit and the tag it comes from (None: states)."""

    machine_id: int
    meter: str
    unit: str
    value: float | None
    at_us: int
    tag_id: int | None


class MeterReader:
    """Reads machine meters for one pass of the generator or one API request (cached)."""

    def __init__(
        self, session: Session, registry: PlantRegistry, store: object, now_us: int
    ) -> None:
        self.session = session
        self.registry = registry
        self.store = store
        self.now_us = now_us
        self._cache: dict[tuple[int, str, int], float | None] = {}
        self._checkpoints: dict[tuple[int, str], list[tuple[int, float]]] = {}
        self._manual: dict[tuple[int, str], int] = {}  # last hand-entered reading's time
        self._increases: dict[tuple[int, str, int, int], float] = {}

    # -- sources ---------------------------------------------------------------------------
    def tag_named(self, machine_id: int, name: str) -> TagInfo | None:
        """The machine's tag called `name`."""
        if machine_id not in self.registry.nodes:
            return None
        for t in self.registry.machine_tags(machine_id):
            if t.name == name:
                return t
        return None

    def source(self, machine_id: int, meter: str) -> TagInfo | None:
        """The tag a cumulative meter is read from (None for run hours, from states)."""
        if machine_id not in self.registry.nodes:
            return None
        if meter == "cycles":
            return self.registry.tag_by_role(machine_id, TagRole.cycle_counter.value)
        if meter == "energy":
            return self.registry.tag_by_role(machine_id, TagRole.energy.value) or self.tag_named(
                machine_id, "power"
            )
        return None

    def available(self, machine_id: int, meter: str) -> bool:
        """True when the machine has a source for `meter`."""
        return meter == "run_hours" or self.source(machine_id, meter) is not None

    # -- increases -------------------------------------------------------------------------
    def increase(self, machine_id: int, meter: str, start_us: int, end_us: int) -> float | None:
        """How much a cumulative meter grew in [start_us, end_us); None without a source."""
        if end_us <= start_us:
            return 0.0
        cached = self._increases.get((machine_id, meter, start_us, end_us))
        if cached is not None:
            return cached
        if meter == "run_hours":
            return executing_hours(
                self.session,
                machine_ids=[machine_id],
                start_us=start_us,
                end_us=end_us,
                now_us=self.now_us,
            )[machine_id]
        tag = self.source(machine_id, meter)
        if tag is None:
            return None
        a, b = floor_minute(start_us), floor_minute(end_us)
        if b <= a:
            return 0.0
        agg = self.store.aggregate(np.array([tag.id], dtype=np.int32), a, b, b - a)  # type: ignore[attr-defined]
        return self._from_agg(agg, 0, tag, b - a)

    def prefetch(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Read the increases since the last checkpoint of many historian meters at once.

        Every historian query scans the in-memory head, so one query for all the counters
        that share a checkpoint time (the generator writes them in the same minute) is far
        cheaper than one per machine.
        """
        groups: dict[int, list[tuple[int, str, TagInfo]]] = {}
        for machine_id, meter in pairs:
            tag = self.source(machine_id, meter) if meter != "run_hours" else None
            if tag is None:
                continue
            before = [p for p in self._load_checkpoints(machine_id, meter) if p[0] <= self.now_us]
            if before:
                groups.setdefault(before[-1][0], []).append((machine_id, meter, tag))
        for start_us, members in groups.items():
            a, b = floor_minute(start_us), floor_minute(self.now_us)
            if b <= a:
                continue
            ids = np.array(sorted({t.id for _, _, t in members}), dtype=np.int32)
            agg = self.store.aggregate(ids, a, b, b - a)  # type: ignore[attr-defined]
            row = {int(t): i for i, t in enumerate(agg.tags.tolist())}
            for machine_id, meter, tag in members:
                i = row.get(tag.id)
                if i is None:
                    continue
                self._increases[(machine_id, meter, start_us, self.now_us)] = self._from_agg(
                    agg, i, tag, b - a
                )

    @staticmethod
    def _from_agg(agg: Any, i: int, tag: TagInfo, span_us: int) -> float:
        if tag.role in (TagRole.cycle_counter.value, TagRole.energy.value):
            return float(np.nansum(agg.counter_delta[i]))
        # A power tag (kW): energy is its time integral, kWh = time-weighted mean x hours.
        twa = float(agg.twa[i][0]) if agg.twa.size else float("nan")
        return 0.0 if not np.isfinite(twa) else twa * span_us / HOUR_US

    # -- readings --------------------------------------------------------------------------
    def _load_checkpoints(self, machine_id: int, meter: str) -> list[tuple[int, float]]:
        key = (machine_id, meter)
        if key not in self._checkpoints:
            rows = self.session.execute(
                select(PMMeterReading.at_us, PMMeterReading.value, PMMeterReading.source)
                .where(PMMeterReading.machine_id == machine_id, PMMeterReading.meter == meter)
                .order_by(PMMeterReading.at_us)
            ).all()
            self._checkpoints[key] = [(int(a), float(v)) for a, v, _ in rows]
            manual = [int(a) for a, _, src in rows if src == "manual"]
            if manual:
                self._manual[key] = manual[-1]
        return self._checkpoints[key]

    def reading_at(self, machine_id: int, meter: str, at_us: int) -> float | None:
        """A cumulative meter's value at `at_us` (from the nearest checkpoint before it)."""
        at_us = min(at_us, self.now_us)
        key = (machine_id, meter, at_us)
        if key in self._cache:
            return self._cache[key]
        if not self.available(machine_id, meter):
            self._cache[key] = None
            return None
        points = self._load_checkpoints(machine_id, meter)
        before = [p for p in points if p[0] <= at_us]
        value: float | None
        if before:
            base_at, base = before[-1]
            inc = self.increase(machine_id, meter, base_at, at_us)
            value = None if inc is None else base + inc
        elif points:
            # Before the first checkpoint: count back from it.
            first_at, first = points[0]
            inc = self.increase(machine_id, meter, at_us, first_at)
            value = None if inc is None else first - inc
        else:
            origin = history_start(self.session, machine_id)
            if origin is None or origin >= at_us:
                value = 0.0
            else:
                value = self.increase(machine_id, meter, origin, at_us)
        self._cache[key] = value
        return value

    def current(self, machine_id: int, meter: str) -> float | None:
        """A cumulative meter's value now."""
        return self.reading_at(machine_id, meter, self.now_us)

    def tag_value(self, machine_id: int, tag_name: str, at_us: int | None = None) -> float | None:
        """The value of the machine's tag `tag_name` now (or the last one before `at_us`)."""
        tag = self.tag_named(machine_id, tag_name)
        if tag is None:
            return None
        ids = np.array([tag.id], dtype=np.int32)
        if at_us is None or at_us >= self.now_us:
            latest = self.store.latest(ids)  # type: ignore[attr-defined]
            if len(latest) == 0 or not np.isfinite(latest.values[0]):
                return None
            return float(latest.values[0])
        b = floor_minute(at_us)
        agg = self.store.aggregate(ids, b - DAY_US, b, DAY_US)  # type: ignore[attr-defined]
        last = float(agg.last[0][-1])
        if np.isfinite(last):
            return last
        # No value in the day before: the first one after (a meter that started reporting later).
        after = self.store.raw(ids, at_us, self.now_us + 1, limit=1)  # type: ignore[attr-defined]
        if len(after.values) and np.isfinite(after.values[0]):
            return float(after.values[0])
        return None

    def value(self, machine_id: int, meter: str, tag_name: str | None, at_us: int) -> float | None:
        """A meter of a trigger at `at_us`: cumulative meter or a tag's value."""
        if meter == "tag":
            return self.tag_value(machine_id, tag_name or "", at_us)
        return self.reading_at(machine_id, meter, at_us)

    def origin(self, machine_id: int, meter: str) -> int | None:
        """Since when a cumulative meter is known (first checkpoint or start of state history)."""
        points = self._load_checkpoints(machine_id, meter)
        first = history_start(self.session, machine_id)
        if points:
            return points[0][0] if first is None else min(points[0][0], first)
        return first

    def rate_per_s(
        self,
        machine_id: int,
        meter: str,
        tag_name: str | None = None,
        window_us: int = RATE_WINDOW_US,
    ) -> float | None:
        """Recent growth per second of a meter (mean over `window_us`), for projections.

        A cumulative meter's rate comes from its checkpoints when one is at least an hour old
        (no historian read), counted after the last hand-entered reading (which may jump).
        """
        if meter != "tag":
            since = max(self.now_us - window_us, self._manual.get((machine_id, meter), 0))
            points = [
                p
                for p in self._load_checkpoints(machine_id, meter)
                if since <= p[0] <= self.now_us - HOUR_US
            ]
            current = self.current(machine_id, meter) if points else None
            if points and current is not None:
                at, value = points[0]
                return max(0.0, (current - value) / ((self.now_us - at) / US))
        then_us = self.now_us - window_us
        if meter != "tag":
            origin = self.origin(machine_id, meter)
            if origin is not None:
                then_us = max(then_us, origin)
        if self.now_us - then_us < HOUR_US:
            return None
        now = self.value(machine_id, meter, tag_name, self.now_us)
        then = self.value(machine_id, meter, tag_name, then_us)
        if now is None or then is None:
            return None
        return max(0.0, (now - then) / ((self.now_us - then_us) / US))

    def unit(self, machine_id: int, meter: str, tag_name: str | None = None) -> str:
        """The unit of a meter."""
        if meter == "tag":
            tag = self.tag_named(machine_id, tag_name or "")
            return tag.unit if tag is not None else ""
        return UNITS.get(meter, "")

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint(
        self, machine_id: int, meter: str, *, every_us: int = CHECKPOINT_EVERY_US
    ) -> bool:
        """Record the meter's value now if the last checkpoint is older than `every_us`."""
        points = self._load_checkpoints(machine_id, meter)
        at = floor_minute(self.now_us)
        if points and points[-1][0] > at - every_us:
            return False
        value = self.reading_at(machine_id, meter, at)
        if value is None:
            return False
        self._insert(machine_id, meter, at, value)
        points.append((at, value))
        return True

    def ensure_checkpoint(self, machine_id: int, meter: str, at_us: int) -> bool:
        """Record the meter at `at_us` (a plan's start) unless a checkpoint at or before it exists.

        A plan counts its first interval from its start; with a checkpoint there, that
        baseline is read from the table instead of the historian on every pass.
        """
        at = floor_minute(min(at_us, self.now_us))
        points = self._load_checkpoints(machine_id, meter)
        if points and points[0][0] <= at:
            return False
        value = self.reading_at(machine_id, meter, at)
        if value is None:
            return False
        self._insert(machine_id, meter, at, value)
        points.insert(0, (at, value))
        return True

    def _insert(self, machine_id: int, meter: str, at: int, value: float) -> None:
        table = cast(Table, PMMeterReading.__table__)
        dialect = self.session.get_bind().dialect.name
        stmt: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        # Another generator may write the same minute: the first checkpoint stands.
        stmt = stmt.values(
            machine_id=machine_id, meter=meter, at_us=at, value=value, source="historian"
        ).on_conflict_do_nothing(index_elements=["machine_id", "meter", "at_us"])
        self.session.execute(stmt)


def record_reading(
    session: Session, *, machine_id: int, meter: str, value: float, at_us: int, user: str
) -> PMMeterReading:
    """Set a meter by hand (e.g. the hour counter of a machine when its meter is set up)."""
    row = session.scalar(
        select(PMMeterReading).where(
            PMMeterReading.machine_id == machine_id,
            PMMeterReading.meter == meter,
            PMMeterReading.at_us == at_us,
        )
    )
    if row is None:
        row = PMMeterReading(machine_id=machine_id, meter=meter, at_us=at_us, value=value)
        session.add(row)
    row.value = value
    row.source = "manual"
    row.entered_by = user
    session.flush()
    return row
