"""PM trigger evaluation: when is each trigger of a plan due next, and did it fire? Pure, no I/O.

A plan's life on one machine is a sequence of cycles. A cycle starts at the previous
occurrence (or at the plan's start) and each trigger says when it is due in this cycle:

- calendar, fixed: the next point of the grid start + k x interval (k >= 1) after the
  previous occurrence's grid point, so late work never shifts the schedule;
- calendar, floating: one interval after the previous work order was completed (nothing is
  due while it is open; the first one is one interval after the start);
- meter, every N: when the meter reaches the previous cycle's baseline + N (projected from
  the recent rate while it has not, so a lead time can be applied);
- meter, milestone X: once, in the cycle in which the meter passes X;
- meter, above / below V (a gauge tag): when the value is beyond V; it fires again only
  after the value came back;
- condition: a tag beyond a limit for a duration (1-minute rollups), and/or a bus event
  about the machine, after the cycle's start; while the work order it raised last is open,
  nothing more is due (a condition that persists, e.g. a failure prediction renewed every
  48 h, does not pile up work orders), and after that work order is closed only what
  happens after its completion counts.

Day, week and month intervals step in site wall-clock time, so a job due "every Monday
06:00" stays at 06:00 across daylight-saving changes; hours step in absolute time.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ifactory.core.clock import US, from_datetime, to_datetime

HOUR_US = 3600 * US


@dataclass
class Cycle:
    """Where a plan stands on one machine: its last occurrence (seq 0: none yet)."""

    start_us: int
    seq: int = 0
    last_nominal_us: int | None = None
    last_due_us: int | None = None
    last_generated_us: int | None = None
    # Completion of the last work order, for floating calendars (None while it is open).
    last_completed_us: int | None = None
    baselines: dict[str, Any] = field(default_factory=dict)

    @property
    def since_us(self) -> int:
        """Start of the current cycle for conditions (after the last occurrence was raised)."""
        return self.last_generated_us if self.last_generated_us is not None else self.start_us


@dataclass
class TriggerDue:
    """One trigger's due point in the current cycle (None: not foreseeable or not armed)."""

    trigger_id: int
    kind: str
    due_us: int | None
    reached: bool
    projected: bool = False
    nominal_us: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


class Context(Protocol):
    """What evaluation reads: the time, meters, conditions and the site calendar."""

    now_us: int

    def meter_value(
        self, machine_id: int, meter: str, tag_name: str | None, at_us: int
    ) -> float | None: ...

    def meter_rate(self, machine_id: int, meter: str, tag_name: str | None) -> float | None: ...

    def condition_window(
        self,
        machine_id: int,
        tag_name: str,
        operator: str,
        limit: float,
        duration_s: float,
        since_us: int,
    ) -> dict[str, Any] | None: ...

    def rearmed(
        self, machine_id: int, tag_name: str, operator: str, value: float, since_us: int
    ) -> bool: ...

    def signal(self, machine_id: int, event_type: str, since_us: int) -> dict[str, Any] | None: ...


class WallClock:
    """Site wall-clock arithmetic: interval steps, working days and holidays."""

    def __init__(
        self,
        timezone: str = "UTC",
        holidays: Iterable[date] = (),
        working_weekdays: Iterable[int] | None = None,
    ) -> None:
        self.tz = ZoneInfo(timezone)
        self.holidays = set(holidays)
        self.working_weekdays = set(working_weekdays) if working_weekdays is not None else None
        # The generator asks for the same grid points every minute: remember them.
        self._steps: dict[tuple[int, float, str, int], int] = {}
        self._working: dict[int, int] = {}

    def local(self, ts_us: int) -> datetime:
        """`ts_us` as a site-local datetime."""
        return to_datetime(ts_us).astimezone(self.tz)

    def _from_local(self, dt: datetime) -> int:
        # Re-attach the zone so a wall time across a DST change gets that day's offset.
        return from_datetime(dt.replace(tzinfo=None).replace(tzinfo=self.tz))

    def step(self, start_us: int, every: float, unit: str, k: int) -> int:
        """The k-th point of the grid start + k x interval."""
        key = (start_us, every, unit, k)
        found = self._steps.get(key)
        if found is None:
            if len(self._steps) > 200_000:
                self._steps.clear()
            found = self._steps[key] = self._step(start_us, every, unit, k)
        return found

    def _step(self, start_us: int, every: float, unit: str, k: int) -> int:
        if unit == "hours":
            return start_us + round(k * every * HOUR_US)
        base = self.local(start_us)
        if unit == "months":
            months = base.month - 1 + k * int(every)
            year, month = base.year + months // 12, months % 12 + 1
            day = min(base.day, _calendar.monthrange(year, month)[1])
            return self._from_local(base.replace(year=year, month=month, day=day))
        days = every * (7 if unit == "weeks" else 1) * k
        whole = int(days)
        frac_us = round((days - whole) * 86_400 * US)
        return self._from_local(base + timedelta(days=whole)) + frac_us

    def index_at_or_before(self, start_us: int, every: float, unit: str, ts_us: int) -> int:
        """The largest k with step(k) <= ts_us (0 when ts_us is before the first step)."""
        if ts_us < start_us:
            return 0
        approx = {"hours": HOUR_US, "days": 86_400 * US, "weeks": 7 * 86_400 * US}
        unit_us = approx.get(unit, int(30.436875 * 86_400 * US))
        k = max(0, int((ts_us - start_us) // max(1, int(every * unit_us))) - 2)
        while self.step(start_us, every, unit, k + 1) <= ts_us:
            k += 1
        return k

    def is_working_day(self, day: date) -> bool:
        """Not a holiday, and a weekday with shifts (when the site has shifts)."""
        if day in self.holidays:
            return False
        return self.working_weekdays is None or day.weekday() in self.working_weekdays

    def next_working(self, ts_us: int) -> int:
        """`ts_us`, or the same wall time on the next working day if its day is not one."""
        found = self._working.get(ts_us)
        if found is None:
            if len(self._working) > 200_000:
                self._working.clear()
            found = self._working[ts_us] = self._next_working(ts_us)
        return found

    def _next_working(self, ts_us: int) -> int:
        local = self.local(ts_us)
        day = local.date()
        for _ in range(366):
            if self.is_working_day(day):
                break
            day += timedelta(days=1)
        if day == local.date():
            return ts_us
        return self._from_local(datetime.combine(day, local.time()))


def _after_holiday(clock: WallClock, ts_us: int, rule: str) -> int:
    return clock.next_working(ts_us) if rule == "next_working_day" else ts_us


def calendar_due(
    trigger_id: int,
    params: dict[str, Any],
    cycle: Cycle,
    clock: WallClock,
    holiday_rule: str,
    now_us: int,
) -> TriggerDue:
    """Due point of a calendar trigger (fixed grid or floating from the last completion)."""
    every, unit, mode = float(params["every"]), str(params.get("unit", "days")), params["mode"]
    if mode == "floating":
        if cycle.seq == 0:
            nominal = clock.step(cycle.start_us, every, unit, 1)
        elif cycle.last_completed_us is None:
            return TriggerDue(
                trigger_id,
                "calendar",
                None,
                False,
                evidence={"trigger": "calendar", "mode": mode, "waiting_for": "completion"},
            )
        else:
            nominal = clock.step(cycle.last_completed_us, every, unit, 1)
        k = None
    else:
        previous = cycle.baselines.get(str(trigger_id))
        if previous is None and cycle.last_nominal_us is not None:
            # A trigger added to a running plan continues after its last occurrence.
            previous = clock.index_at_or_before(cycle.start_us, every, unit, cycle.last_nominal_us)
        k = int(previous or 0) + 1
        nominal = clock.step(cycle.start_us, every, unit, k)
    due = _after_holiday(clock, nominal, holiday_rule)
    evidence: dict[str, Any] = {
        "trigger": "calendar",
        "mode": mode,
        "every": every,
        "unit": unit,
        "nominal_us": nominal,
        "due_us": due,
    }
    if k is not None:
        evidence["grid_index"] = k
    if due != nominal:
        evidence["moved_for_holiday"] = True
    return TriggerDue(
        trigger_id, "calendar", due, due <= now_us, nominal_us=nominal, evidence=evidence
    )


def meter_due(
    trigger_id: int, params: dict[str, Any], cycle: Cycle, machine_id: int, ctx: Context
) -> TriggerDue:
    """Due point of a meter trigger: reached now, or projected from the recent rate."""
    meter, mode, value = params["meter"], params.get("mode", "every"), float(params["value"])
    tag_name = params.get("tag_name")
    now = ctx.now_us
    reading = ctx.meter_value(machine_id, meter, tag_name, now)
    evidence: dict[str, Any] = {
        "trigger": "meter",
        "meter": meter,
        "mode": mode,
        "value": value,
        "reading": reading,
        "at_us": now,
    }
    if tag_name:
        evidence["tag_name"] = tag_name
    if reading is None:
        evidence["error"] = "no meter data"
        return TriggerDue(trigger_id, "meter", None, False, evidence=evidence)
    key = str(trigger_id)
    if mode in ("above", "below"):
        beyond = reading > value if mode == "above" else reading < value
        armed = cycle.baselines.get(key) != "fired" or ctx.rearmed(
            machine_id, tag_name or "", mode, value, cycle.since_us
        )
        evidence["armed"] = armed
        if beyond and armed:
            return TriggerDue(trigger_id, "meter", now, True, evidence=evidence)
        return TriggerDue(trigger_id, "meter", None, False, evidence=evidence)
    base = cycle.baselines.get(key)
    if base is None:
        # Counted from the plan's start, or (a trigger added later) from the last occurrence.
        since = cycle.last_generated_us if cycle.last_generated_us is not None else cycle.start_us
        base = ctx.meter_value(machine_id, meter, tag_name, since)
        base = 0.0 if base is None else float(base)
    base = float(base)
    if mode == "milestone":
        if base >= value:  # passed in an earlier cycle: a milestone fires once
            evidence["passed_before"] = True
            return TriggerDue(trigger_id, "meter", None, False, evidence=evidence)
        target = value
    else:
        target = base + value
    evidence["baseline"] = base
    evidence["target"] = target
    if reading >= target:
        return TriggerDue(trigger_id, "meter", now, True, evidence=evidence)
    rate = ctx.meter_rate(machine_id, meter, tag_name)
    evidence["rate_per_day"] = None if rate is None else rate * 86_400
    if not rate:
        return TriggerDue(trigger_id, "meter", None, False, evidence=evidence)
    due = now + int((target - reading) / rate * US)
    evidence["projected_due_us"] = due
    return TriggerDue(trigger_id, "meter", due, False, projected=True, evidence=evidence)


def next_meter_baseline(
    params: dict[str, Any], previous: Any, reading: float | None, fired: bool
) -> Any:
    """What a meter trigger counts from after an occurrence (or its arming state)."""
    mode, value = params.get("mode", "every"), float(params["value"])
    if mode in ("above", "below"):
        return "fired" if fired else "armed"
    if mode == "every" and fired and previous is not None and reading is not None:
        # Whole intervals passed (at least one): a catch-up raises one job, not one per interval.
        base = float(previous)
        return base + value * max(1, int((reading - base) // value))
    return reading if reading is not None else previous


def condition_due(
    trigger_id: int, params: dict[str, Any], cycle: Cycle, machine_id: int, ctx: Context
) -> TriggerDue:
    """A condition trigger: the tag window and/or the event seen since the cycle started."""
    if cycle.seq > 0 and cycle.last_completed_us is None:
        # The work order raised last is still open: it already asks for the work.
        evidence_open: dict[str, Any] = {"trigger": "condition", "waiting_for": "open work order"}
        return TriggerDue(trigger_id, "condition", None, False, evidence=evidence_open)
    since = max(cycle.since_us, cycle.last_completed_us or cycle.since_us)
    evidence: dict[str, Any] = {"trigger": "condition", "since_us": since}
    dues: list[int] = []
    tag_name, event_type = params.get("tag_name"), params.get("event_type")
    if tag_name:
        window = ctx.condition_window(
            machine_id,
            tag_name,
            params.get("operator", "above"),
            float(params["limit"]),
            float(params.get("duration_s", 600.0)),
            since,
        )
        evidence["tag_name"] = tag_name
        evidence["operator"] = params.get("operator", "above")
        evidence["limit"] = params["limit"]
        evidence["duration_s"] = params.get("duration_s", 600.0)
        if window is None:
            return TriggerDue(trigger_id, "condition", None, False, evidence=evidence)
        evidence["window"] = window
        dues.append(int(window["due_us"]))
    if event_type:
        signal = ctx.signal(machine_id, event_type, since)
        evidence["event_type"] = event_type
        if signal is None:
            return TriggerDue(trigger_id, "condition", None, False, evidence=evidence)
        evidence["event"] = signal
        dues.append(int(signal["at_us"]))
    due = max(dues)
    return TriggerDue(trigger_id, "condition", due, due <= ctx.now_us, evidence=evidence)


def evaluate(
    triggers: list[tuple[int, str, dict[str, Any]]],
    cycle: Cycle,
    machine_id: int,
    ctx: Context,
    clock: WallClock,
    holiday_rule: str,
) -> list[TriggerDue]:
    """Each trigger's due point in the current cycle."""
    out = []
    for tid, kind, params in triggers:
        if kind == "calendar":
            out.append(calendar_due(tid, params, cycle, clock, holiday_rule, ctx.now_us))
        elif kind == "meter":
            out.append(meter_due(tid, params, cycle, machine_id, ctx))
        else:
            out.append(condition_due(tid, params, cycle, machine_id, ctx))
    return out


@dataclass(frozen=True)
class Decision:
    """Whether the plan is due on this machine now, when, and which triggers made it so."""

    fire: bool
    due_us: int | None
    nominal_us: int | None
    fired: list[TriggerDue]
    projected: bool


def combine(dues: list[TriggerDue], how: str, lead_time_us: int, now_us: int) -> Decision:
    """ANY: the earliest trigger decides; ALL: the latest. A job is raised `lead_time_us` early."""
    known = [d for d in dues if d.due_us is not None]
    if not dues or not known or (how == "all" and len(known) < len(dues)):
        return Decision(False, None, None, [], False)
    if how == "all":
        due = max(d.due_us for d in known if d.due_us is not None)
        fired = known
    else:
        due = min(d.due_us for d in known if d.due_us is not None)
        fired = [d for d in known if d.due_us == due or d.reached]
    nominal = next((d.nominal_us for d in fired if d.nominal_us is not None), due)
    projected = any(d.projected for d in fired)
    fire = due - lead_time_us <= now_us
    return Decision(fire, due, nominal, fired, projected)
