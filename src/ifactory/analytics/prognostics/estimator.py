"""The online RUL estimator: per machine, an estimate with its band every hour of data.

As data arrives, each complete hour of every machine's 1-minute rollups is summarised
(`features.summarize_hours`), appended to the machine's history and turned into features;
the machine class's model gives the 10/50/90 % RUL quantiles. When the compared quantile
drops below the horizon (default 72 h) for `confirm` consecutive hours, one `FailurePredicted`
is published for the episode; the episode ends (hysteresis) when the estimate stays above the
release level for `confirm` hours, when the machine goes down (it failed or is repaired), or
when its prediction lapsed (`expire_h`, by default the horizon, after it was raised without a
failure: the planner gets a fresh prediction if the estimate is still under the horizon, at
most one per `expire_h`; each renewal not followed by a failure counts as a false alarm).

The estimator does no database I/O: the platform service persists its output, and the
plant evaluation runs this same class on simulated data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ifactory.analytics.prognostics.events import FailurePredicted
from ifactory.analytics.prognostics.features import (
    HOUR_US,
    KEEP_HOURS,
    HourSummary,
    MachineHistory,
    MachineTags,
    RollupSource,
    summarize_hours,
)
from ifactory.analytics.prognostics.registry import LoadedModel
from ifactory.core.errors import InvalidInput

QUANTILE_INDEX = {"low": 0, "median": 1, "high": 2}


@dataclass(frozen=True)
class AlarmPolicy:
    """When an RUL estimate raises and clears a failure alarm."""

    horizon_h: float = 72.0
    release_h: float = 108.0
    # Consecutive hourly estimates under the threshold (or over the release level) that raise
    # (or clear) the alarm: one noisy hour does not page the planner.
    confirm: int = 3
    # The band's low end (10 %) is compared: alarm when a failure soon has at least a 10 %
    # chance (chosen on validation seed 4, against the median: earlier warnings for a
    # false-alarm rate still well under the goal).
    quantile: str = "low"
    # An episode whose prediction has lapsed (no failure this long after it was raised) ends;
    # if the estimate is still under the threshold, a new prediction is published (a reminder
    # with the current estimate); each renewal not followed by a failure within the horizon
    # (plus the scoring tolerance) counts as a false alarm. None: never.
    expire_h: float | None = 48.0
    # The level the compared quantile must fall under to raise the alarm (None: the horizon).
    # 12 h over the horizon, so that a failure 72 h out is announced before it is inside it.
    raise_below_h: float | None = 84.0
    # The last three were chosen together on tuning seeds 4-6 (models trained on seeds 1-3 and
    # 7-15, never on an evaluated seed), as the best share of failures predicted >= 48 h ahead
    # with at most 0.85 false alarms per machine-month: 0.926 (87/94) at 0.81, against 0.660
    # (62/94) at 0.53 for the previous policy (under 72 h, confirm 2, expire 72 h).

    @classmethod
    def for_horizon(cls, horizon_h: float) -> AlarmPolicy:
        """The default policy with its levels scaled from its horizon to `horizon_h`."""
        d = cls()
        k = horizon_h / d.horizon_h
        return cls(
            horizon_h=horizon_h,
            release_h=d.release_h * k,
            confirm=d.confirm,
            quantile=d.quantile,
            expire_h=None if d.expire_h is None else d.expire_h * k,
            raise_below_h=None if d.raise_below_h is None else d.raise_below_h * k,
        )

    @property
    def threshold_h(self) -> float:
        """The level under which the compared quantile raises the alarm."""
        return self.horizon_h if self.raise_below_h is None else self.raise_below_h

    def __post_init__(self) -> None:
        if self.horizon_h <= 0 or self.release_h < self.horizon_h:
            raise InvalidInput("need 0 < horizon_h <= release_h", type="invalid_policy")
        if not 0 < self.threshold_h <= self.release_h:
            raise InvalidInput("need 0 < raise_below_h <= release_h", type="invalid_policy")
        if self.confirm < 1:
            raise InvalidInput("confirm must be at least 1", type="invalid_policy")
        if self.expire_h is not None and self.expire_h <= 0:
            raise InvalidInput("expire_h must be positive", type="invalid_policy")
        if self.quantile not in QUANTILE_INDEX:
            raise InvalidInput(
                f"quantile must be one of {sorted(QUANTILE_INDEX)}", type="invalid_policy"
            )

    @property
    def quantile_index(self) -> int:
        """Column of the compared quantile in a model's (low, median, high) prediction."""
        return QUANTILE_INDEX[self.quantile]

    def step(self, state: AlarmState, value_h: float, ts_us: int) -> bool:
        """Advance `state` with one estimate (the compared quantile, hours) made at `ts_us`.

        True when this estimate raises the alarm (a new `FailurePredicted`).
        """
        if (
            state.active
            and self.expire_h is not None
            and state.raised_us is not None
            and ts_us - state.raised_us >= self.expire_h * HOUR_US
        ):
            # The prediction lapsed without a failure: that episode is over.
            state.active = False
            state.raised_us = None
        state.below = state.below + 1 if value_h < self.threshold_h else 0
        state.above = state.above + 1 if value_h > self.release_h else 0
        if not state.active and state.below >= self.confirm:
            state.active = True
            state.raised_us = ts_us
            state.above = 0
            return True
        if state.active and state.above >= self.confirm:
            state.active = False
            state.raised_us = None
            state.below = 0
        return False


@dataclass(frozen=True)
class Estimate:
    """A machine's RUL at `ts_us` (end of the hour it is computed from), in hours."""

    machine_id: int
    machine_key: str
    machine_class: str
    ts_us: int
    rul_h: float
    low_h: float
    high_h: float
    alarm: bool
    model_id: int | None
    model_name: str
    model_version: int
    signals: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class AlarmState:
    """Hysteresis state of one machine's failure alarm."""

    active: bool = False
    below: int = 0  # consecutive estimates under the horizon
    above: int = 0  # consecutive estimates over the release level
    raised_us: int | None = None


class OnlineEstimator:
    """Hourly RUL estimates and failure alarms for a set of machines."""

    def __init__(
        self,
        machines: Iterable[MachineTags],
        models: Mapping[str, LoadedModel],
        *,
        policy: AlarmPolicy | None = None,
        lag_us: int = 0,
    ) -> None:
        self.machines = {m.machine_id: m for m in machines}
        self.models = dict(models)
        self.policy = policy or AlarmPolicy()
        self.lag_us = lag_us
        self.histories = {mid: MachineHistory(m) for mid, m in self.machines.items()}
        self.alarms = {mid: AlarmState() for mid in self.machines}
        self.next_hour: int | None = None
        for m in self.machines.values():
            model = self.models.get(m.machine_class)
            if model is not None and model.model.features != m.feature_names():
                raise InvalidInput(
                    f"model {model.name} v{model.version} has other features than machine "
                    f"'{m.machine_key}'",
                    type="feature_mismatch",
                )

    def restore_alarm(self, machine_id: int, *, active: bool, raised_us: int | None) -> None:
        """Take up an alarm state persisted before a restart."""
        if machine_id in self.alarms:
            self.alarms[machine_id] = AlarmState(active=active, raised_us=raised_us)

    def _complete_hour(self, now_us: int) -> int:
        """The last hour whose data is complete at `now_us`."""
        return (now_us - self.lag_us) // HOUR_US - 1

    def _summaries(
        self, source: RollupSource, first: int, last: int
    ) -> dict[int, list[HourSummary]]:
        ids = sorted({t for m in self.machines.values() for t in m.tag_ids})
        rows = source.rollups(np.array(ids, dtype=np.int32), first * HOUR_US, (last + 1) * HOUR_US)
        return {mid: summarize_hours(m, rows, first, last) for mid, m in self.machines.items()}

    def warm_up(self, source: RollupSource, now_us: int, *, until_hour: int | None = None) -> None:
        """Fill the histories from the historian (up to `until_hour`) without estimating."""
        last = self._complete_hour(now_us) if until_hour is None else until_hour
        first = last - KEEP_HOURS + 1 if self.next_hour is None else self.next_hour
        if last < first:
            return
        for mid, summaries in self._summaries(source, first, last).items():
            for s in summaries:
                self.histories[mid].add(s)
        self.next_hour = last + 1

    def advance(
        self, source: RollupSource, now_us: int
    ) -> tuple[list[Estimate], list[FailurePredicted]]:
        """Process every hour completed by `now_us`; the estimates made and the alarms raised."""
        last = self._complete_hour(now_us)
        first = last if self.next_hour is None else self.next_hour
        if last < first:
            return [], []
        estimates, events = self.estimate_hours(first, self._summaries(source, first, last))
        self.next_hour = last + 1
        return estimates, events

    def estimate_hours(
        self, first_hour: int, summaries: Mapping[int, Sequence[HourSummary]]
    ) -> tuple[list[Estimate], list[FailurePredicted]]:
        """Add consecutive hour summaries of every machine (from `first_hour` on) and estimate.

        `advance` reads them from the historian; replaying stored summaries gives the same
        estimates and alarms (the plant-policy tuning benchmark does so).
        """
        estimates: list[Estimate] = []
        events: list[FailurePredicted] = []
        n = min((len(s) for s in summaries.values()), default=0)
        for i in range(n):
            for mid, hours in summaries.items():
                self.histories[mid].add(hours[i])
            est, ev = self._estimate_hour(
                first_hour + i, {mid: s[i] for mid, s in summaries.items()}
            )
            estimates += est
            events += ev
        return estimates, events

    def _estimate_hour(
        self, hour: int, summaries: Mapping[int, HourSummary]
    ) -> tuple[list[Estimate], list[FailurePredicted]]:
        ts_us = (hour + 1) * HOUR_US
        by_class: dict[str, list[int]] = {}
        for mid, m in self.machines.items():
            if summaries[mid].down:
                # Failed or under repair: nothing to predict, and a running alarm episode ends.
                self.alarms[mid] = AlarmState()
                continue
            if m.machine_class in self.models:
                by_class.setdefault(m.machine_class, []).append(mid)
        estimates: list[Estimate] = []
        events: list[FailurePredicted] = []
        for cls, mids in by_class.items():
            loaded = self.models[cls]
            x = np.vstack([self.histories[mid].features() for mid in mids])
            quantiles = loaded.model.predict(x)
            for row, mid in enumerate(mids):
                low, med, high = (float(v) for v in quantiles[row])
                raised = self._update_alarm(
                    mid, float(quantiles[row][self.policy.quantile_index]), ts_us
                )
                signals: list[tuple[str, float]] = []
                if raised:
                    signals = loaded.model.explain(x[row]).contributions
                m = self.machines[mid]
                est = Estimate(
                    machine_id=mid,
                    machine_key=m.machine_key,
                    machine_class=cls,
                    ts_us=ts_us,
                    rul_h=med,
                    low_h=low,
                    high_h=high,
                    alarm=self.alarms[mid].active,
                    model_id=loaded.id,
                    model_name=loaded.name,
                    model_version=loaded.version,
                    signals=signals,
                )
                estimates.append(est)
                if raised:
                    events.append(
                        FailurePredicted(
                            machine_id=mid,
                            machine_key=m.machine_key,
                            machine_class=cls,
                            estimated_at_us=ts_us,
                            rul_h=med,
                            low_h=low,
                            high_h=high,
                            predicted_failure_us=ts_us + round(med * HOUR_US),
                            horizon_h=self.policy.horizon_h,
                            signals=signals,
                            model_name=loaded.name,
                            model_version=loaded.version,
                        )
                    )
        return estimates, events

    def _update_alarm(self, machine_id: int, value_h: float, ts_us: int) -> bool:
        """Advance the hysteresis with one estimate; True when this estimate raises the alarm."""
        return self.policy.step(self.alarms[machine_id], value_h, ts_us)
