"""Scoring failure predictions against the failures that happened.

Definitions (used by `ifactory eval plant`):
- An *alarm episode* is one `FailurePredicted` (raised at `raised_us` on a machine).
- It is a *true alarm* if the machine fails within `horizon + tolerance` after it was raised,
  i.e. at some t with raised_us <= t <= raised_us + horizon + tolerance; otherwise it is a
  *false alarm*. False alarms are counted per machine-month (30 days of one machine).
- A failure is *predicted* when a true alarm of its machine was raised after that machine's
  previous failure; its *lead time* is the failure time minus the earliest such raise.
  It is *predicted at least L ahead* when that lead time is at least L (48 h here).
- Shares are reported with a 95 % Wilson score interval (Wilson 1927), which stays inside
  [0, 1] and keeps its coverage for small samples, unlike the normal approximation.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ifactory.analytics.prognostics.features import HOUR_US
from ifactory.analytics.prognostics.labels import Failure

Z95 = 1.959963984540054  # standard normal quantile for a two-sided 95 % interval


@dataclass(frozen=True)
class AlarmEpisode:
    """An alarm raised on a machine."""

    machine_key: str
    raised_us: int


@dataclass(frozen=True)
class Share:
    """k out of n, with its 95 % Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        """k / n (NaN when n is 0)."""
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """The 95 % Wilson score interval."""
        return wilson_interval(self.k, self.n)


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n (E. B. Wilson, JASA 22, 1927).

    centre = (p + z²/2n) / (1 + z²/n); half-width = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
    """
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n")
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class PlantScore:
    """The figures of one evaluation run."""

    failures: int
    failures_with_precursor: int
    predicted_48h_with_precursor: Share
    predicted_48h_all: Share
    predicted_any_with_precursor: Share
    lead_times_h: list[float]  # of predicted failures with a precursor
    false_alarms: int
    true_alarms: int
    machine_months: float

    @property
    def median_lead_h(self) -> float:
        """Median lead time of the predicted failures with a precursor (NaN if none)."""
        return statistics.median(self.lead_times_h) if self.lead_times_h else math.nan

    @property
    def false_alarms_per_machine_month(self) -> float:
        """False alarm episodes per 30 days of one machine."""
        return self.false_alarms / self.machine_months if self.machine_months else math.nan


def lead_times(
    failures: Sequence[Failure],
    alarms: Sequence[AlarmEpisode],
    *,
    horizon_h: float,
    tolerance_h: float,
) -> list[float | None]:
    """Per failure (in the given order): the lead time in hours, or None when not predicted."""
    window = (horizon_h + tolerance_h) * HOUR_US
    by_machine: dict[str, list[int]] = {}
    for f in failures:
        by_machine.setdefault(f.machine_key, []).append(f.time_us)
    for times in by_machine.values():
        times.sort()
    out: list[float | None] = []
    for f in failures:
        times = by_machine[f.machine_key]
        earlier = [t for t in times if t < f.time_us]
        previous = max(earlier) if earlier else None
        raises = [
            a.raised_us
            for a in alarms
            if a.machine_key == f.machine_key
            and a.raised_us <= f.time_us <= a.raised_us + window
            and (previous is None or a.raised_us > previous)
        ]
        out.append((f.time_us - min(raises)) / HOUR_US if raises else None)
    return out


def is_false_alarm(
    alarm: AlarmEpisode, failures: Sequence[Failure], *, horizon_h: float, tolerance_h: float
) -> bool:
    """True when no failure of the alarm's machine follows within horizon + tolerance."""
    window = (horizon_h + tolerance_h) * HOUR_US
    return not any(
        f.machine_key == alarm.machine_key
        and alarm.raised_us <= f.time_us <= alarm.raised_us + window
        for f in failures
    )


def score(
    failures: Sequence[Failure],
    alarms: Sequence[AlarmEpisode],
    *,
    machines: int,
    days: float,
    horizon_h: float = 72.0,
    tolerance_h: float = 24.0,
    min_lead_h: float = 48.0,
) -> PlantScore:
    """Score alarms against failures over `days` of `machines` machines."""
    leads = lead_times(failures, alarms, horizon_h=horizon_h, tolerance_h=tolerance_h)
    early = [lead is not None and lead >= min_lead_h for lead in leads]
    with_precursor = [bool(f.has_precursor) for f in failures]
    n_pre = sum(with_precursor)
    k_pre = sum(e and p for e, p in zip(early, with_precursor, strict=True))
    any_pre = sum(lead is not None and p for lead, p in zip(leads, with_precursor, strict=True))
    pre_leads = [
        lead for lead, p in zip(leads, with_precursor, strict=True) if p and lead is not None
    ]
    false = sum(
        is_false_alarm(a, failures, horizon_h=horizon_h, tolerance_h=tolerance_h) for a in alarms
    )
    return PlantScore(
        failures=len(failures),
        failures_with_precursor=n_pre,
        predicted_48h_with_precursor=Share(k_pre, n_pre),
        predicted_48h_all=Share(sum(early), len(failures)),
        predicted_any_with_precursor=Share(any_pre, n_pre),
        lead_times_h=pre_leads,
        false_alarms=false,
        true_alarms=len(alarms) - false,
        machine_months=machines * days / 30.0,
    )
