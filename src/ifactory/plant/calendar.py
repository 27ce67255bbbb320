"""Site calendar: shifts, breaks, holidays and planned stops, computed in site time, stored as UTC.

Days of 23 h and 25 h (daylight saving) come out right because every wall-clock time is
converted on its own date with the site's zone, never by adding fixed 24 h steps.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ifactory.core.clock import US, from_datetime, to_datetime
from ifactory.plant.spec import ALL_DAYS, SiteSettings

Interval = tuple[int, int]


@dataclass(frozen=True)
class ShiftInstance:
    """One occurrence of a shift: its name, production day and span (UTC µs), with its breaks."""

    name: str
    day: date
    start_us: int
    end_us: int
    breaks: tuple[Interval, ...]


def _subtract(intervals: list[Interval], cuts: list[Interval]) -> list[Interval]:
    """Intervals minus the union of cuts (both sorted lists of half-open [start, end))."""
    out: list[Interval] = []
    cuts = sorted(cuts)
    for start, end in intervals:
        cur = start
        for cs, ce in cuts:
            if ce <= cur or cs >= end:
                continue
            if cs > cur:
                out.append((cur, cs))
            cur = max(cur, ce)
            if cur >= end:
                break
        if cur < end:
            out.append((cur, end))
    return out


class SiteCalendar:
    """Answers "is this moment planned production time?" for a site (and optionally one node)."""

    def __init__(self, settings: SiteSettings) -> None:
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        self._holidays = set(settings.calendar.holidays)
        self._cache: dict[str | None, tuple[int, int, list[Interval]]] = {}

    def _local(self, d: date, t: time) -> int:
        return from_datetime(datetime.combine(d, t, tzinfo=self.tz))

    def production_day(self, ts_us: int) -> date:
        """The production day a moment belongs to (days start at `production_day_start`)."""
        local = to_datetime(ts_us).astimezone(self.tz)
        day = local.date()
        if local.time() < self.settings.production_day_start:
            day -= timedelta(days=1)
        return day

    def day_bounds(self, day: date) -> Interval:
        """Start and end (UTC µs) of a production day: 23 h or 25 h on daylight-saving days."""
        start = self._local(day, self.settings.production_day_start)
        end = self._local(day + timedelta(days=1), self.settings.production_day_start)
        return start, end

    def shifts(self, start_us: int, end_us: int) -> list[ShiftInstance]:
        """Shift occurrences overlapping [start_us, end_us), in time order."""
        first = to_datetime(start_us).astimezone(self.tz).date() - timedelta(days=1)
        last = to_datetime(end_us).astimezone(self.tz).date()
        out: list[ShiftInstance] = []
        d = first
        while d <= last:
            if d not in self._holidays:
                weekday = ALL_DAYS[d.weekday()]
                for shift in self.settings.calendar.shifts:
                    if weekday not in shift.days:
                        continue
                    s = self._local(d, shift.start)
                    e_day = d if shift.end > shift.start else d + timedelta(days=1)
                    e = self._local(e_day, shift.end)
                    if e <= start_us or s >= end_us:
                        continue
                    breaks = []
                    for br in shift.breaks:
                        b_day = d if br.start >= shift.start else d + timedelta(days=1)
                        bs = self._local(b_day, br.start)
                        be_day = b_day if br.end > br.start else b_day + timedelta(days=1)
                        be = self._local(be_day, br.end)
                        breaks.append((max(bs, s), min(be, e)))
                    out.append(
                        ShiftInstance(
                            shift.name, self.production_day(s), s, e, tuple(sorted(breaks))
                        )
                    )
            d += timedelta(days=1)
        out.sort(key=lambda x: x.start_us)
        return out

    def planned_stops(
        self, start_us: int, end_us: int, node_ids: set[str] | None = None
    ) -> list[Interval]:
        """Planned stops overlapping the range that apply to the site or to one of `node_ids`."""
        out = []
        for stop in self.settings.calendar.planned_stops:
            if stop.nodes and (node_ids is None or not (set(stop.nodes) & node_ids)):
                continue
            s = self._aware(stop.start)
            e = self._aware(stop.end)
            if e > start_us and s < end_us:
                out.append((s, e))
        return sorted(out)

    def _aware(self, dt: datetime) -> int:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.tz)
        return from_datetime(dt)

    def planned_intervals(
        self, start_us: int, end_us: int, node_ids: set[str] | None = None
    ) -> list[Interval]:
        """Planned production time in [start_us, end_us): shifts minus breaks and planned stops."""
        spans: list[Interval] = []
        cuts: list[Interval] = []
        for sh in self.shifts(start_us, end_us):
            spans.append((max(sh.start_us, start_us), min(sh.end_us, end_us)))
            cuts.extend(sh.breaks)
        cuts.extend(self.planned_stops(start_us, end_us, node_ids))
        merged: list[Interval] = []
        for s, e in sorted(spans):
            if s >= e:
                continue
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return _subtract(merged, cuts)

    def is_planned(self, ts_us: int, node_ids: set[str] | None = None) -> bool:
        """True when `ts_us` falls in planned production time (cached by the day around it)."""
        key = None if node_ids is None else ",".join(sorted(node_ids))
        cached = self._cache.get(key)
        if cached is None or not (cached[0] <= ts_us < cached[1]):
            lo = ts_us - 2 * 86_400 * US
            hi = ts_us + 2 * 86_400 * US
            cached = (lo + 86_400 * US, hi - 86_400 * US, self.planned_intervals(lo, hi, node_ids))
            self._cache[key] = cached
        intervals = cached[2]
        i = bisect.bisect_right(intervals, (ts_us, 1 << 62)) - 1
        return i >= 0 and intervals[i][0] <= ts_us < intervals[i][1]

    def planned_seconds(
        self, start_us: int, end_us: int, node_ids: set[str] | None = None
    ) -> float:
        """Total planned production time in the range, in seconds."""
        return sum(e - s for s, e in self.planned_intervals(start_us, end_us, node_ids)) / US
