"""Clocks. Every "now" in the platform comes from one, so the demo can run on simulated time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol

US = 1_000_000


class Clock(Protocol):
    def now_us(self) -> int:
        """Current time as int64 UTC microseconds."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now_us(self) -> int:
        return time.time_ns() // 1000


class ManualClock:
    """A clock that moves only when told to: the simulator and tests drive it."""

    def __init__(self, start_us: int) -> None:
        self._now = start_us
        self._lock = threading.Lock()

    def now_us(self) -> int:
        return self._now

    def set(self, now_us: int) -> None:
        """Move the clock to `now_us` (never backwards)."""
        with self._lock:
            self._now = max(self._now, now_us)

    def advance(self, delta_us: int) -> None:
        """Move the clock forward by `delta_us`."""
        with self._lock:
            self._now += delta_us


def to_datetime(ts_us: int) -> datetime:
    """Int64 UTC microseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ts_us / US, tz=UTC)


def from_datetime(dt: datetime) -> int:
    """An aware datetime to int64 UTC microseconds (naive datetimes are taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds
