"""Mahalanobis detector: the per-feature wander widens only the features that wander."""

from __future__ import annotations

import numpy as np
import pytest

from ifactory.analytics.detectors.multivariate import MahalanobisDetector


def test_wander_forgives_drift_in_a_wandering_feature_but_not_in_a_steady_one() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(400, 2))
    drifted = np.array([3.0, 0.0])  # 3 SD on the wandering feature
    jumped = np.array([0.0, 3.0])  # 3 SD on the steady one
    plain = MahalanobisDetector(features=["a", "b"], smoothing=1.0, freeze_after=400, grace=10)
    wide = plain.clone(drift_sd=[2.0, 0.0])
    for d in (plain, wide):
        d.learn_many(train)
    assert wide.score_one(drifted) < plain.score_one(drifted) / 3
    assert wide.score_one(jumped) == pytest.approx(plain.score_one(jumped), rel=0.05)


def test_drift_sd_needs_one_value_per_feature() -> None:
    with pytest.raises(ValueError):
        MahalanobisDetector(features=["a", "b"], drift_sd=[1.0])
