"""NAB scoring on hand-made cases whose scores follow from NAB's definitions by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ifactory.analytics.eval import nab

STD = nab.PROFILES["standard"]
LOW_FN = nab.PROFILES["reward_low_FN_rate"]
N = 1000  # probation = min(floor(0.15 * 1000), 0.15 * 5000) = 150 rows
WINDOW = (400, 499)  # 100 rows


def sigma(y: float) -> float:
    """NAB's scaled sigmoid written out: 2 / (1 + e^(5y)) - 1."""
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def file_score(
    detections: list[int], windows: list[tuple[int, int]], cost: nab.CostMatrix = STD
) -> float:
    scores = np.zeros(N)
    scores[detections] = 1.0
    rows = nab.sweep_scores(scores, windows, cost, "f.csv")
    return nab.score_at_threshold(rows, cost, 0.5).score


def test_scaled_sigmoid_values() -> None:
    assert nab.scaled_sigmoid(0.0) == 0.0
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.9866142981514305)
    assert nab.scaled_sigmoid(3.5) == -1.0
    assert nab.probationary_length(1000) == 150 and nab.probationary_length(100_000) == 750


def test_detection_on_the_first_row_of_a_window_earns_exactly_tp_weight() -> None:
    assert file_score([400], [WINDOW]) == pytest.approx(1.0)


def test_detection_in_the_middle_of_a_window_earns_the_sigmoid_of_its_position() -> None:
    # Row 449: y = -(499 - 449 + 1) / 100 = -0.51, normalised by sigma(-1).
    assert file_score([449], [WINDOW]) == pytest.approx(sigma(-0.51) / sigma(-1.0))
    # Only the earliest detection counts; later ones in the same window add nothing.
    assert file_score([449, 460, 499], [WINDOW]) == pytest.approx(sigma(-0.51) / sigma(-1.0))


def test_missed_window_costs_fn_weight_per_profile() -> None:
    assert file_score([], [WINDOW]) == -1.0
    assert file_score([], [WINDOW], LOW_FN) == -2.0


def test_false_positives_are_penalised_by_their_distance_from_the_last_window() -> None:
    # Before any window: -fpWeight; the window itself is missed: -1.
    assert file_score([200], [WINDOW]) == pytest.approx(-1.0 - 0.11)
    # After the window (detected at its start): y = |499 - 549| / (100 - 1).
    assert file_score([400, 549], [WINDOW]) == pytest.approx(1.0 + 0.11 * sigma(50 / 99))
    # Far after it (y > 3): a full -fpWeight.
    assert file_score([400, 900], [WINDOW]) == pytest.approx(1.0 - 0.11)


def test_probation_rows_score_nothing_and_windows_inside_it_are_not_counted() -> None:
    assert file_score([100], [WINDOW]) == -1.0  # the detection in probation is ignored
    assert file_score([], [(50, 80)]) == 0.0  # a window inside probation is not a miss
    rows = nab.sweep_scores(np.zeros(N), [WINDOW], STD)
    assert rows.window[149] == nab.PROBATIONARY and rows.window[150] is None


def test_threshold_sweep_chooses_the_threshold_that_keeps_the_hit_and_drops_the_false_alarm() -> (
    None
):
    scores = np.zeros(N)
    scores[420] = 0.9  # inside the window
    scores[300] = 0.6  # false alarm
    rows = nab.sweep_scores(scores, [WINDOW], STD, "f.csv")
    best = nab.optimize_threshold([rows], STD)
    assert best.threshold == 0.9 and best.tp == 1 and best.fp == 0
    at_low = nab.score_at_threshold(rows, STD, 0.55)
    assert at_low.fp == 1 and at_low.score == pytest.approx(sigma(-0.8) / sigma(-1.0) - 0.11)


def test_normalisation_puts_null_at_0_and_perfect_at_100() -> None:
    ts = np.arange(N).astype("datetime64[m]")
    f = nab.NabFile("c/f.csv", ts, np.zeros(N), [WINDOW])
    perfect = np.zeros(N)
    perfect[WINDOW[0]] = 1.0
    null = nab.score_detector(
        [f], {"c/f.csv": np.zeros(N)}, thresholds=dict.fromkeys(nab.PROFILES, 0.5)
    )
    best = nab.score_detector([f], {"c/f.csv": perfect})
    for profile in nab.PROFILES:
        assert null[profile].normalized == pytest.approx(0.0)
        assert best[profile].normalized == pytest.approx(100.0)


def test_row_contributions_sum_to_the_file_score() -> None:
    scores = np.zeros(N)
    scores[[300, 430, 470, 700]] = 1.0
    rows = nab.sweep_scores(scores, [WINDOW], STD, "f.csv")
    contributions = nab.row_contributions(rows, STD, 0.5)
    assert contributions.sum() == pytest.approx(nab.score_at_threshold(rows, STD, 0.5).score)
    assert contributions[400] == pytest.approx(
        sigma(-0.7) / sigma(-1.0)
    )  # on the window's first row


def test_windows_must_fall_on_data_timestamps() -> None:
    ts = np.asarray(["2020-01-01T00:00", "2020-01-01T00:05"], dtype="datetime64[us]")
    assert nab.window_indices(
        ts, [["2020-01-01 00:00:00.000000", "2020-01-01 00:05:00.000000"]]
    ) == [(0, 1)]
    with pytest.raises(nab.NabDataError):
        nab.window_indices(ts, [["2020-01-01 00:01:00", "2020-01-01 00:05:00"]])


def test_run_detector_per_file_builds_one_detector_per_file_with_the_file_at_hand() -> None:
    from ifactory.analytics.detectors.knncad import KnnCadDetector

    stamps = np.datetime64("2020-01-01") + np.arange(2000) * np.timedelta64(5, "m")
    rng = np.random.default_rng(0)
    files = [nab.NabFile(f"c/{n}.csv", stamps[:n], rng.normal(size=n), []) for n in (1000, 2000)]
    seen: list[int] = []

    def make(f: nab.NabFile) -> KnnCadDetector:
        probation = int(nab.probationary_length(len(f.values)))
        seen.append(probation)
        return KnnCadDetector(probation=probation)

    scores = nab.run_detector_per_file(files, make)
    assert seen == [150, 300]
    assert scores["c/1000.csv"][:149].tolist() == [0.0] * 149
    assert scores["c/2000.csv"][:299].tolist() == [0.0] * 299
    assert scores["c/2000.csv"][299:].max() > 0.0
