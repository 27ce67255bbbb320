"""Alert suppression: turn a stream of anomaly scores into few, meaningful alerts (no I/O).

Scores arrive per *source* (one tag's univariate detector, or a machine's multivariate one),
already divided by that source's alert threshold, so 1.0 means "at the threshold" whatever the
detector. Sources are grouped per machine: a machine has at most one open alert at a time, and
every source that crosses while it is open joins that alert (its tags are added to the
evidence) instead of raising a second one.

The rules, after the alarm-management practice of ISA-18.2 / IEC 62682 (deadband and
re-alarm suppression):
- **hysteresis (deadband)**: an alert is raised when a source's score reaches `raise_at` and is
  cleared only when *every* source of the machine has fallen below `clear_below` (< raise_at)
  and stayed there for `clear_after_us`, so a score that hovers around the threshold gives one
  alert, not a flapping series;
- **on-delay**: an alert is raised only once the source's excursion (its run of points at or
  above `clear_below`) has lasted `on_delay_us` and the score is at `raise_at`, so a fleeting
  spike of a few samples raises nothing, while a degradation that persists for hours is not
  delayed in any way that matters (ISA-18.2 / IEC 62682 on-delay timer against "fleeting"
  alarms);
- **cooldown (re-alarm delay)**: after an alert clears, the machine raises no new alert for
  `cooldown_us` of data time.

All times are data time (the samples' source timestamps), so the outcome does not depend on
how fast data arrives, and a replay gives the same alerts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Thresholds (in units of a source's alert threshold) and timings of the suppression."""

    raise_at: float = 1.0
    clear_below: float = 0.7
    cooldown_us: int = 60 * 60 * 1_000_000
    clear_after_us: int = 5 * 60 * 1_000_000
    # On-delay: how long an excursion must last before it may raise (0: raise at once).
    on_delay_us: int = 0
    # Evidence shown before the first over-threshold point when the excursion began earlier.
    lookback_us: int = 10 * 60 * 1_000_000

    def __post_init__(self) -> None:
        if not (math.isfinite(self.raise_at) and self.raise_at > 0):
            raise ValueError("raise_at must be a positive number")
        if not 0 <= self.clear_below < self.raise_at:
            raise ValueError("clear_below must be in [0, raise_at)")
        if min(self.cooldown_us, self.clear_after_us, self.lookback_us, self.on_delay_us) < 0:
            raise ValueError("cooldown, clear delay, on-delay and lookback must not be negative")


@dataclass(frozen=True, slots=True)
class Raised:
    """A new alert for a machine: the source that crossed, its peak and the evidence window."""

    machine_id: int
    source: str
    tag_ids: tuple[int, ...]
    at_us: int
    ratio: float  # score / threshold of the crossing point
    window_start_us: int


@dataclass(frozen=True, slots=True)
class Joined:
    """Another source crossed while the machine's alert was open: its tags join the evidence."""

    machine_id: int
    source: str
    tag_ids: tuple[int, ...]
    at_us: int
    ratio: float


@dataclass(frozen=True, slots=True)
class Cleared:
    """Every source of the machine stayed below `clear_below` long enough: the alert clears."""

    machine_id: int
    at_us: int
    window_end_us: int  # the last point at or above `clear_below`
    peak_ratio: float


Change = Raised | Joined | Cleared


@dataclass
class _Source:
    ratio: float = 0.0  # last ratio seen
    above_since: int | None = None  # first point of the current run at or above clear_below
    in_alert: bool = False


@dataclass
class _Machine:
    sources: dict[str, _Source] = field(default_factory=dict)
    open: bool = False
    peak: float = 0.0
    last_high_us: int = 0  # last point of any source at or above clear_below
    quiet_since: int | None = None  # when every source first went below clear_below
    cooldown_until: int = -(2**62)


class AlertSuppressor:
    """Per-machine hysteresis and cooldown over per-source score ratios; `observe` is O(points)."""

    def __init__(self, policy: AlertPolicy | None = None) -> None:
        self.policy = policy or AlertPolicy()
        self._machines: dict[int, _Machine] = {}

    def is_open(self, machine_id: int) -> bool:
        """True while the machine has an open (raised, not yet cleared) alert."""
        m = self._machines.get(machine_id)
        return m is not None and m.open

    def resume(self, machine_id: int, *, at_us: int, peak_ratio: float) -> None:
        """Mark an alert as open (after a restart, from the stored alerts)."""
        m = self._machines.setdefault(machine_id, _Machine())
        m.open = True
        m.peak = max(m.peak, peak_ratio)
        m.last_high_us = max(m.last_high_us, at_us)

    def resume_cooldown(self, machine_id: int, *, cleared_at_us: int) -> None:
        """Restore the cooldown after a cleared alert (after a restart)."""
        m = self._machines.setdefault(machine_id, _Machine())
        m.cooldown_until = max(m.cooldown_until, cleared_at_us + self.policy.cooldown_us)

    def observe(
        self,
        machine_id: int,
        source: str,
        tag_ids: tuple[int, ...],
        ts_us: npt.NDArray[np.int64],
        ratios: npt.NDArray[np.float64],
    ) -> list[Change]:
        """Feed one source's ratios (time-ordered); returns the alert changes they cause."""
        p = self.policy
        m = self._machines.setdefault(machine_id, _Machine())
        s = m.sources.setdefault(source, _Source())
        out: list[Change] = []
        if len(ts_us) == 0:
            return out
        clean = np.where(np.isfinite(ratios), ratios, 0.0)
        high = clean >= p.clear_below
        # Fast path: a quiet source on a quiet machine only updates its last ratio.
        if not m.open and not high.any() and s.above_since is None:
            s.ratio = float(clean[-1])
            return out
        ts_list = ts_us.tolist()
        r_list = clean.tolist()
        high_list = high.tolist()
        for t, r, hi in zip(ts_list, r_list, high_list, strict=True):
            s.ratio = r
            if hi:
                if s.above_since is None:
                    s.above_since = t
                m.last_high_us = max(m.last_high_us, t)
                m.quiet_since = None
            else:
                s.above_since = None
            if r >= p.raise_at:
                if not m.open:
                    lasted = s.above_since is not None and t - s.above_since >= p.on_delay_us
                    if t >= m.cooldown_until and lasted:
                        m.open = True
                        m.peak = r
                        s.in_alert = True
                        # The excursion from its start, with at least `lookback_us` of what
                        # came before it, so the evidence chart shows normal behaviour too.
                        begun = s.above_since if s.above_since is not None else t
                        start = min(begun, t - p.lookback_us)
                        out.append(Raised(machine_id, source, tag_ids, t, r, start))
                else:
                    m.peak = max(m.peak, r)
                    if not s.in_alert:
                        s.in_alert = True
                        out.append(Joined(machine_id, source, tag_ids, t, r))
            if m.open and not hi and all(x.ratio < p.clear_below for x in m.sources.values()):
                if m.quiet_since is None:
                    m.quiet_since = t
                if t - m.quiet_since >= p.clear_after_us:
                    out.append(Cleared(machine_id, t, m.last_high_us, m.peak))
                    m.open = False
                    m.peak = 0.0
                    m.quiet_since = None
                    m.cooldown_until = t + p.cooldown_us
                    for x in m.sources.values():
                        x.in_alert = False
        return out
