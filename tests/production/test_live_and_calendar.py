"""Live OEE (O(1) per state change) agrees with the computation from the history; calendar
windows: shifts, breaks, days of 23 and 25 hours, orders spanning shifts."""

from __future__ import annotations

import random
from datetime import date

import pytest

from ifactory.plant.loader import Plant
from ifactory.production import oee, reports
from ifactory.production.live import LiveOEE
from tests.web.conftest import registry_from_plant

S = 1_000_000
MIN = 60 * S
# Monday 2026-11-23 06:00 Europe/Berlin.
MONDAY_06H_US = 1_795_410_000_000_000


@pytest.fixture
def registry(example_plant: Plant):  # type: ignore[no-untyped-def]
    return registry_from_plant(example_plant)


def _machine(registry, name: str):  # type: ignore[no-untyped-def]
    return next(m for m in registry.machines() if m.key.endswith("/" + name))


def test_live_time_elements_equal_the_batch_computation(registry) -> None:  # type: ignore[no-untyped-def]
    """Random state changes through a shift with breaks: live == history-based, to the µs."""
    m = _machine(registry, "cnc1")
    rng = random.Random(7)
    t = MONDAY_06H_US
    rows: list[tuple[str, int, int]] = []
    state = "executing"
    while t < MONDAY_06H_US + 7 * 60 * MIN:
        d = rng.choice([20 * S, 90 * S, 4 * MIN, 12 * MIN, 40 * MIN])
        rows.append((state, t, t + d))
        t += d
        state = rng.choice(["executing", "idle", "down", "setup", "executing", "unknown"])
    now = t
    live = LiveOEE(registry, store=None, minor_stop_s=300)
    for st, start, _ in rows:
        live.on_state(m.id, st, start)
    # A repeated (redelivered) event changes nothing.
    live.on_state(m.id, rows[3][0], rows[3][1])
    got = live.time_elements(m.id, now)
    assert got is not None
    planned, pot = reports.planned_and_pot(registry, m.id, MONDAY_06H_US, now)
    # Merge consecutive equal states as the tracker stores them.
    merged: list[tuple[str, int, int]] = []
    for r in rows:
        if merged and merged[-1][0] == r[0]:
            merged[-1] = (r[0], merged[-1][1], r[2])
        else:
            merged.append(r)
    want = oee.time_elements(oee.Spans.of(merged), planned, pot=pot, minor_stop_s=300)
    assert (got.pbt_us, got.apt_us, got.asut_us, got.adet_us, got.adot_us, got.no_data_us) == (
        want.pbt_us,
        want.apt_us,
        want.asut_us,
        want.adet_us,
        want.adot_us,
        want.no_data_us,
    )
    # Breakfast 09:00-09:15 and lunch 11:30-12:00 are not planned busy time.
    assert now < MONDAY_06H_US + 8 * 60 * MIN  # still in the early shift
    assert got.pbt_us == now - MONDAY_06H_US - 45 * MIN


def test_live_rolls_over_to_the_next_shift(registry) -> None:  # type: ignore[no-untyped-def]
    m = _machine(registry, "press1")
    live = LiveOEE(registry, store=None)
    live.on_state(m.id, "executing", MONDAY_06H_US)
    # 15:00: the late shift (14:00-22:00) has run for one hour, all executing.
    te = live.time_elements(m.id, MONDAY_06H_US + 9 * 60 * MIN)
    assert te is not None and te.pbt_us == 60 * MIN and te.apt_us == 60 * MIN


def test_production_days_of_23_and_25_hours(registry) -> None:  # type: ignore[no-untyped-def]
    m = _machine(registry, "cnc1")
    cal = registry.calendar_for(m.id)
    for day, hours in ((date(2026, 3, 28), 23), (date(2026, 10, 24), 25), (date(2026, 11, 23), 24)):
        s, e = cal.day_bounds(day)
        wins = reports.windows(registry, m.id, s, e, "day")
        assert len(wins) == 1 and wins[0].end_us - wins[0].start_us == hours * 3600 * S
        assert wins[0].label == day.isoformat()


def test_order_spanning_two_shifts(registry) -> None:  # type: ignore[no-untyped-def]
    """An order on cnc1 from 13:00 to 15:00 on Monday: one hour in each shift, no break."""
    m = _machine(registry, "cnc1")
    start, end = MONDAY_06H_US + 7 * 60 * MIN, MONDAY_06H_US + 9 * 60 * MIN
    planned, pot = reports.planned_and_pot(registry, m.id, start - 60 * MIN, end + 60 * MIN)
    order = [(start, end)]
    r = oee.machine_oee(
        oee.Spans.of([("executing", start, start + 100 * MIN), ("down", start + 100 * MIN, end)]),
        oee.intersect(planned, order),
        [oee.Output(pq=120, gq=118, sq=2, pri_s=45)],
        pot=oee.intersect(pot, order),
    )
    assert r.time.pbt_us == 120 * MIN and r.time.pot_us == 120 * MIN
    assert r.availability.value == pytest.approx(100 / 120)
    shifts = reports.windows(registry, m.id, start, end, "shift")
    assert [w.label.split()[-1] for w in shifts] == ["early", "late"]
    assert [w.end_us - w.start_us for w in shifts] == [60 * MIN, 60 * MIN]


def test_no_shift_means_not_applicable(registry) -> None:  # type: ignore[no-untyped-def]
    """Sunday: no shift is planned; OEE is not applicable, never 0 % or 100 %."""
    m = _machine(registry, "cnc1")
    sunday = MONDAY_06H_US - 24 * 60 * MIN
    planned, pot = reports.planned_and_pot(registry, m.id, sunday, sunday + 8 * 60 * MIN)
    assert planned == []
    r = oee.machine_oee(
        oee.Spans.of([("executing", sunday, sunday + 60 * MIN)]),
        planned,
        [oee.Output(pq=10, gq=10, pri_s=45)],
        pot=pot,
    )
    assert r.availability.value is None and r.oee.value is None
    assert "not applicable" in (r.oee.reason or "")
