"""Scoring failure predictions: shares with Wilson intervals, lead times, false alarms."""

from __future__ import annotations

import math

import pytest

from ifactory.analytics.prognostics.evaluation import (
    AlarmEpisode,
    is_false_alarm,
    lead_times,
    score,
    wilson_interval,
)
from ifactory.analytics.prognostics.features import HOUR_US
from ifactory.analytics.prognostics.labels import Failure

H = HOUR_US


def test_wilson_interval_matches_the_published_values() -> None:
    # Newcombe (1998), Table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605.
    lo, hi = wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    lo, hi = wilson_interval(15, 148)
    assert (round(lo, 4), round(hi, 4)) == (0.0624, 0.1605)
    # All successes: the upper end is 1, the lower end n / (n + z²).
    lo, hi = wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(10 / (10 + 1.959963984540054**2))
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def _f(machine: str, t_h: float, precursor: bool = True) -> Failure:
    return Failure(machine, int(t_h * H), "bearing_wear" if precursor else "sudden", precursor)


def test_lead_time_is_from_the_earliest_true_alarm_after_the_previous_failure() -> None:
    failures = [_f("a", 100), _f("a", 300), _f("b", 200, precursor=False)]
    alarms = [
        AlarmEpisode("a", 40 * H),  # 60 h ahead of the failure at 100 h
        AlarmEpisode("a", 70 * H),  # a second episode for the same failure: lead stays 60 h
        AlarmEpisode("a", 150 * H),  # not followed by a failure within 96 h: false
        AlarmEpisode("a", 280 * H),  # 20 h ahead of the failure at 300 h
    ]
    assert lead_times(failures, alarms, horizon_h=72, tolerance_h=24) == [60.0, 20.0, None]
    # An alarm raised before the previous failure does not count for the next one.
    assert lead_times(
        [_f("a", 100), _f("a", 150)], [AlarmEpisode("a", 90 * H)], horizon_h=72, tolerance_h=24
    ) == [10.0, None]


def test_false_alarm_means_no_failure_of_that_machine_within_horizon_plus_tolerance() -> None:
    failures = [_f("a", 100)]
    assert not is_false_alarm(AlarmEpisode("a", 4 * H), failures, horizon_h=72, tolerance_h=24)
    assert is_false_alarm(AlarmEpisode("a", 3 * H), failures, horizon_h=72, tolerance_h=24)
    # A failure of another machine does not make an alarm true.
    assert is_false_alarm(AlarmEpisode("b", 50 * H), failures, horizon_h=72, tolerance_h=24)
    # An alarm after the failure is false.
    assert is_false_alarm(AlarmEpisode("a", 101 * H), failures, horizon_h=72, tolerance_h=24)


def test_score_counts_shares_lead_and_false_alarms_per_machine_month() -> None:
    failures = [_f("a", 100), _f("b", 100), _f("c", 100), _f("d", 100, precursor=False)]
    alarms = [
        AlarmEpisode("a", 30 * H),  # 70 h ahead
        AlarmEpisode("b", 60 * H),  # 40 h ahead: predicted, but late
        AlarmEpisode("e", 10 * H),  # false
        AlarmEpisode("e", 500 * H),  # false
    ]
    s = score(failures, alarms, machines=4, days=60)
    assert (s.failures, s.failures_with_precursor) == (4, 3)
    assert (s.predicted_48h_with_precursor.k, s.predicted_48h_with_precursor.n) == (1, 3)
    assert (s.predicted_48h_all.k, s.predicted_48h_all.n) == (1, 4)
    assert s.predicted_any_with_precursor.k == 2
    assert s.median_lead_h == 55.0
    assert (s.false_alarms, s.true_alarms) == (2, 2)
    assert s.machine_months == 8.0
    assert s.false_alarms_per_machine_month == 0.25
