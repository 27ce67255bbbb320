"""The LightGBM window-summary baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ifactory.analytics.rul.boosting import train_boosted, window_summary
from ifactory.analytics.rul.cmapss import load_subset
from ifactory.analytics.rul.config import TrainConfig
from ifactory.analytics.rul.features import FeatureSpec
from ifactory.analytics.rul.metrics import rmse
from ifactory.analytics.rul.preprocess import fit_normaliser
from ifactory.analytics.rul.windows import last_window, training_windows
from tests.analytics.rul.synthetic import write_subset


def test_window_summary_is_last_mean_std_and_slope_per_feature() -> None:
    ramp = np.arange(5, dtype=float)  # 0, 1, 2, 3, 4: slope 1 per cycle
    windows = np.stack([ramp, np.full(5, 7.0)], axis=1)[None]  # 1 window × 5 cycles × 2 features
    last, mean, std, slope = np.split(window_summary(windows)[0], 4)
    assert last.tolist() == [4.0, 7.0]
    assert mean.tolist() == [2.0, 7.0]
    assert std.tolist() == pytest.approx([np.std(ramp), 0.0])
    assert slope.tolist() == pytest.approx([1.0, 0.0])


def test_boosted_baseline_beats_a_constant_prediction(tmp_path: Path) -> None:
    pytest.importorskip("lightgbm")
    write_subset(tmp_path, "FD001", train_units=24, test_units=12, seed=3)
    subset = load_subset(tmp_path, "FD001")
    config = TrainConfig(window=20, threads=1)
    norm = fit_normaliser(subset.train[:18])
    spec = FeatureSpec()
    x, y = training_windows([spec.build(u, norm) for u in subset.train[:18]], 20)
    vx, vy = training_windows([spec.build(u, norm) for u in subset.train[18:]], 20)
    model = train_boosted(x, y, vx, vy, config, seed=0)
    test_x = np.stack([last_window(spec.build(u, norm), 20) for u in subset.test])
    truth = np.minimum(subset.test_rul, config.cap)
    predictions = model.predict(test_x)
    assert rmse(predictions, truth) < 0.6 * rmse(np.full_like(truth, float(y.mean())), truth)
    assert 1 <= model.best_iteration <= model.rounds
