"""The online estimator: hourly estimates as data arrives, one FailurePredicted per episode."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.analytics.prognostics.estimator import AlarmPolicy, OnlineEstimator
from ifactory.analytics.prognostics.features import HOUR_US, summarize_hours
from ifactory.analytics.prognostics.registry import LoadedModel

from .helpers import (
    DOWN,
    EXECUTING,
    STATE,
    TEMP,
    VIB,
    MinuteSource,
    VibrationModel,
    as_model,
    machine,
)

H = HOUR_US
T0 = 1_000 * H  # hour-aligned start


def _vibration(hour: float) -> float:
    """Two wear episodes: vibration climbs over hours 100-130 and 200-230, failure after each."""
    for start in (100, 200):
        if start <= hour < start + 31:
            return 2.0 + 5.0 * (hour - start) / 30.0
    return 2.0


def _plant(t_min: int) -> tuple[float, float]:
    hour = (t_min * 60 * 1_000_000 - T0) / H
    down = 131 <= hour < 133 or 231 <= hour < 233
    return (DOWN if down else EXECUTING), _vibration(hour)


def _source() -> MinuteSource:
    def value(tag: int, minute: int) -> float:
        state, vib = _plant(minute)
        return {STATE: state, VIB: vib, TEMP: 50.0}[tag]

    return MinuteSource(value)


def _estimator(**policy: float | None) -> OnlineEstimator:
    m = machine()
    loaded = LoadedModel(1, "rul.mill", "mill", 3, as_model(VibrationModel(m.feature_names())))
    return OnlineEstimator([m], {"mill": loaded}, policy=AlarmPolicy(**policy))  # type: ignore[arg-type]


def test_one_failure_predicted_per_episode_with_its_band_and_signals() -> None:
    est = _estimator(horizon_h=72.0, release_h=108.0, confirm=2, raise_below_h=None, expire_h=72.0)
    source = _source()
    events = []
    estimates = []
    # Data arrives in uneven steps; each completed hour is estimated once.
    t = T0
    for step_h in [1, 3, 1, 7, 2] * 60:
        t += step_h * H
        if t > T0 + 300 * H:
            break
        e, ev = est.advance(source, t)
        estimates += e
        events += ev
    hours = [(e.ts_us - T0) // H for e in estimates]  # hours since T0 at the end of the data hour
    assert hours == sorted(set(hours))  # no hour twice, none out of order
    # Two wear episodes, two alarms: not one per hour while the estimate stays low.
    assert len(events) == 2
    first, second = events
    assert 100 * H < first.estimated_at_us - T0 < 131 * H
    assert 200 * H < second.estimated_at_us - T0 < 231 * H
    # The alarm compares the band's low end (10 % quantile) with the horizon.
    assert first.low_h < 72.0 and first.low_h <= first.rul_h <= first.high_h
    assert first.predicted_failure_us == first.estimated_at_us + round(first.rul_h * H)
    assert first.signals == [("vibration_rms.lvl6", -10.0)]
    assert (first.machine_id, first.model_name, first.model_version) == (7, "rul.mill", 3)
    # The alarm state is on the estimates; none while the machine is down.
    alarm = {h: e.alarm for e, h in zip(estimates, hours, strict=True)}
    assert alarm[130] and alarm[230]
    # The failure (down) ends the episode: no estimate while down, no alarm after the repair.
    assert not any(132 <= h <= 133 for h in alarm)
    assert alarm[140] is False and alarm[240] is False


def test_an_estimate_hovering_between_horizon_and_release_does_not_raise_again() -> None:
    est = _estimator(horizon_h=72.0, release_h=108.0, confirm=1, raise_below_h=None)
    # Drive the hysteresis directly with medians: below, between, below, between.
    raised = [est._update_alarm(7, v, i * H) for i, v in enumerate([60, 90, 60, 90, 60])]
    assert raised == [True, False, False, False, False]
    # Above the release level clears the episode; the next drop raises a new one.
    assert est._update_alarm(7, 150, 10 * H) is False
    assert est.alarms[7].active is False
    assert est._update_alarm(7, 50, 11 * H) is True


def test_restart_resumes_the_alarm_without_raising_it_again() -> None:
    source = _source()
    est = _estimator(confirm=2, raise_below_h=None, expire_h=72.0)
    events = []
    for h in range(1, 126):
        events += est.advance(source, T0 + h * H)[1]
    assert len(events) == 1
    # A new estimator (a restart) warms up from the historian and takes the stored alarm state.
    again = _estimator(confirm=2, raise_below_h=None, expire_h=72.0)
    again.warm_up(source, T0 + 125 * H)
    again.restore_alarm(7, active=True, raised_us=events[0].estimated_at_us)
    more = []
    for h in range(126, 131):
        more += again.advance(source, T0 + h * H)[1]
        est.advance(source, T0 + h * H)
    assert more == []
    # The rebuilt history gives the same features as the one that never stopped.
    np.testing.assert_allclose(again.histories[7].features(), est.histories[7].features())


def test_policy_is_validated() -> None:
    from ifactory.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        AlarmPolicy(horizon_h=72, release_h=48)
    with pytest.raises(InvalidInput):
        AlarmPolicy(quantile="p95")
    with pytest.raises(InvalidInput):
        AlarmPolicy(raise_below_h=120.0)  # over the release level: it could never clear
    with pytest.raises(InvalidInput):
        AlarmPolicy(expire_h=0.0)


def test_a_lapsed_prediction_is_renewed_at_most_once_per_expiry() -> None:
    est = _estimator(horizon_h=72.0, release_h=108.0, confirm=1, expire_h=96.0)
    # The estimate stays under the horizon for 10 days without a failure.
    raised = [h for h in range(240) if est._update_alarm(7, 50.0, h * H)]
    assert raised == [0, 96, 192]
    never = _estimator(horizon_h=72.0, release_h=108.0, confirm=1, expire_h=None)
    assert [h for h in range(240) if never._update_alarm(7, 50.0, h * H)] == [0]


def test_by_default_the_alarm_is_raised_under_84_h_and_renewed_every_48_h() -> None:
    # Three hours under 84 h raise it (12 h over the 72 h horizon: the failure is announced
    # before it is inside the horizon); while the estimate stays low, a reminder every 48 h.
    est = _estimator()
    assert [est._update_alarm(7, 80.0, h * H) for h in range(3)] == [False, False, True]
    raised = [h for h in range(3, 240) if est._update_alarm(7, 50.0, h * H)]
    assert raised == [50, 98, 146, 194]
    policy = AlarmPolicy()
    assert (policy.horizon_h, policy.threshold_h, policy.release_h) == (72.0, 84.0, 108.0)


def test_the_default_policy_scales_with_the_horizon() -> None:
    policy = AlarmPolicy.for_horizon(48.0)
    assert policy.horizon_h == 48.0 and policy.threshold_h == pytest.approx(56.0)
    assert policy.release_h == pytest.approx(72.0) and policy.expire_h == pytest.approx(32.0)
    assert (policy.confirm, policy.quantile) == (AlarmPolicy().confirm, AlarmPolicy().quantile)
    assert AlarmPolicy.for_horizon(72.0) == AlarmPolicy()


def test_replaying_stored_hour_summaries_gives_the_same_estimates_and_alarms() -> None:
    # The policy-tuning benchmark replays cached summaries instead of reading the historian.
    source = _source()
    live = _estimator()
    estimates, events = [], []
    for h in range(1, 141):
        e, ev = live.advance(source, T0 + h * H)
        estimates += e
        events += ev
    m = live.machines[7]
    first = T0 // H
    summaries = summarize_hours(m, source.rollups(m.tag_ids, T0, T0 + 140 * H), first, first + 139)
    replay = _estimator()
    again, again_events = replay.estimate_hours(first, {7: summaries})
    assert [(e.ts_us, e.low_h, e.rul_h, e.alarm) for e in again] == [
        (e.ts_us, e.low_h, e.rul_h, e.alarm) for e in estimates
    ]
    assert [ev.estimated_at_us for ev in again_events] == [ev.estimated_at_us for ev in events]
    assert events  # the wear episode raised an alarm
