"""Planned production time as a forward stream: "from t, is it planned, and until when?"."""

from __future__ import annotations

import bisect

from ifactory.core.clock import US
from ifactory.plant.calendar import SiteCalendar

WINDOW_US = 7 * 86_400 * US
# A site with no shift for this long is treated as shut: the machine idles window by window.
MAX_EMPTY_WINDOWS = 8
FOREVER_US = 1 << 62


class PlannedTime:
    """Merged planned intervals of one site (and node set), fetched from the calendar week by week.

    A site without any shift is planned around the clock: a simulator with no calendar should
    still produce.
    """

    def __init__(self, calendar: SiteCalendar, node_ids: set[str] | None, start_us: int) -> None:
        self._calendar = calendar
        self._node_ids = node_ids
        self._always = not calendar.settings.calendar.shifts
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._to = start_us

    def _extend(self) -> None:
        got = self._calendar.planned_intervals(self._to, self._to + WINDOW_US, self._node_ids)
        for s, e in got:
            # The calendar clips at the window edge; glue an interval that continues across it.
            if self._ends and s <= self._ends[-1]:
                self._ends[-1] = max(self._ends[-1], e)
            else:
                self._starts.append(s)
                self._ends.append(e)
        self._to += WINDOW_US

    def at(self, t_us: int) -> tuple[bool, int, str]:
        """(planned?, until when, why not: "break", "planned_stop" or "no_shift")."""
        if self._always:
            return True, FOREVER_US, ""
        empty = 0
        while True:
            while self._to <= t_us:
                self._extend()
            i = bisect.bisect_right(self._starts, t_us) - 1
            if i >= 0 and t_us < self._ends[i]:
                if self._ends[i] < self._to:
                    return True, self._ends[i], ""
            elif i + 1 < len(self._starts):
                return False, self._starts[i + 1], self._gap_reason(t_us)
            elif empty >= MAX_EMPTY_WINDOWS:
                return False, self._to, "no_shift"
            else:
                empty += 1
            # The interval (or gap) may continue past what has been fetched.
            self._extend()

    def _gap_reason(self, t_us: int) -> str:
        for shift in self._calendar.shifts(t_us, t_us + 1):
            if shift.start_us <= t_us < shift.end_us:
                if any(bs <= t_us < be for bs, be in shift.breaks):
                    return "break"
                return "planned_stop"
        return "no_shift"
