"""Training: features collected as the estimator builds them, labelled from failures, per class."""

from __future__ import annotations

import numpy as np

from ifactory.analytics.prognostics.features import HOUR_US
from ifactory.analytics.prognostics.labels import Failure
from ifactory.analytics.prognostics.training import (
    ClassData,
    FeatureCollector,
    add_run,
    train_classes,
)

from .helpers import DOWN, EXECUTING, STATE, VIB, MinuteSource, machine

H = HOUR_US
FAILURES = (150, 330, 520)  # hours; vibration climbs over the 60 h before each


def _value(tag: int, minute: int) -> float:
    hour = minute / 60.0
    failed = any(f <= hour < f + 2 for f in FAILURES)
    if tag == STATE:
        return DOWN if failed else EXECUTING
    if tag == VIB:
        ramp = max((1.0 - (f - hour) / 60.0 for f in FAILURES if f - 60 <= hour < f), default=0.0)
        return 2.0 + 5.0 * ramp**2
    return 50.0


class Labels:
    def failures(self, start_us: int, end_us: int) -> list[Failure]:
        return [
            Failure("site/line/m1", f * H, "bearing_wear", True, (f - 60) * H, (f + 2) * H)
            for f in FAILURES
            if start_us <= f * H < end_us
        ]


def test_a_class_model_learns_that_rising_vibration_means_little_life_left() -> None:
    m = machine()
    collector = FeatureCollector([m], start_us=0)
    source = MinuteSource(_value)
    for day in range(1, 26):
        collector.collect(source, day * 24 * H)
    end = 25 * 24 * H
    data: dict[str, ClassData] = {}
    add_run(data, collector, Labels(), data_end_us=end, cap_h=120.0)
    assert data["mill"].failures == 3 and data["mill"].failures_with_precursor == 3
    x, y = data["mill"].arrays()
    assert len(x) == len(y) > 400 and y.min() < 5 and y.max() == 120.0
    models = train_classes(data, cap_h=120.0)
    model, metrics = models["mill"]
    assert metrics["failures"] == 3 and metrics["machines"] == ["site/line/m1"]
    hours = np.array([h for h, _ in collector.rows[m.machine_id]])
    feats = np.vstack([f for _, f in collector.rows[m.machine_id]])
    q = model.predict(feats)
    near = q[hours == 328 - 1, 1][0]  # 2 h before the failure at 330 h
    far = q[hours == 250, 1][0]  # 80 h before it, before the wear shows
    assert near < 40 < far
