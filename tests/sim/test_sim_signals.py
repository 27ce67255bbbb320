"""Counters, sensor ranges, glitches and the retrofit press whose state must be derived."""

from __future__ import annotations

import numpy as np

from ifactory.core.clock import US
from ifactory.plant.spec import DataType, TagRole

from .helpers import Run


def test_counters_are_monotone_and_roll_over_at_counter_max(week: Run) -> None:
    rollovers = 0
    for machine in week.sim.machines:
        for tag in machine.node.tags:
            spec = tag.spec
            if spec.role not in (
                TagRole.cycle_counter,
                TagRole.good_counter,
                TagRole.scrap_counter,
            ):
                continue
            assert spec.counter_max is not None
            v = week.series[tag.key].values
            assert v.min() >= 0 and v.max() <= spec.counter_max
            step = np.diff(v)
            wrapped = step < 0
            # A wrap goes past counter_max to 0: the true increment stays small and positive.
            assert np.all(step[~wrapped] >= 0)
            assert np.all(step[wrapped] + spec.counter_max + 1 >= 0)
            assert np.all(v[1:][wrapped] < 1000)
            rollovers += int(wrapped.sum())
    assert rollovers >= 1


def test_good_plus_scrap_equals_cycles(week: Run) -> None:
    checked = 0
    for machine in week.sim.machines:
        node = machine.node
        cyc, good, scrap = (
            node.tag_by_role(r) for r in ("cycle_counter", "good_counter", "scrap_counter")
        )
        if cyc is None or good is None or scrap is None:
            continue
        top = cyc.spec.counter_max
        assert top is not None
        c, g, s = (week.series[t.key] for t in (cyc, good, scrap))
        assert np.array_equal(c.ts, g.ts) and np.array_equal(c.ts, s.ts)
        assert np.array_equal((g.values + s.values) % (top + 1), c.values)
        checked += 1
    assert checked == 11  # all but press3 (stroke counter only) and the compressor


def test_energy_only_increases(week: Run) -> None:
    for machine in week.sim.machines:
        energy = machine.node.tag_by_role("energy")
        assert energy is not None
        v = week.series[energy.key].values
        assert np.all(np.diff(v) >= 0) and v[-1] > v[0]


def test_measurements_stay_in_range_and_glitches_are_bad_nan_samples(week: Run) -> None:
    for machine in week.sim.machines:
        for tag in machine.node.tags:
            lim = tag.spec.limits
            if lim is None or tag.spec.data_type != DataType.float:
                continue
            v = week.series[tag.key].values
            v = v[~np.isnan(v)]
            assert v.min() >= lim.low and v.max() <= lim.high, tag.key
    assert week.glitches > 0 and week.glitch_values_nan


def test_temperatures_follow_the_daily_ambient_pattern(week: Run) -> None:
    # Sundays the press shop stands idle: the oil cools to the hall, warmer in the afternoon.
    s = week.tag("press1", "oil_temp")
    sunday = (s.ts >= week.sim.start_us + 6 * 86_400 * US) & ~np.isnan(s.values)
    hours = ((s.ts[sunday] // US + 3600) % 86_400) // 3600  # Berlin local hour
    afternoon = np.median(s.values[sunday][(hours >= 13) & (hours <= 17)])
    night = np.median(s.values[sunday][(hours >= 2) & (hours <= 6)])
    assert afternoon > night + 2.0


def test_press3_state_is_derivable_from_its_current_and_stroke_counter(week: Run) -> None:
    node = week.plant.node(week.machines["press3"])
    assert node.tag_by_role("state") is None
    deriv = node.spec.state_derivation
    assert deriv is not None
    current = week.tag("press3", "motor_current")
    strokes = week.tag("press3", "stroke_count")
    truth = week.truth.state_intervals[node.key]
    starts = np.array([iv.start_us for iv in truth])
    idx = np.searchsorted(starts, current.ts, side="right") - 1
    state = np.array([iv.state for iv in truth], dtype=object)[idx]
    since = current.ts - starts[idx]
    settled = since >= 60 * US  # the rules look back 60 s
    ok = ~np.isnan(current.values)
    idle = settled & ok & (state == "idle")
    down = settled & ok & (state == "down")
    assert idle.sum() > 100 and down.sum() > 100
    assert np.all(current.values[idle] > 8.0)
    assert np.all(current.values[down] < 1.0)
    # Executing: the stroke counter has moved within the last 60 s.
    assert np.array_equal(strokes.ts, current.ts)
    moved = np.zeros(len(strokes.ts), dtype=bool)
    back = np.searchsorted(strokes.ts, strokes.ts - 60 * US)
    moved = strokes.values != strokes.values[back]
    executing = settled & (state == "executing")
    assert executing.sum() > 100
    assert moved[executing].mean() > 0.99
    # And an idle press3 does not stroke.
    assert not moved[idle].any()
