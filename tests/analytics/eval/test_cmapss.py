"""The C-MAPSS protocol: unit split, seed statistics, ensemble, published table."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from ifactory.analytics.eval.cmapss import (
    CmapssResult,
    SeedResult,
    blend,
    load_published,
    split_units,
    truncated_validation,
)


def _seed(seed: int, predictions: list[float], truth: np.ndarray) -> SeedResult:
    p = np.array(predictions)
    d = p - truth
    return SeedResult(
        seed=seed,
        rmse=float(np.sqrt(np.mean(d**2))),
        score=float(np.sum(np.where(d < 0, np.expm1(-d / 13), np.expm1(d / 10)))),
        rmse_uncapped=0.0,
        score_uncapped=0.0,
        val_rmse=0.0,
        best_epoch=1,
        epochs_run=1,
        seconds=1.0,
        stopped_by_time=False,
        predictions=p,
    )


def test_validation_units_are_a_fifth_disjoint_and_change_with_the_seed() -> None:
    fit, val = split_units(100, 0.2, seed=0)
    assert len(val) == 20 and len(fit) == 80
    assert set(fit).isdisjoint(val) and set(fit) | set(val) == set(range(100))
    assert set(split_units(100, 0.2, seed=1)[1]) != set(val)
    assert np.array_equal(split_units(100, 0.2, seed=0)[1], val)
    with pytest.raises(ValueError):
        split_units(1, 0.2, seed=0)


def test_mean_sd_over_seeds_and_ensemble_of_predictions() -> None:
    truth = np.array([50.0, 100.0])
    # Seed 0 is 10 early on both units, seed 1 is 10 late: the ensemble is exact.
    seeds = [_seed(0, [40.0, 90.0], truth), _seed(1, [60.0, 110.0], truth)]
    result = CmapssResult("FD001", 2, 2, 1, ["s2"], "cnn", 10, truth, seeds)
    mean, sd = result.rmse
    assert mean == pytest.approx(10.0) and sd == pytest.approx(0.0)
    score_mean, score_sd = result.score
    early, late = 2 * math.expm1(10 / 13), 2 * math.expm1(1.0)
    assert score_mean == pytest.approx((early + late) / 2)
    assert score_sd == pytest.approx(abs(late - early) / math.sqrt(2))
    assert result.ensemble_rmse == pytest.approx(0.0)
    assert result.ensemble_score == pytest.approx(0.0)


def test_published_results_come_from_the_csv_for_the_subset(tmp_path: Path) -> None:
    (tmp_path / "cmapss_published_results.csv").write_text(
        "Method,year,FD001_RMSE,FD001_Score,FD002_RMSE,FD002_Score\n"
        "CNN,2016,18.45,1286.7,30.29,13570\n"
        "DAST,2022,11.43,203.15,,\n"
    )
    fd002 = load_published(tmp_path, "FD002")
    assert [(p.method, p.rmse, p.score) for p in fd002] == [("CNN (2016)", 30.29, 13570.0)]
    assert [p.method for p in load_published(tmp_path, "FD001")] == ["CNN (2016)", "DAST (2022)"]


def test_without_a_csv_fd001_falls_back_to_the_issue_figures(tmp_path: Path) -> None:
    rows = load_published(tmp_path, "FD001")
    assert rows[-1].rmse == 11.43 and rows[-1].score == 203.15
    assert load_published(tmp_path, "FD004") == []


def test_truncated_validation_scores_the_last_cycle_of_random_cuts_like_the_test_set() -> None:
    # One feature = the cycle number, so each window's last value says where the cut is.
    units = [np.arange(1, n + 1, dtype=float)[:, None] for n in (200, 150, 40)]
    x, y = truncated_validation(units, 30, cuts=10, seed=3, cap=125.0, min_history=31)
    assert x.shape == (30, 30, 1) and y.shape == (30,)
    lives = np.repeat([200, 150, 40], 10)
    observed = x[:, -1, 0]
    assert np.all(observed >= 31) and np.all(observed <= lives - 1)
    assert np.array_equal(y, np.minimum(lives - observed, 125.0))  # RUL at the cut, capped
    assert len(set(observed[:10])) > 1  # several distinct cuts per unit
    again, _ = truncated_validation(units, 30, cuts=10, seed=3, cap=125.0, min_history=31)
    other, _ = truncated_validation(units, 30, cuts=10, seed=4, cap=125.0, min_history=31)
    assert np.array_equal(again, x) and not np.array_equal(other, x)
    with pytest.raises(ValueError):
        truncated_validation(units, 30, cuts=0, seed=0)


def test_blend_mixes_the_two_models_per_seed_on_test_and_validation() -> None:
    truth = np.array([50.0, 100.0])

    def result(offset: float, architecture: str) -> CmapssResult:
        seed = dataclasses.replace(
            _seed(0, list(truth + offset), truth),
            val_predictions=np.array([20.0 + offset]),
            val_truth=np.array([20.0]),
        )
        return CmapssResult("FD001", 2, 2, 1, ["s2"], architecture, 10, truth, [seed])

    early, late = result(-10.0, "cnn"), result(10.0, "lightgbm")
    mixed = blend(early, late, 0.5)
    assert mixed.rmse[0] == pytest.approx(0.0) and mixed.val_rmse[0] == pytest.approx(0.0)
    quarter = blend(early, late, 0.25)  # 0.25·(−10) + 0.75·(+10) = +5 cycles late
    assert quarter.rmse[0] == pytest.approx(5.0) and quarter.val_rmse[0] == pytest.approx(5.0)
    assert quarter.val_score[0] == pytest.approx(math.expm1(0.5))
    with pytest.raises(ValueError):
        blend(early, late, 1.5)
