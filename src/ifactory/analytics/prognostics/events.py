"""Events the failure prediction publishes (through the outbox)."""

from __future__ import annotations

from typing import ClassVar

from ifactory.core.events import Event


class FailurePredicted(Event):
    """A machine's predicted time to failure dropped below the horizon: plan the repair.

    Published once per alarm episode (hysteresis): again only after the prediction went back
    above the release level, or the machine was repaired. `rul_h` is the median estimate and
    `low_h`/`high_h` the band (10 % / 90 % quantiles), in hours from `estimated_at_us` (the
    data time of the estimate, UTC µs). `signals` are the features that pulled the median down
    most (feature name, hours), read from the model's contributions.
    """

    type: ClassVar[str] = "prognostics.failure_predicted"
    machine_id: int
    machine_key: str
    machine_class: str
    estimated_at_us: int
    rul_h: float
    low_h: float
    high_h: float
    predicted_failure_us: int
    horizon_h: float
    signals: list[tuple[str, float]]
    model_name: str
    model_version: int
