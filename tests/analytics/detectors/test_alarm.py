"""Hysteresis alarm: rise above the threshold, clear only below the release level."""

from __future__ import annotations

import math

import pytest

from ifactory.analytics.detectors.alarm import HysteresisAlarm


def test_a_score_hovering_around_the_threshold_gives_one_continuous_alarm() -> None:
    scores = [0.2, 1.2, 0.9, 1.1, 0.8, 0.6, 0.4, 0.9, 1.3]
    assert HysteresisAlarm(1.0, release=0.5).update_many(scores).tolist() == [
        0,
        1,
        1,
        1,
        1,
        1,
        0,
        0,
        1,
    ]
    # without hysteresis the same scores chatter
    assert HysteresisAlarm(1.0).update_many(scores).tolist() == [0, 1, 0, 1, 0, 0, 0, 0, 1]


def test_missing_scores_keep_the_state_and_batch_equals_one_by_one() -> None:
    scores = [2.0, math.nan, 0.7, math.nan, 0.1, math.nan]
    one = HysteresisAlarm(1.0, 0.5)
    assert [int(one.update(s)) for s in scores] == [1, 1, 1, 1, 0, 0]
    assert HysteresisAlarm(1.0, 0.5).update_many(scores).tolist() == [1, 1, 1, 1, 0, 0]


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        HysteresisAlarm(1.0, release=0.0)
    with pytest.raises(ValueError):
        HysteresisAlarm(math.inf)
