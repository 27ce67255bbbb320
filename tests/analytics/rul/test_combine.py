"""Per-seed averaging of several models (the multi-window LightGBM row) on test and validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ifactory.analytics.eval.cmapss import CmapssResult, SeedResult, average


def _result(offset: float, seed: int = 0, cuts: int = 1) -> CmapssResult:
    truth = np.array([50.0, 100.0])
    p = truth + offset
    seed_result = SeedResult(
        seed=seed,
        rmse=abs(offset),
        score=0.0,
        rmse_uncapped=0.0,
        score_uncapped=0.0,
        val_rmse=abs(offset),
        best_epoch=1,
        epochs_run=1,
        seconds=2.0,
        stopped_by_time=False,
        predictions=p,
        val_predictions=np.full(cuts, 20.0 + offset),
        val_truth=np.full(cuts, 20.0),
    )
    return CmapssResult("FD001", 2, 2, 1, ["s2"], "lightgbm", 0, truth, [seed_result])


def test_average_of_opposite_errors_is_exact_on_test_and_validation() -> None:
    mean = average([_result(-6.0), _result(0.0), _result(6.0)])
    assert mean.rmse[0] == pytest.approx(0.0)
    assert mean.val_rmse[0] == pytest.approx(0.0) and mean.val_score[0] == pytest.approx(0.0)
    assert mean.seeds[0].seconds == pytest.approx(6.0)  # the members' training times add up
    two = average([_result(-6.0), _result(12.0)])  # mean error +3 cycles
    assert two.rmse[0] == pytest.approx(3.0) and two.val_rmse[0] == pytest.approx(3.0)
    assert two.seeds[0].score == pytest.approx(np.expm1(0.3) * 2)  # PHM08: late by 3, a = 10


def test_average_of_one_result_is_that_result_and_mismatches_are_refused() -> None:
    single = _result(4.0)
    assert average([single]) is single
    with pytest.raises(ValueError):
        average([])
    with pytest.raises(ValueError):
        average([_result(1.0, seed=0), _result(1.0, seed=1)])  # different splits
    with pytest.raises(ValueError):
        average([_result(1.0, cuts=1), _result(1.0, cuts=2)])  # different validation cuts


def test_averaging_keeps_the_results_metadata() -> None:
    a = _result(2.0)
    b = dataclasses.replace(_result(-2.0), parameters=0)
    mean = average([a, b])
    assert (mean.subset, mean.architecture, mean.features) == ("FD001", "lightgbm", ["s2"])
    np.testing.assert_allclose(mean.ensemble_predictions, [50.0, 100.0])
