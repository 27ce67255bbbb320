"""RMSE and the PHM08 score on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from ifactory.analytics.rul.metrics import phm08_score, rmse


def test_phm08_penalises_a_late_prediction_more_than_an_equally_early_one() -> None:
    # d = +10 (10 cycles late): e^(10/10) − 1; d = −13 (13 cycles early): e^(13/13) − 1.
    assert phm08_score([110.0], [100.0]) == pytest.approx(math.e - 1)
    assert phm08_score([87.0], [100.0]) == pytest.approx(math.e - 1)
    assert phm08_score([120.0], [100.0]) > phm08_score([80.0], [100.0])


def test_phm08_sums_per_unit_terms_and_is_zero_for_exact_predictions() -> None:
    predicted = [50.0, 20.0, 30.0]
    true = [50.0, 40.0, 10.0]  # d = 0, −20, +20
    expected = 0.0 + (math.exp(20 / 13) - 1) + (math.exp(20 / 10) - 1)
    assert phm08_score(predicted, true) == pytest.approx(expected)
    assert phm08_score(true, true) == 0.0


def test_rmse_of_known_errors() -> None:
    assert rmse([103.0, 96.0], [100.0, 100.0]) == pytest.approx(math.sqrt((9 + 16) / 2))


@pytest.mark.parametrize(
    ("predicted", "true"), [([1.0], [1.0, 2.0]), ([], []), ([float("nan")], [1.0])]
)
def test_metrics_refuse_mismatched_empty_or_non_finite_input(
    predicted: list[float], true: list[float]
) -> None:
    with pytest.raises(ValueError):
        rmse(predicted, true)
    with pytest.raises(ValueError):
        phm08_score(predicted, true)
