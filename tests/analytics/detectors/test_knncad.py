"""KNN-CAD as published: silent during probation, conformal ranks, one alarm then a rest period."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.analytics.detectors.knncad import KnnCadDetector


def periodic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sin(np.arange(n) * 2 * np.pi / 25) + rng.normal(0, 0.05, n)


def test_learns_silently_during_probation_then_scores_conformal_ranks() -> None:
    scores = KnnCadDetector(probation=300).score_learn_many(periodic(600))
    assert scores[:299].tolist() == [0.0] * 299
    assert scores[299:].min() >= 0.0 and scores[299:].max() <= 1.0
    assert np.median(scores[299:]) < 0.9  # normal windows rank like their calibration set


def test_a_broken_pattern_raises_one_alarm_then_rests_for_a_fifth_of_probation() -> None:
    # A conformal rank >= 0.9965 also happens by chance about once per ~300 normal points
    # (other seeds show one before the break); this seed has none before it.
    values = periodic(800, seed=1)
    values[500:] = 0.0  # the oscillation stops
    scores = KnnCadDetector(probation=300).score_learn_many(values)
    alarms = np.flatnonzero(scores >= 0.9965)
    assert 500 <= alarms[0] < 520
    assert scores[alarms[0] + 1 : alarms[0] + 1 + 60].tolist() == [0.5] * 60


def test_a_flat_series_keeps_the_previous_sigma_instead_of_failing() -> None:
    scores = KnnCadDetector(probation=100, dim=5, k=5).score_learn_many(np.ones(400))
    assert np.isfinite(scores).all()


def test_probation_must_leave_room_for_k_neighbours() -> None:
    with pytest.raises(ValueError):
        KnnCadDetector(probation=30)


def test_an_alarm_window_joins_the_calibration_set_like_nab_entry() -> None:
    # NAB's knncad_detector.py only sets its rest counter on an alarm and then slides the
    # training and calibration sets as for any other window.
    values = periodic(800, seed=1)
    values[500:] = 0.0
    detector = KnnCadDetector(probation=300)
    scores = [detector.score_learn_one(v) for v in values[:520]]
    alarm = next(i for i, s in enumerate(scores) if s >= 0.9965)
    replay = KnnCadDetector(probation=300)
    replay.learn_many(values[:alarm])
    before = sorted(replay.calibration.tolist())
    replay.learn_one(values[alarm])
    assert sorted(replay.calibration.tolist()) != before
    assert max(replay.calibration.tolist()) > max(before)  # the alarm's large NCM is in


def test_on_plain_noise_alarms_do_not_follow_every_rest_period() -> None:
    # Keeping alarm windows out of the calibration set censors its largest NCMs; the ranks then
    # run high and the detector alarmed again within a few points of nearly every rest's end.
    rest = 300 // 5
    right_after = total = 0
    for seed in range(1, 5):
        scores = KnnCadDetector(probation=300).score_learn_many(
            np.random.default_rng(seed).normal(size=5000)
        )
        gaps = np.diff(np.flatnonzero(scores >= 0.9965))
        right_after += int((gaps <= rest + 5).sum())
        total += len(gaps)
    assert right_after < 0.25 * total
