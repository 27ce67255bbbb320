"""Online statistics agree with their batch definitions."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.analytics.stats import EWStats, RollingWindow, RunningStats, gaussian_tail


def test_running_stats_match_numpy() -> None:
    xs = np.random.default_rng(0).normal(3.0, 2.0, size=500)
    s = RunningStats()
    for x in xs:
        s.update(float(x))
    assert s.mean == pytest.approx(xs.mean()) and s.variance == pytest.approx(xs.var(ddof=1))
    restored = RunningStats()
    restored.load(s.state())
    assert restored.state() == s.state()


def test_ew_stats_follow_a_level_change() -> None:
    s = EWStats(alpha=0.1)
    for _ in range(200):
        s.update(5.0)
    assert s.mean == pytest.approx(5.0) and s.variance == pytest.approx(0.0)


def test_rolling_window_holds_the_last_values() -> None:
    w = RollingWindow(4)
    for x in range(10):
        w.update(float(x))
    assert w.values().tolist() == [6.0, 7.0, 8.0, 9.0]
    assert w.mean == 7.5 and w.variance == pytest.approx(np.var([6, 7, 8, 9]))
    copy = RollingWindow(4)
    copy.load(w.state())
    assert copy.values().tolist() == w.values().tolist()


def test_gaussian_tail() -> None:
    assert gaussian_tail(0.0) == 0.5
    assert gaussian_tail(1.959963984540054) == pytest.approx(0.025)
