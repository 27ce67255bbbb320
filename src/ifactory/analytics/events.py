"""Events the anomaly detection publishes (through the outbox)."""

from __future__ import annotations

from typing import ClassVar

from ifactory.core.events import Event


class AnomalyDetected(Event):
    """A machine's behaviour left what its detectors learnt: an alert was raised.

    `score` and `threshold` are the raw values of the detector that crossed (`detector`, on
    `tags`); the evidence window is the excursion with some normal data before it, in source
    time (UTC µs), so the raw data of `tags` over it shows what was seen.
    """

    type: ClassVar[str] = "anomaly.detected"
    alert_id: int
    machine_id: int
    machine_key: str
    tag_ids: list[int]
    tags: list[str]  # tag keys, as the connectors and the historian know them
    detector: str
    score: float
    threshold: float
    window_start_us: int
    window_end_us: int
    detected_at_us: int


class AlertAcknowledged(Event):
    """Someone took note of an anomaly alert (it stays open until the behaviour returns to normal)."""

    type: ClassVar[str] = "anomaly.alert_acknowledged"
    alert_id: int
    machine_id: int
    by: str
    comment: str


class AlertCleared(Event):
    """Every detector of the machine returned below its clear level: the alert closed."""

    type: ClassVar[str] = "anomaly.alert_cleared"
    alert_id: int
    machine_id: int
    cleared_at_us: int
    peak_score: float
