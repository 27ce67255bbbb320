"""Events the quality domain publishes (through the outbox)."""

from __future__ import annotations

from typing import ClassVar

from ifactory.core.events import Event


class QualityDriftDetected(Event):
    """An SPC rule fired on a characteristic: which rule, where, and the points of the pattern."""

    type: ClassVar[str] = "quality.drift"
    characteristic_id: int
    characteristic: str
    product_code: str
    rule: str
    rule_description: str
    ts_us: int  # the point where the rule fired
    value: float
    points_ts_us: list[int]
    points: list[float]
    machine_id: int | None = None


class LotHeld(Event):
    """A lot was put on quality hold."""

    type: ClassVar[str] = "quality.lot_held"
    hold_id: int
    lot_code: str
    reason: str


class LotHoldClosed(Event):
    """A hold ended: released, scrapped or sent to rework."""

    type: ClassVar[str] = "quality.lot_hold_closed"
    hold_id: int
    lot_code: str
    outcome: str


class NonConformanceRaised(Event):
    """A non-conformance report was opened."""

    type: ClassVar[str] = "quality.nonconformance_raised"
    ncr_id: int
    title: str
    severity: str
    lot_code: str | None = None
