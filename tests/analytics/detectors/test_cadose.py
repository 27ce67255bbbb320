"""CAD OSE reproduces the published detector: same quantisation, memory, tie-breaks, score and rest period."""

from __future__ import annotations

import hashlib
import math

import pytest

from ifactory.analytics.base import restore
from ifactory.analytics.detectors.cadose import (
    ContextOseDetector,
    _py2_dict_order,
    _py2_tuple_hash,
    _sensor_facts,
)


def series(n: int = 4000) -> list[float]:
    """Two seasonalities and a deterministic jitter; a level shift at 2500-2699, a dip at 3300."""
    out = []
    for i in range(n):
        v = (
            math.sin(i * 2 * math.pi / 48)
            + 0.4 * math.sin(i * 2 * math.pi / 331)
            + ((i * 7919) % 101) / 250.0
        )
        if 2500 <= i < 2700:
            v += 1.5
        if i == 3300:
            v -= 4.0
        out.append(v)
    return out


def test_outputs_equal_the_python27_reference_run_point_for_point() -> None:
    # The digest, counts and alarms below come from running a line-by-line transcription of NAB's
    # nab/detectors/context_ose/{cad_ose,context_operator}.py under CPython 2.7.18 (64-bit) on
    # this series with minValue/maxValue = its range and restPeriod = 120.
    values = series()
    detector = ContextOseDetector(min_value=min(values), max_value=max(values), rest_period=120)
    scores = detector.score_learn_many(values).tolist()
    assert [i for i, s in enumerate(scores) if s >= 0.75] == [2500, 2699, 3300]
    assert sum(1 for s in scores if s > 0) == 3437
    assert (detector._n_ctx, len(detector._left_facts), len(detector._right_facts)) == (
        1075,
        590,
        18,
    )
    digest = hashlib.sha256("\n".join(repr(s) for s in scores).encode()).hexdigest()
    assert digest == "c044b218cdf235eafbc630e5a0e3fc6b4a470fd73bffbb55fd8d04e3c29b0f5c"


def test_python27_tuple_hash_breaks_ties_as_the_published_runs_did() -> None:
    # hash() of these tuples printed by CPython 2.7.18 on x86-64.
    assert _py2_tuple_hash(()) == 3527539
    assert _py2_tuple_hash((1, 2, 3)) == 2528502973977326415
    assert _py2_tuple_hash((0, 3, 5, 2**31 + 7)) == -9037140832621120830
    assert _py2_tuple_hash((1, 2, 5, 2**31, 2**31 + 40, 2**31 + 1000)) == 2118270766929639411


@pytest.mark.parametrize(
    ("inserted", "iterated"),
    [
        ([9, 1], [9, 1]),
        ([8, 0, 16], [8, 0, 16]),
        ([3, 11, 19, 2, 10], [11, 19, 2, 3, 10]),
        ([5, 13, 21, 4, 12, 20, 7], [4, 5, 7, 12, 13, 20, 21]),
    ],
)
def test_python27_dict_iteration_order(inserted: list[int], iterated: list[int]) -> None:
    # list(d.keys()) printed by CPython 2.7.18 after d.setdefault(k, ...) for k in `inserted`.
    assert _py2_dict_order(inserted) == iterated


def test_values_are_quantised_into_three_bits_over_the_input_range() -> None:
    detector = ContextOseDetector(min_value=10.0, max_value=24.0)
    # Step = 14 / 7 = 2: level 0 at the minimum, 7 at the maximum; facts are 2·bit position + bit.
    assert detector._sensors(10.0) == (0, 2, 4)
    assert detector._sensors(11.99) == (0, 2, 4)
    assert detector._sensors(12.0) == (1, 2, 4)
    assert detector._sensors(20.5) == (1, 2, 5)  # level 5 = 0b101
    assert detector._sensors(24.0) == (1, 3, 5)
    # Out of range keeps the original's string rule: level 8 = "1000", level -1 = "-0b1".
    assert _sensor_facts(8, 3) == (0, 2, 4, 7)
    assert _sensor_facts(-1, 3) == (1, 2, 4, 6)
    # A constant file (max == min) uses a step of 1 like the original.
    assert ContextOseDetector(min_value=5.0, max_value=5.0)._sensors(5.0) == (0, 2, 4)


def test_silent_for_the_rest_period_then_again_after_each_high_score() -> None:
    values = series()
    detector = ContextOseDetector(min_value=min(values), max_value=max(values), rest_period=120)
    scores = detector.score_learn_many(values).tolist()
    assert scores[:120] == [0.0] * 120  # the history is seeded with 1.0
    # Early steps score high (everything is new), so reporting starts later: 120 steps after
    # the last raw score >= 0.75.
    first = next(i for i, s in enumerate(scores) if s > 0.0)
    assert 120 <= first < 2500
    # The level shift scores 1.0 at 2500; the next 120 outputs are suppressed.
    assert scores[2500] == 1.0
    assert scores[2501:2621] == [0.0] * 120


def test_a_repeating_pattern_becomes_predictable_and_a_break_scores_high() -> None:
    detector = ContextOseDetector(min_value=0.0, max_value=7.0, rest_period=5)
    scores = detector.score_learn_many([float(i % 4) for i in range(300)] + [7.0]).tolist()
    assert max(scores[100:300]) < 0.5
    assert scores[300] >= 0.75


def test_score_one_leaves_the_state_alone_and_matches_the_learning_score() -> None:
    values = series(3000)
    detector = ContextOseDetector(min_value=min(values), max_value=max(values), rest_period=60)
    detector.learn_many(values[:2000])
    blob = detector.checkpoint()
    for v in values[2000:2600]:
        # Scoring alone (also of a value off the range) neither learns nor disturbs the next step.
        probe = detector.score_one(v)
        detector.score_one(v + 3.0)
        assert detector.score_learn_one(v) == probe
    # The probes changed nothing: the run equals an uninterrupted one, and so does a restore.
    fresh = ContextOseDetector(min_value=min(values), max_value=max(values), rest_period=60)
    expected = fresh.score_learn_many(values[:2600]).tolist()[2000:]
    assert restore(blob).score_learn_many(values[2000:2600]).tolist() == expected


def test_infinite_values_are_treated_as_missing() -> None:
    values = series(500)
    a = ContextOseDetector(min_value=min(values), max_value=max(values))
    b = ContextOseDetector(min_value=min(values), max_value=max(values))
    with_inf = [*values[:250], math.inf, -math.inf, *values[250:]]
    scores = a.score_learn_many(with_inf).tolist()
    assert scores[250:252] == [0.0, 0.0]
    assert scores[:250] + scores[252:] == b.score_learn_many(values).tolist()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_value": 1.0, "max_value": 0.0},
        {"min_value": 0.0, "max_value": math.inf},
        {"min_value": 0.0, "max_value": 1.0, "rest_period": 0.5},
        {"min_value": 0.0, "max_value": 1.0, "max_active_neurons": 0},
        {"min_value": 0.0, "max_value": 1.0, "num_norm_value_bits": 0},
    ],
)
def test_invalid_hyperparameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ContextOseDetector(**kwargs)  # type: ignore[arg-type]
