"""Dynamic PCA T²+Q detector: scale, the Q statistic, lags, and the gated slow baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ifactory.analytics.detectors.pca import PcaT2QDetector


def correlated(n: int, seed: int = 0) -> np.ndarray:
    """Three sensors: b follows a closely, c is independent."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return np.column_stack([a, a + 0.1 * rng.normal(size=n), rng.normal(size=n)])


def test_unsmoothed_score_is_about_one_on_normal_data() -> None:
    # T²/k and Q/θ₁ both have mean 1 under the training distribution (Jackson & Mudholkar 1979).
    d = PcaT2QDetector(smoothing=1.0, freeze_after=2000, grace=10)
    d.learn_many(correlated(2000))
    scores = d.score_many(correlated(2000, seed=1))
    assert float(np.mean(scores)) == pytest.approx(1.0, abs=0.15)


def test_q_flags_a_broken_correlation_that_t2_alone_would_accept() -> None:
    d = PcaT2QDetector(smoothing=1.0, variance=0.9, freeze_after=1000, grace=10)
    d.learn_many(correlated(1000))
    along = d.score_one([1.5, 1.5, 0.0])  # a and b move together: normal direction
    against = d.score_one([1.5, -1.5, 0.0])  # same ranges, relation broken
    assert against > 20 * along


def test_lags_see_a_change_of_dynamics_with_the_same_marginal_distribution() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    ar = np.zeros(n)
    for t in range(1, n):  # AR(1), phi 0.9, unit variance
        ar[t] = 0.9 * ar[t - 1] + math.sqrt(1 - 0.81) * rng.normal()
    white = rng.normal(size=1000)  # same variance, no memory
    train = np.column_stack([ar, rng.normal(size=n)])
    test = np.column_stack([white, rng.normal(size=1000)])

    def excess(lags: int) -> float:
        d = PcaT2QDetector(lags=lags, smoothing=1.0, freeze_after=n, grace=10)
        d.learn_many(train)
        return float(np.mean(d.score_learn_many(test)))

    assert excess(0) == pytest.approx(1.0, abs=0.2)
    assert excess(2) > 2.0


def test_slow_baseline_forgives_drift_of_a_tracked_feature_only() -> None:
    rng = np.random.default_rng(4)
    train = rng.normal(size=(400, 2))
    test = rng.normal(size=(600, 2))
    test[:, 0] += np.linspace(0.0, 10.0, 600)  # a slow 10 SD drift, like a warming thermocouple
    params = dict(features=["t", "f"], smoothing=0.1, freeze_after=400, grace=10)
    frozen = PcaT2QDetector(**params)  # type: ignore[arg-type]
    tracking = PcaT2QDetector(**params, track=0.05, tracked=["t"])  # type: ignore[arg-type]
    for d in (frozen, tracking):
        d.learn_many(train)
    assert frozen.score_learn_many(test)[-100:].mean() > 10.0
    assert tracking.score_learn_many(test)[-100:].mean() < 3.0
    # a step in the untracked feature still shows
    step = rng.normal(size=(100, 2)) + np.array([0.0, 6.0])
    assert tracking.score_learn_many(step)[-50:].mean() > 10.0


def test_gate_stops_the_baseline_from_absorbing_a_fault() -> None:
    rng = np.random.default_rng(5)
    train = rng.normal(size=(400, 2))
    fault = rng.normal(size=(300, 2)) + np.array([8.0, 0.0])  # a lasting step in a tracked one
    params = dict(features=["t", "f"], smoothing=0.1, freeze_after=400, grace=10, track=0.05)
    free = PcaT2QDetector(**params, gate=math.inf)  # type: ignore[arg-type]
    gated = PcaT2QDetector(**params, gate=5.0)  # type: ignore[arg-type]
    for d in (free, gated):
        d.learn_many(train)
    assert free.score_learn_many(fault)[-50:].mean() < 3.0
    assert gated.score_learn_many(fault)[-50:].mean() > 10.0


def test_invalid_hyperparameters_are_refused() -> None:
    for bad in ({"lags": -1}, {"variance": 1.0}, {"smoothing": 0.0}, {"track": 1.0}):
        with pytest.raises(ValueError):
            PcaT2QDetector(**bad)


def test_fresh_stream_keeps_the_model_and_restarts_lags_baseline_and_level() -> None:
    d = PcaT2QDetector(lags=2, freeze_after=300, grace=10, track=0.05, tracked=["x0"])
    d.learn_many(correlated(300))
    fresh = d.fresh_stream()
    assert np.array_equal(fresh.mean, d.mean) and fresh.n == d.n
    assert fresh.filled == 0 and fresh.seen == 0 and fresh.level == 0.0
    xs = correlated(50, seed=9)
    # the first `lags` samples only fill the buffer; the original is left untouched
    assert fresh.score_learn_many(xs)[:2].tolist() == [0.0, 0.0]
    assert d.filled == 2 and d.seen == 300
