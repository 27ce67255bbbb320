"""Gradient-boosting RUL baseline: LightGBM on summary features of each window.

The same windows as the neural model, summarised per feature by the last value, the mean,
the standard deviation and the least-squares slope over the window; trained with early
stopping on the validation units. A reference row that shows what trees get from the same data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ifactory.analytics.rul.config import TrainConfig

PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 100


def window_summary(windows: np.ndarray) -> np.ndarray:
    """Per feature: last value, mean, standard deviation and slope per cycle (n × 4·features)."""
    if windows.ndim != 3:
        raise ValueError("windows must be n × window × features")
    length = windows.shape[1]
    t = np.arange(length, dtype=float) - (length - 1) / 2.0
    denominator = float((t**2).sum()) or 1.0
    slope = np.einsum("t,ntf->nf", t, windows) / denominator
    return np.hstack([windows[:, -1], windows.mean(1), windows.std(1), slope]).astype(np.float32)


@dataclass
class BoostedRul:
    """A trained LightGBM RUL regressor and its training record."""

    booster: Any
    cap: float
    seed: int
    best_iteration: int
    rounds: int
    val_rmse: float
    seconds: float

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Predicted RUL in cycles for windows, within [0, cap]."""
        raw = self.booster.predict(window_summary(windows), num_iteration=self.best_iteration)
        predictions: np.ndarray = np.clip(np.asarray(raw, dtype=float), 0.0, self.cap)
        return predictions


def train_boosted(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    config: TrainConfig,
    *,
    seed: int,
) -> BoostedRul:
    """Fit LightGBM on window summaries; stop when validation RMSE has not improved for 100 rounds."""
    import lightgbm as lgb

    started = time.perf_counter()
    params = {**PARAMS, "seed": seed, "num_threads": config.threads}
    train_set = lgb.Dataset(window_summary(train_x), label=train_y)
    val_set = lgb.Dataset(window_summary(val_x), label=val_y, reference=train_set)
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[val_set],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    best = int(booster.best_iteration) or MAX_ROUNDS
    pred = np.clip(booster.predict(window_summary(val_x), num_iteration=best), 0.0, config.cap)
    val_rmse = float(np.sqrt(np.mean((pred - val_y) ** 2)))
    return BoostedRul(
        booster=booster,
        cap=config.cap,
        seed=seed,
        best_iteration=best,
        rounds=int(booster.current_iteration()),
        val_rmse=val_rmse,
        seconds=time.perf_counter() - started,
    )
