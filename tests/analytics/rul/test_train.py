"""The neural RUL model learns degradation on a small synthetic fleet (a smoke test, seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from ifactory.analytics.rul.cmapss import load_subset
from ifactory.analytics.rul.config import TrainConfig
from ifactory.analytics.rul.features import FeatureSpec
from ifactory.analytics.rul.metrics import rmse
from ifactory.analytics.rul.preprocess import fit_normaliser
from ifactory.analytics.rul.train import train_rul
from ifactory.analytics.rul.windows import last_window, training_windows
from tests.analytics.rul.synthetic import write_subset

SMALL = TrainConfig(architecture="cnn", window=20, width=16, epochs=8, patience=8, threads=1)


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    write_subset(tmp_path, "FD001", train_units=24, test_units=12, seed=3)
    subset = load_subset(tmp_path, "FD001")
    norm = fit_normaliser(subset.train[:18])
    spec = FeatureSpec()
    fit = [spec.build(u, norm) for u in subset.train[:18]]
    val = [spec.build(u, norm) for u in subset.train[18:]]
    test_x = np.stack([last_window(spec.build(u, norm), SMALL.window) for u in subset.test])
    return fit, val, test_x, np.minimum(subset.test_rul, SMALL.cap)


@pytest.mark.parametrize("architecture", ["cnn", "transformer", "cnn-attention", "dual-attention"])
def test_trained_model_beats_a_constant_prediction_on_unseen_units(
    fleet: tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray], architecture: str
) -> None:
    fit, val, test_x, truth = fleet
    # One attention layer per aspect keeps the dual-attention case as fast as the others.
    layers = 1 if architecture == "dual-attention" else SMALL.layers
    config = TrainConfig(**{**SMALL.to_dict(), "architecture": architecture, "layers": layers})
    x, y = training_windows(fit, config.window, cap=config.cap)
    vx, vy = training_windows(val, config.window, cap=config.cap)
    trained = train_rul(x, y, vx, vy, config, seed=0)
    predictions = trained.predict(test_x)
    constant = rmse(np.full_like(truth, float(y.mean())), truth)
    assert rmse(predictions, truth) < 0.6 * constant
    assert predictions.min() >= 0 and predictions.max() <= config.cap
    assert 1 <= trained.best_epoch <= trained.epochs_run


def test_same_seed_gives_the_same_model(
    fleet: tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray],
) -> None:
    fit, val, test_x, _ = fleet
    config = TrainConfig(**{**SMALL.to_dict(), "epochs": 2})
    x, y = training_windows(fit, config.window)
    vx, vy = training_windows(val, config.window)
    first = train_rul(x, y, vx, vy, config, seed=5).predict(test_x)
    second = train_rul(x, y, vx, vy, config, seed=5).predict(test_x)
    np.testing.assert_allclose(first, second, rtol=1e-5)
