"""Hourly condition features from 1-minute rollups."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.analytics.prognostics.features import HOUR_US, MachineHistory, summarize_hours

from .helpers import DOWN, EXECUTING, STATE, TEMP, VIB, MinuteSource, machine

IDLE = 0.0


def test_hour_levels_use_only_the_minutes_the_machine_executed() -> None:
    # First half of each hour executing at 4 mm/s, second half idle at 0.4 mm/s.
    def value(tag: int, minute: int) -> float:
        executing = minute % 60 < 30
        if tag == STATE:
            return EXECUTING if executing else IDLE
        if tag == VIB:
            return 4.0 if executing else 0.4
        return 60.0

    m = machine()
    rows = MinuteSource(value).rollups(m.tag_ids, 10 * HOUR_US, 12 * HOUR_US)
    hours = summarize_hours(m, rows, 10, 11)
    assert [h.hour for h in hours] == [10, 11]
    assert hours[0].exec_minutes == 30
    vib = [name for _, name, _ in m.analog].index("vibration_rms")
    assert hours[0].levels[vib] == pytest.approx(4.0)
    assert not hours[0].down


def test_features_show_a_rise_over_the_machines_own_baseline() -> None:
    def value(tag: int, minute: int) -> float:
        hour = minute // 60
        if tag == STATE:
            return DOWN if hour == 5 else EXECUTING
        if tag == VIB:
            return 2.0 if hour < 200 else 3.0  # +50 % over the last 10 hours
        return 60.0

    m = machine()
    history = MachineHistory(m)
    rows = MinuteSource(value).rollups(m.tag_ids, 0, 210 * HOUR_US)
    for summary in summarize_hours(m, rows, 0, 209):
        history.add(summary)
    f = dict(zip(m.feature_names(), history.features(), strict=True))
    assert f["vibration_rms.rel6"] == pytest.approx(0.5)
    assert f["vibration_rms.lvl6"] == pytest.approx(3.0 / 7.1)
    assert f["vibration_rms.slope24"] == pytest.approx(0.5)  # last 6 h vs 18-24 h ago
    assert f["bearing_temp.rel6"] == pytest.approx(0.0)
    assert f["hours_since_down"] == 204.0
    assert f["exec_frac24"] == pytest.approx(1.0)
    assert np.isnan(f["scrap_rate24"])  # no counters on this machine


def test_hours_must_come_in_order_and_gaps_are_filled() -> None:
    m = machine()
    history = MachineHistory(m)
    rows = MinuteSource(lambda tag, minute: EXECUTING if tag == STATE else 1.0).rollups(
        m.tag_ids, 0, 10 * HOUR_US
    )
    hours = summarize_hours(m, rows, 0, 9)
    history.add(hours[0])
    history.add(hours[5])  # hours 1-4 had no data (an outage)
    assert [h.hour for h in history.hours] == [0, 1, 2, 3, 4, 5]
    assert np.isnan(history.hours[2].levels).all()
    with pytest.raises(ValueError):
        history.add(hours[3])
    assert TEMP in m.tag_ids
