"""The ground truth agrees with the published data: states, failures and their precursors."""

from __future__ import annotations

import numpy as np

from ifactory.core.clock import US
from ifactory.plant.calendar import SiteCalendar
from ifactory.plant.loader import Plant
from ifactory.plant.spec import MachineState
from ifactory.sim import DegradationOptions, SimOptions
from ifactory.sim.ground_truth import FailureRecord

from .helpers import WEEK_SEED, Run, simulate

HOUR_US = 3600 * US


def _machine(run: Run, key: str) -> str:
    return key.split("/")[-1]


def _state_label(run: Run, machine_key: str, values: np.ndarray) -> np.ndarray:
    node = run.plant.node(machine_key)
    tag = node.tag_by_role("state")
    assert tag is not None and tag.spec.enum is not None
    lookup = {float(v): label for v, label in tag.spec.enum.items()}
    return np.array([lookup[v] for v in values.tolist()], dtype=object)


def _window(run: Run, machine_key: str, name: str, lo: int, hi: int) -> np.ndarray:
    """Values of a tag in [lo, hi) taken while the machine was executing."""
    s = run.series[f"{machine_key}/{name}"]
    state = run.series[f"{machine_key}/state"]
    sel = (s.ts >= lo) & (s.ts < hi)
    executing = np.isin(s.ts, state.ts[state.values == 1.0])
    values = s.values[sel & executing]
    return values[~np.isnan(values)]


def _failures(run: Run, mode: str) -> list[FailureRecord]:
    return [f for f in run.truth.failures if f.mode == mode]


def test_every_failure_mode_happens_and_is_recorded(week: Run) -> None:
    modes = {f.mode for f in week.truth.failures}
    assert modes == {"bearing_wear", "tool_wear", "seal_leak", "sudden"}
    for f in week.truth.failures:
        assert f.repaired_us > f.time_us
        if f.mode == "sudden":
            assert f.precursor_onset_us is None
        else:
            assert f.precursor_onset_us is not None and f.precursor_onset_us < f.time_us
    episodes = [d for d in week.truth.degradations if d.outcome == "failure"]
    assert len(episodes) == len([f for f in week.truth.failures if f.mode != "sudden"])


def test_state_tag_matches_the_true_state_everywhere(week: Run) -> None:
    for machine in week.sim.machines:
        if machine.node.tag_by_role("state") is None:
            continue
        state = week.series[f"{machine.key}/state"]
        intervals = week.truth.state_intervals[machine.key]
        starts = np.array([iv.start_us for iv in intervals])
        idx = np.searchsorted(starts, state.ts, side="right") - 1
        truth = np.array([iv.state for iv in intervals], dtype=object)[idx]
        assert np.array_equal(_state_label(week, machine.key, state.values), truth)


def test_state_tag_shows_down_at_each_failure(week: Run) -> None:
    checked = 0
    for f in week.truth.failures:
        state = week.series.get(f"{f.machine}/state")
        if state is None:
            continue
        i = int(np.searchsorted(state.ts, f.time_us))
        if i == len(state.ts) or state.ts[i] >= f.repaired_us:
            continue  # the run ended, or an outage hid the whole repair
        assert _state_label(week, f.machine, state.values[i : i + 1])[0] == "down"
        checked += 1
    assert checked >= 5


def test_vibration_rises_before_a_bearing_failure_and_drops_after_repair(week: Run) -> None:
    checked = 0
    for f in _failures(week, "bearing_wear"):
        if f"{f.machine}/state" not in week.series:
            continue
        before = _window(week, f.machine, "vibration_rms", f.time_us - 24 * HOUR_US, f.time_us)
        back = next(
            iv.end_us
            for iv in week.truth.state_intervals[f.machine]
            if iv.start_us >= f.repaired_us and iv.state == "maintenance"
        )
        after = _window(week, f.machine, "vibration_rms", back, back + 24 * HOUR_US)
        if len(before) < 30 or len(after) < 30:
            continue  # a weekend on either side
        assert np.median(before) > 1.3 * np.median(after)
        checked += 1
    assert checked >= 1


def test_dimension_drifts_before_tool_breakage(week: Run) -> None:
    checked = 0
    for f in _failures(week, "tool_wear"):
        before = _window(week, f.machine, "dimension", f.time_us - HOUR_US, f.time_us)
        if len(before) < 30:
            continue
        # The bore shrinks as the edge wears: at breakage it is out of tolerance (24.95).
        assert np.median(before) < 24.97
        checked += 1
    assert checked >= 1
    # And when the tool is fine, parts are on size.
    dims = week.tag("cnc1", "dimension").values
    assert abs(np.nanmedian(dims) - 25.0) < 0.02


def test_pressure_decays_before_a_seal_failure(week: Run) -> None:
    checked = 0
    for f in _failures(week, "seal_leak"):
        node = week.plant.node(f.machine)
        name = next(t.spec.name for t in node.tags if t.spec.name.endswith("pressure"))
        spec = next(t.spec for t in node.tags if t.spec.name == name)
        if f"{f.machine}/state" not in week.series:
            continue
        before = _window(week, f.machine, name, f.time_us - 1800 * US, f.time_us)
        if len(before) < 5:
            continue
        assert spec.limits is not None and spec.limits.alarm_low is not None
        assert np.median(before) < spec.limits.alarm_low
        checked += 1
    assert checked >= 1


def test_sudden_failures_have_no_precursor(plant: Plant) -> None:
    # Only electrical trips: nothing degrades, so any precursor would be the simulator's doing.
    never = DegradationOptions(
        mean_time_to_onset_h=1e9, onset_to_failure_h=(24, 48), repair_h=(1, 2)
    )
    options = SimOptions(bearing_wear=never, seal_leak=never, tool_wear=never, sudden_mtbf_h=15)
    run = simulate(plant, seed=WEEK_SEED, days=3, step_s=10.0, options=options)
    assert {f.mode for f in run.truth.failures} == {"sudden"}
    checked = 0
    for f in run.truth.failures:
        assert f.precursor_onset_us is None
        for tag in plant.node(f.machine).tags:
            lim = tag.spec.limits
            if lim is None or (lim.alarm_high is None and lim.alarm_low is None):
                continue
            if tag.spec.name == "dimension" or f"{f.machine}/state" not in run.series:
                continue
            before = _window(run, f.machine, tag.spec.name, f.time_us - 2 * HOUR_US, f.time_us)
            if len(before) < 30:
                continue
            if lim.alarm_high is not None:
                assert np.median(before) < lim.alarm_high, (f, tag.key)
            if lim.alarm_low is not None:
                assert np.median(before) > lim.alarm_low, (f, tag.key)
            checked += 1
    assert checked >= 5


def test_no_executing_outside_planned_time(week: Run) -> None:
    settings = week.plant.site_settings("acme/springfield")
    calendar = SiteCalendar(settings)
    for machine, intervals in week.truth.state_intervals.items():
        node_ids = set(machine.split("/"))
        planned = calendar.planned_intervals(intervals[0].start_us, intervals[-1].end_us, node_ids)
        starts = np.array([s for s, _ in planned])
        ends = np.array([e for _, e in planned])
        for iv in intervals:
            if iv.state != MachineState.executing:
                continue
            i = int(np.searchsorted(starts, iv.start_us, side="right")) - 1
            assert i >= 0 and starts[i] <= iv.start_us and iv.end_us <= ends[i], (machine, iv)


def test_outages_leave_gaps(week: Run) -> None:
    assert len(week.truth.outages) >= 5
    for outage in week.truth.outages:
        node = week.plant.node(outage.machine)
        for tag in node.tags:
            ts = week.series[tag.key].ts
            assert not np.any((ts >= outage.start_us) & (ts < outage.end_us))
    observed = week.truth.observed_intervals(week.truth.outages[0].machine)
    assert any(iv.state == "unknown" for iv in observed)


def test_product_changes_show_on_the_product_tag_followed_by_setup(week: Run) -> None:
    checked = 0
    for change in week.truth.product_changes:
        if f"{change.machine}/product" not in week.series:
            continue
        product = week.series[f"{change.machine}/product"]
        assert product.text is not None and np.isnan(product.values).all()
        i = int(np.searchsorted(product.ts, change.time_us))
        if i == 0 or i == len(product.ts) or product.ts[i] - change.time_us > 60 * US:
            continue
        assert product.text[i] == change.to_product
        assert product.text[i - 1] == change.from_product
        assert week.truth.state_at(change.machine, change.time_us) == "setup"
        checked += 1
    assert checked >= 3


def test_stops_last_as_long_as_their_kind(week: Run) -> None:
    kinds: dict[str, list[float]] = {"setup": [], "minor": [], "down": []}
    for machine, intervals in week.truth.state_intervals.items():
        for prev, iv, nxt in zip(intervals, intervals[1:], intervals[2:], strict=False):
            minutes = (iv.end_us - iv.start_us) / (60 * US)
            # A setup or stop split by unplanned time shows only part of its length.
            calendar = ("break", "no_shift", "planned_stop")
            cut = nxt.reason in calendar or prev.reason in calendar
            if iv.state == "setup" and not cut:
                kinds["setup"].append(minutes)
            elif iv.reason.startswith("MIN-") and not cut:
                assert iv.state == "idle"
                kinds["minor"].append(minutes)
            elif iv.state == "down":
                assert nxt.state == "maintenance" or iv is intervals[-2], (machine, iv)
                kinds["down"].append(minutes)
    assert kinds["setup"] and min(kinds["setup"]) >= 10 and max(kinds["setup"]) <= 40
    assert kinds["minor"] and min(kinds["minor"]) >= 0.5 and max(kinds["minor"]) <= 4
    assert kinds["down"] and min(kinds["down"]) >= 20 and max(kinds["down"]) <= 8 * 60


def test_machines_run_at_most_at_ideal_speed(week: Run) -> None:
    for short in ("cnc1", "press1", "imm1", "packer1"):
        key = week.machines[short]
        node = week.plant.node(key)
        counter = node.tag_by_role("cycle_counter")
        assert counter is not None and counter.spec.counter_max is not None
        made = np.diff(week.series[counter.key].values) % (counter.spec.counter_max + 1)
        executing_s = sum(
            (iv.end_us - iv.start_us) / US
            for iv in week.truth.state_intervals[key]
            if iv.state == "executing"
        )
        fastest = min(node.ideal_cycle_times.values())
        slowest = max(node.ideal_cycle_times.values())
        # Speed factor <= 1 (outage gaps only hide points, the counter still counts across them).
        assert made.sum() <= executing_s / fastest
        assert made.sum() >= 0.8 * executing_s / slowest
