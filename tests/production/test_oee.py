"""OEE per ISO 22400-2 against hand-computed cases (pure computation, no I/O)."""

from __future__ import annotations

import math

import pytest

from ifactory.production import oee

M = 60 * 1_000_000  # one minute in µs
H = 60 * M


def spans(*rows: tuple[str, int, int]) -> oee.Spans:
    return oee.Spans.of((s, a * M, b * M) for s, a, b in rows)


def test_issue_test_vector() -> None:
    """480 min planned, 420 min run, ICT 1 min, 400 made, 380 good."""
    r = oee.machine_oee(
        spans(("executing", 0, 420), ("down", 420, 480)),
        [(0, 480 * M)],
        [oee.Output(pq=400, gq=380, sq=20, pri_s=60)],
    )
    assert r.availability.value == pytest.approx(0.875)
    assert round(r.effectiveness.value or 0, 4) == 0.9524
    assert r.quality_ratio.value == pytest.approx(0.95)
    assert round(r.oee.value or 0, 4) == 0.7917
    # From unrounded parts: exactly good output at ideal rate over planned time.
    assert r.oee.value == pytest.approx(380 / 480, rel=1e-12)
    assert r.losses_s["breakdown"] == 60 * 60
    assert r.losses_s["reduced_speed"] == pytest.approx(20 * 60)
    assert r.losses_s["process_defect"] == pytest.approx(20 * 60)
    assert sum(r.losses_s.values()) == pytest.approx(r.lost_s)
    assert r.lost_s == pytest.approx((480 - 380) * 60)


def test_breaks_are_planned_downtime_not_losses() -> None:
    """Shift 06:00-14:00 with a 30 min break: PBT 450 min; the idle break costs nothing."""
    planned = oee.subtract([(0, 480 * M)], [(180 * M, 210 * M)])
    r = oee.machine_oee(
        spans(("executing", 0, 180), ("idle", 180, 210), ("executing", 210, 480)),
        planned,
        [oee.Output(pq=450, gq=450, pri_s=60)],
        pot=[(0, 480 * M)],
    )
    assert r.time.pot_us == 480 * M
    assert r.time.pdot_us == 30 * M
    assert r.time.pbt_us == 450 * M
    assert r.availability.value == 1.0
    assert r.oee.value == pytest.approx(1.0)
    assert sum(r.losses_s.values()) == pytest.approx(0.0)


def test_partial_shift_counts_only_the_elapsed_planned_time() -> None:
    """Two hours into a shift: PBT is 120 min, not the whole shift."""
    r = oee.machine_oee(
        spans(("executing", 0, 90), ("setup", 90, 120)),
        [(0, 120 * M)],
        [oee.Output(pq=80, gq=76, sq=4, pri_s=60)],
    )
    assert r.time.pbt_us == 120 * M
    assert r.time.asut_us == 30 * M
    assert r.availability.value == pytest.approx(90 / 120)
    assert r.effectiveness.value == pytest.approx(80 / 90)
    assert r.setup_rate.value == pytest.approx(30 / 120)
    assert r.scrap_ratio.value == pytest.approx(4 / 80)
    assert r.oee.value == pytest.approx(76 / 120)
    assert r.losses_s["setup"] == 30 * 60


def test_machine_with_no_planned_time_is_not_applicable() -> None:
    r = oee.machine_oee(spans(("executing", 0, 60)), [], [oee.Output(pq=10, gq=10, pri_s=60)])
    assert r.availability.value is None
    assert "not applicable" in (r.availability.reason or "")
    assert r.oee.value is None and r.oee.reason
    # Nothing made: quality is not applicable either (never 0 or 100 %).
    r = oee.machine_oee(spans(("idle", 0, 60)), [(0, 60 * M)], [oee.Output(pq=0, gq=0, pri_s=60)])
    assert r.availability.value == 0.0
    assert r.quality_ratio.value is None
    assert r.effectiveness.value is None
    assert r.oee.value is None


def test_minor_stops_below_threshold_are_delays() -> None:
    """Two 2-min stops (minor, ADET) and one 20-min stop (ADOT) with a 5-min threshold."""
    r = oee.machine_oee(
        spans(
            ("executing", 0, 10),
            ("idle", 10, 12),
            ("executing", 12, 30),
            ("down", 30, 50),
            ("executing", 50, 58),
            ("idle", 58, 60),
        ),
        [(0, 60 * M)],
        [oee.Output(pq=36, gq=36, pri_s=60)],
        minor_stop_s=300,
    )
    assert r.time.adet_us == 4 * M
    assert r.time.adot_us == 20 * M
    assert r.time.apt_us == 36 * M
    assert r.technical_efficiency.value == pytest.approx(36 / 40)
    assert r.losses_s["minor_stop"] == 4 * 60
    assert r.losses_s["breakdown"] == 20 * 60
    # The same stops with a 1-min threshold are all downtime.
    r1 = oee.machine_oee(
        spans(("executing", 0, 10), ("idle", 10, 12), ("executing", 12, 60)),
        [(0, 60 * M)],
        [],
        minor_stop_s=60,
    )
    assert r1.time.adet_us == 0 and r1.time.adot_us == 2 * M


def test_stop_crossing_the_window_is_classified_by_its_whole_length() -> None:
    """A 30-min stop of which 2 min fall in the window is downtime, not a minor stop."""
    r = oee.machine_oee(
        spans(("executing", 0, 58), ("down", 58, 88)),
        [(0, 60 * M)],
        [],
    )
    assert r.time.adot_us == 2 * M and r.time.adet_us == 0


def test_effectiveness_above_one_is_reported_and_flagged() -> None:
    r = oee.machine_oee(
        spans(("executing", 0, 60)), [(0, 60 * M)], [oee.Output(pq=70, gq=70, pri_s=60)]
    )
    assert r.effectiveness.value == pytest.approx(70 / 60)
    assert r.effectiveness.flag and "ideal cycle time" in r.effectiveness.flag
    assert r.losses_s["reduced_speed"] == pytest.approx(-600)


def test_unknown_is_not_downtime() -> None:
    r = oee.machine_oee(
        spans(("executing", 0, 30), ("unknown", 30, 60)),
        [(0, 60 * M)],
        [oee.Output(pq=30, gq=30, pri_s=60)],
    )
    assert r.time.adot_us == 0 and r.time.adet_us == 0
    assert r.time.no_data_us == 30 * M
    assert r.availability.value == 0.5
    # The six losses plus time without data explain all lost time.
    assert sum(r.losses_s.values()) + r.time.no_data_us / 1e6 == pytest.approx(r.lost_s)


def test_stop_booked_to_planned_reason_leaves_pbt() -> None:
    """An operator books a 60-min stop to preventive maintenance (loss 'planned')."""
    s = spans(("executing", 0, 420), ("maintenance", 420, 480))
    r = oee.machine_oee(
        s,
        [(0, 480 * M)],
        [oee.Output(pq=420, gq=420, pri_s=60)],
        stop_losses={420 * M: "planned"},
    )
    assert r.time.pbt_us == 420 * M
    assert r.time.pdot_us == 60 * M
    assert r.availability.value == 1.0
    r = oee.machine_oee(
        s, [(0, 480 * M)], [oee.Output(pq=420, gq=420, pri_s=60)], stop_losses={420 * M: "setup"}
    )
    assert r.losses_s["setup"] == 3600 and r.losses_s["breakdown"] == 0


def test_six_losses_sum_to_lost_time_with_startup_rejects_and_rework() -> None:
    r = oee.machine_oee(
        spans(
            ("setup", 0, 20),
            ("executing", 20, 200),
            ("idle", 200, 203),
            ("executing", 203, 400),
            ("down", 400, 460),
            ("executing", 460, 480),
        ),
        [(0, 480 * M)],
        [
            oee.Output(pq=200, gq=180, sq=15, rq=5, pri_s=60, product="A", startup_sq=6),
            oee.Output(pq=100, gq=99, sq=1, pri_s=30, product="B"),
        ],
    )
    assert r.time.apt_us + r.time.asut_us + r.time.adet_us + r.time.adot_us == r.time.pbt_us
    assert r.planned_run_s == 200 * 60 + 100 * 30
    assert r.rework_ratio.value == pytest.approx(5 / 300)
    assert r.losses_s["startup_reject"] > 0
    assert sum(r.losses_s.values()) == pytest.approx(r.lost_s)
    # OEE = A x P x Q equals the fully productive time over PBT.
    assert r.oee.value == pytest.approx(r.fully_productive_s / (r.time.pbt_us / 1e6))


def test_missing_ideal_cycle_time_is_not_applicable() -> None:
    r = oee.machine_oee(
        spans(("executing", 0, 60)), [(0, 60 * M)], [oee.Output(pq=60, gq=60, pri_s=None)]
    )
    assert r.effectiveness.value is None and "PRI" in (r.effectiveness.reason or "")
    assert r.oee.value is None


def test_line_oee_is_from_summed_time_elements_not_an_average() -> None:
    """Two machines in series: the line's OEE is not the mean of the machines' OEEs."""
    planned = [(0, 480 * M)]
    m1 = oee.machine_oee(
        spans(("executing", 0, 480)), planned, [oee.Output(pq=470, gq=460, sq=10, pri_s=60)]
    )
    m2 = oee.machine_oee(
        spans(("executing", 0, 240), ("down", 240, 480)),
        [(0, 480 * M)],
        [oee.Output(pq=200, gq=190, sq=10, pri_s=60)],
    )
    line = oee.line_oee([m1, m2])
    # Availability: (480 + 240) / (480 + 480); performance: (470 + 200) min / 720 min;
    # quality: the last machine's 190 / 200.
    assert line.availability.value == pytest.approx(720 / 960)
    assert line.effectiveness.value == pytest.approx(670 / 720)
    assert line.quality_ratio.value == pytest.approx(190 / 200)
    expected = 720 / 960 * 670 / 720 * 190 / 200
    assert line.oee.value == pytest.approx(expected)
    mean = ((m1.oee.value or 0) + (m2.oee.value or 0)) / 2
    assert not math.isclose(line.oee.value or 0, mean, rel_tol=1e-3)
    assert line.gq == 190 and line.pq == 200
    assert sum(line.losses_s.values()) == pytest.approx(line.lost_s)


def test_interval_helpers() -> None:
    assert oee.normalize([(5, 7), (0, 3), (2, 4), (9, 9)]) == [(0, 4), (5, 7)]
    assert oee.intersect([(0, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]
    assert oee.subtract([(0, 10)], [(2, 3), (5, 12)]) == [(0, 2), (3, 5)]
