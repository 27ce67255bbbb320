"""Sequence-likelihood detector: the memory's raw score, nupic's likelihood rules, the spatial check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ifactory.analytics.base import restore
from ifactory.analytics.detectors.sequence import SequenceLikelihoodDetector
from ifactory.analytics.eval import nab


def pattern(n: int) -> list[float]:
    """A repeating 0-1-2-3 ramp: every transition is predictable from the previous value."""
    return [float(i % 4) for i in range(n)]


def test_raw_score_is_zero_for_a_learnt_transition_and_one_for_a_new_one() -> None:
    d = SequenceLikelihoodDetector(min_value=0.0, max_value=4.0, bins=4, learning_period=10)
    d.learn_many(pattern(40))  # history ends ..., 2, 3: level 0 follows 3
    assert d._raw_score(0) == 0.0
    assert d._raw_score(2) == 1.0  # 3 -> 2 never seen, nor 3 -> 1 or 3 -> 3
    # A neighbouring level half counts: 3 was followed 9 times by 0, so 1 gets 4.5 of the
    # 9 (min_count) needed.
    d9 = SequenceLikelihoodDetector(
        min_value=0.0, max_value=4.0, bins=4, min_count=9, share=0.0, learning_period=10
    )
    d9.learn_many(pattern(40))
    assert d9._raw_score(1) == pytest.approx(0.5)


def test_the_longest_context_seen_often_enough_decides() -> None:
    # After "0 2" comes 4, after "10 2" comes 6: first order 2 -> {4, 6}, second order tells.
    seq = [0.0, 2.0, 4.0, 10.0, 2.0, 6.0] * 20
    d = SequenceLikelihoodDetector(
        min_value=0.0, max_value=12.0, bins=12, order=2, share=0.0, learning_period=10
    )
    d.learn_many(seq[:-1])  # history ends 10, 2
    assert d._raw_score(6) == 0.0
    assert d._raw_score(4) == 1.0
    first = d.clone(order=1)
    first.learn_many(seq[:-1])
    assert first._raw_score(4) == 0.0  # the first-order memory cannot tell


def test_likelihood_is_one_half_until_learning_and_estimation_are_over() -> None:
    d = SequenceLikelihoodDetector(
        min_value=0.0, max_value=4.0, learning_period=30, estimation_samples=20
    )
    scores = d.score_learn_many(pattern(50))
    half = math.log(1.0000000001 - 0.5) / math.log(1e-10)  # nupic computeLogLikelihood(0.5)
    # Values 2 and 3 first come beyond the extremes seen (0 and 1) by more than 5 %: spatial.
    assert scores[2:4].tolist() == [1.0, 1.0]
    assert scores[[0, 1, *range(4, 50)]].tolist() == pytest.approx([half] * 48)


def test_a_broken_pattern_scores_high_then_the_red_zone_is_filtered() -> None:
    d = SequenceLikelihoodDetector(
        min_value=0.0, max_value=4.0, learning_period=100, estimation_samples=100
    )
    quiet = d.score_learn_many(pattern(1000))
    # Perfect prediction: averages of 0 against nupic's floors (mean 0.03, variance 0.0003) are
    # mirrored to 0.06, z = 1.73, tail 0.042: a steady low score.
    assert quiet[-100:] == pytest.approx(
        math.log(1.0000000001 - (1 - 0.5 * math.erfc(0.03 / math.sqrt(0.0003) / 1.4142)))
        / math.log(1e-10)
    )
    # Noise inside the value range: no spatial anomaly, only unpredicted transitions.
    rng = np.random.default_rng(0)
    broken = d.score_learn_many(rng.integers(0, 4, 10).astype(float).tolist())
    assert broken.max() > 0.5
    # nupic _filterLikelihoods: a second red-zone tail in a row is raised to 1e-3 (score 0.3).
    yellow = math.log(1.0000000001 - 0.999) / math.log(1e-10)
    red = broken > 0.5
    assert not (red[1:] & red[:-1]).any()
    assert any(s == pytest.approx(yellow) for s in broken)


def test_a_value_beyond_the_seen_range_by_more_than_the_tolerance_scores_one() -> None:
    d = SequenceLikelihoodDetector(min_value=0.0, max_value=10.0, learning_period=5)
    d.learn_many([0.0, 10.0, 5.0])
    assert d.score_one(10.4) < 1.0  # within 5 % of the range
    assert d.score_one(10.6) == 1.0
    assert d.score_one(-0.6) == 1.0


def test_without_a_range_the_first_learning_period_sets_it() -> None:
    d = SequenceLikelihoodDetector(learning_period=20, estimation_samples=10)
    d.learn_many([float(i % 5) for i in range(19)])
    assert d._origin is None and not d._memory
    d.learn_one(0.0)
    # Range 0..4 padded by 20 % on each side, over `bins` levels.
    assert d._origin == pytest.approx(-0.8)
    assert d._width == pytest.approx(5.6 / d.bins)
    d.learn_many([1.0, 2.0])
    assert d._memory


def test_checkpoint_restores_the_memory_and_the_likelihood_state() -> None:
    d = SequenceLikelihoodDetector(
        min_value=0.0, max_value=4.0, learning_period=50, estimation_samples=50
    )
    xs = [*pattern(300), 1.0, 1.0, 3.0, *pattern(100)]
    d.score_learn_many(xs[:250])
    twin = restore(d.checkpoint())
    assert twin.score_learn_many(xs[250:]).tolist() == d.score_learn_many(xs[250:]).tolist()


def test_nab_setup_follows_the_numenta_wrapper() -> None:
    n = 2000  # probation = min(floor(0.15 n), 750) = 300
    stamps = np.datetime64("2020-01-01") + np.arange(n) * np.timedelta64(5, "m")
    values = np.linspace(-3.0, 7.0, n)
    f = nab.NabFile("cat/x.csv", stamps, values, [])
    d = nab.sequence_detector_for_file(f, bins=12)
    assert (d.min_value, d.max_value) == (-3.0, 7.0)
    assert (d.learning_period, d.estimation_samples, d.bins) == (150, 150, 12)
    template = SequenceLikelihoodDetector(order=2)
    assert nab.sequence_detector_for_file(f, template=template).order == 2


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        SequenceLikelihoodDetector(min_value=0.0)
    with pytest.raises(ValueError):
        SequenceLikelihoodDetector(min_value=1.0, max_value=0.0)
    with pytest.raises(ValueError):
        SequenceLikelihoodDetector(bins=0)
    with pytest.raises(ValueError):
        SequenceLikelihoodDetector(historic_window=5, averaging_window=10)


def test_batch_path_equals_point_by_point_through_warm_up_gaps_and_infinities() -> None:
    rng = np.random.default_rng(3)
    xs = np.sin(np.arange(900) / 7.0) + rng.normal(0.0, 0.1, 900)
    xs[[50, 400]] = np.nan
    xs[[60, 500]] = [np.inf, -np.inf]
    xs[700] += 5.0

    def make(ranged: bool) -> SequenceLikelihoodDetector:
        if not ranged:
            return SequenceLikelihoodDetector(learning_period=100, estimation_samples=100)
        return SequenceLikelihoodDetector(
            min_value=-1.5, max_value=1.5, order=3, learning_period=100, estimation_samples=100
        )

    for ranged in (False, True):
        one = make(ranged)
        expected = [one.score_learn_one(float(x)) for x in xs]
        batch = make(ranged)
        assert batch.score_learn_many(xs).tolist() == expected
        assert batch.checkpoint() == one.checkpoint()
